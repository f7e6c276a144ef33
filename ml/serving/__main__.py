"""`python -m ml.serving`: the server with settings from the environment only.

The same server as `mlops serve`, without loading the rest of the CLI; the canary
rehearsal and the tests start their server processes this way.
"""

from __future__ import annotations

import logging.config
import os
import sys

from common.errors import MlopsError
from ml.serving.server import run
from ml.serving.settings import server_settings
from ml.serving.telemetry import LOG_CONFIG


def main() -> int:
    logging.config.dictConfig(LOG_CONFIG)
    try:
        settings = server_settings(os.environ)
    except (MlopsError, ValueError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
