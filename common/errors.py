"""The one exception type every `mlops` command raises for a user-facing failure."""


class MlopsError(Exception):
    """A failure the user can act on; the CLI prints its message as one line.

    `exit_code` follows the convention the scheduled jobs rely on: 1 means the check ran
    and found a problem (a failed gate, drift, a tampered artifact); 2 means bad input.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class CheckFailed(MlopsError):
    """A check ran and found a problem (exit 1 unless said otherwise).

    It carries the `result` the check produced, so a command can still print its table or
    write its report before it fails with the one line, and a caller that is not the CLI
    (the demo) fails on exactly the same checks."""

    exit_code = 1

    def __init__(self, message: str, result: object, exit_code: int | None = None):
        super().__init__(message, exit_code)
        self.result = result
