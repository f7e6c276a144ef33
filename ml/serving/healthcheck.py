"""`python -m ml.serving.healthcheck`: the image's Docker HEALTHCHECK.

Exit 0 when the container is healthy: in a serving container (PID 1 runs `serve`),
when `GET /ping` answers 200 on the configured port; a training container has nothing
to probe and is reported healthy. Exit 1 otherwise. SageMaker and Kubernetes use
their own probes on /ping; this one serves `docker run` and Compose users.
"""

from __future__ import annotations

import http.client
import os
import sys
from pathlib import Path

PID1_CMDLINE = Path("/proc/1/cmdline")


def serving(cmdline: bytes) -> bool:
    """Whether PID 1's argv (NUL-separated) is the server: `... serve ...`."""
    arguments = [part for part in cmdline.split(b"\0") if part]
    return b"serve" in arguments or any(part.endswith(b"ml.serving") for part in arguments)


def check(port: int, timeout: float = 2.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main() -> int:
    try:
        cmdline = PID1_CMDLINE.read_bytes()
    except OSError:
        cmdline = b"serve"
    if not serving(cmdline):
        return 0
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or 8080)
    return 0 if check(port) else 1


if __name__ == "__main__":
    sys.exit(main())
