"""The embedded AWS emulator: moto's server in this process, on a loopback port.

It stands in for S3, KMS, IAM, STS and the SageMaker registry when there is no AWS
account (`make demo`, tests where several processes share AWS state, anyone poking at
`mlops emulator`). Clients reach it through the standard `AWS_ENDPOINT_URL`, so the
product code is the same as against AWS; moto's gaps are fixed in
`ml.emulator.patches`, installed before the server starts, and training jobs really
train (`ml.emulator.training`, `Emulator.training`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from common.errors import MlopsError

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from ml.emulator import processing, training

HOST = "127.0.0.1"
DEFAULT_REGION = "eu-west-1"
# The administrator's credentials (the account root, standing in for `pulumi up`): never
# checked by IAM enforcement; they make clear in logs that nothing real is used.
ADMINISTRATOR_KEY = "emulator"
"""The administrator's access key id: the account root to the emulator, never checked."""
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": ADMINISTRATOR_KEY, "AWS_SECRET_ACCESS_KEY": "emulator"}


class Emulator:
    """`with Emulator() as emu:` starts moto on 127.0.0.1 and stops it on exit.

    `enforce_iam`: authorise every call of a role on its action, resource and conditions
    (`ml.emulator.iam`); the administrator's credentials are never checked."""

    def __init__(self, port: int = 0, region: str = DEFAULT_REGION, enforce_iam: bool = False):
        if not 0 <= port <= 65535:
            raise MlopsError(f"port {port}: choose 1-65535, or 0 for any free port")
        self._requested_port = port
        self.region = region
        self.enforce_iam = enforce_iam
        self._server: ThreadedMotoServer | None = None
        self.port: int | None = None
        self.training: training.TrainingJobs | None = None
        """Runs the training jobs created here; `interrupt_next_job()` rehearses spot."""
        self.processing: processing.ProcessingJobs | None = None
        """Runs the processing jobs created here (`mlops drift --on sagemaker`)."""

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{HOST}:{self.port}"

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (in this or a child process) at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **FAKE_CREDENTIALS,
        }

    def start(self, timeout: float = 15.0) -> str:
        """Start the server with no AWS state and return its endpoint once it answers.

        moto keeps its backends per process, not per server: a second emulator in the
        same process (tests, a second demo) would find the first one's keys, buckets and
        packages, so the state is reset before the endpoint is handed out."""
        from moto.server import ThreadedMotoServer  # moto loads here, not with the module

        from ml.emulator import iam, patches, processing, training

        patches.apply()
        iam.set_enforcing(self.enforce_iam)
        iam.LEDGER.clear()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        if self._requested_port and not _port_free(self._requested_port):
            raise MlopsError(f"port {self._requested_port} on {HOST} is in use; choose another")
        server = ThreadedMotoServer(ip_address=HOST, port=self._requested_port, verbose=False)
        try:
            server.start()
        except OSError as error:
            raise MlopsError(f"cannot start the emulator on {HOST}: {error.strerror}") from None
        self._server = server
        self.port = server.get_host_and_port()[1]
        _reset_when_ready(self.endpoint_url, timeout)
        self.training = training.TrainingJobs(self.endpoint_url, FAKE_CREDENTIALS)
        training.install(self.training)
        self.processing = processing.ProcessingJobs(self.endpoint_url, FAKE_CREDENTIALS)
        processing.install(self.processing)
        return self.endpoint_url

    def stop(self) -> None:
        if self.training is not None:
            from ml.emulator import training

            training.uninstall(self.training)
            self.training = None
        if self.processing is not None:
            from ml.emulator import processing

            processing.uninstall(self.processing)
            self.processing = None
        if self._server is not None:
            from ml.emulator import iam

            self._server.stop()
            self._server = None
            iam.set_enforcing(False)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def emulated_environment(emulator: Emulator) -> Iterator[dict[str, str]]:
    """Point this process's boto3 at a running emulator for the block, then restore."""
    values = emulator.environment()
    with environment(values, remove=("AWS_PROFILE", "AWS_SESSION_TOKEN")):
        yield values


@contextmanager
def environment(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set `values` (and unset `remove`) in this process's environment for the block,
    then restore each variable as it was; child processes started inside inherit them."""
    saved = {name: os.environ.get(name) for name in [*values, *remove]}
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _reset_when_ready(endpoint: str, timeout: float) -> None:
    """Empty moto's state through its own API (`POST /moto-api/reset`), polling until the
    server answers, so callers never race the server or see an earlier run's state."""
    import urllib.request  # here: `mlops --help` imports this module, not urllib's HTTP stack

    deadline = time.monotonic() + timeout
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
    while True:
        try:
            with urllib.request.urlopen(reset, timeout=2) as reply:  # noqa: S310 - loopback only
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise MlopsError(f"the emulator at {endpoint} did not answer within {timeout:.0f}s")
        time.sleep(0.05)
