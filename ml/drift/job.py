"""`python -m ml.drift.job`: the drift comparison as a SageMaker Processing job's command.

The job runs network-isolated: SageMaker has downloaded the reference channel (with its
statistics and schema) and the window's captures into `/opt/ml/processing/input/...`,
and uploads `/opt/ml/processing/output/report` when the command ends; the command makes
no AWS call. It writes drift.md / drift.json / drift.html and exits 0 whether or not
drift was found (the launcher reads drift.json, `ml.drift.processing`); bad input exits 2
with its one line in `/opt/ml/output/message` (the job's `ExitMessage`).

Arguments: `<reference file> <current dir> <report dir> <thresholds JSON>
[<categorical>,...] [<exclude>,...]`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONTAINER_ROOT = "MLOPS_CONTAINER_ROOT"
"""Set by the emulator only: where the container's `/` is (its instance directory)."""
MESSAGE = "opt/ml/output/message"
"""Where a processing container leaves its ExitMessage, below the container's root."""


def main(argv: list[str]) -> int:
    message = Path(os.environ.get(CONTAINER_ROOT, "/"), MESSAGE)
    from common.errors import MlopsError
    from ml.drift.monitor import Inputs, run_drift
    from ml.params import DriftParams

    try:
        reference, current, out, thresholds, *rest = argv
        categorical, exclude = ([*rest, "", ""][i].split(",") for i in (0, 1))
        inputs = Inputs(
            reference,
            current,
            [c for c in categorical if c],
            [e for e in exclude if e],
            thresholds=DriftParams.model_validate(json.loads(thresholds)),
        )

        def no_aws() -> None:
            raise MlopsError("the processing job reads local inputs only")

        run = run_drift(inputs, Path(out), no_aws)
    except (MlopsError, ValueError) as error:
        line = " ".join(str(error).split()) or type(error).__name__
        message.parent.mkdir(parents=True, exist_ok=True)
        message.write_text(line[:1024], encoding="utf-8")
        print(f"error: {line}", file=sys.stderr)
        return 2
    drifted = run.result.drifted
    summary = f"{len(drifted)} of {len(run.result.features)} features drifted"
    message.parent.mkdir(parents=True, exist_ok=True)
    message.write_text(summary, encoding="utf-8")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
