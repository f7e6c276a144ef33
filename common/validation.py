"""A pydantic `ValidationError` as the one line a user reads: what is wrong, where, and
what to do. Every settings file the project reads (stack files, the GitHub and bootstrap
programs' config, params.yaml, waivers, serving settings) reports through `one_line`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import ValidationError

WORDING = {
    "missing": "{key}: required key is missing",
    "unknown": "{key}: unknown key; check the spelling",
    "rule": "{key}: {message}",
    "invalid": "{key}: invalid value {value}: {message}",
}
"""The sentence for each kind of problem, a `str.format` template over `key` (what
`key` made of the location), `path` (the dotted location), `message` (pydantic's, or a
validator's, without the "Value error, " prefix), `value` (the input as JSON), `more`
(" (and N more problems)" or ""), `source` (the caller's, e.g. a file name) and
`continued` (`key` of the location plus the message, for a rule whose message starts
with a key path relative to its model)."""


def dotted(location: Sequence[str]) -> str:
    return ".".join(location) or "(top level)"


def one_line(
    error: ValidationError,
    key: Callable[[Sequence[str]], str] = dotted,
    source: str = "",
    **wording: str,
) -> str:
    """The first problem of `error` in `WORDING`'s sentences (a caller may reword a kind).

    An unknown key is reported first: a misspelt key also makes the intended one missing,
    and the typo is the cause. A `rule` is a model validator's error (its input is the
    whole mapping, so there is no one value to show).
    """
    problems = sorted(error.errors(), key=lambda problem: problem["type"] != "extra_forbidden")
    first = problems[0]
    location = [str(part) for part in first["loc"]]
    value = first.get("input")
    message = first["msg"].removeprefix("Value error, ")
    kind = {"missing": "missing", "extra_forbidden": "unknown"}.get(first["type"], "invalid")
    if kind == "invalid" and first["type"] == "value_error" and isinstance(value, dict):
        kind = "rule"
    more = len(problems) - 1
    return {**WORDING, **wording}[kind].format(
        key=key(location),
        path=".".join(location),
        message=message,
        value="{...}" if isinstance(value, dict) else json.dumps(value, default=str),
        source=source,
        more=f" (and {more} more problem{'s' if more > 1 else ''})" if more else "",
        continued=key([*location, message]),
    )
