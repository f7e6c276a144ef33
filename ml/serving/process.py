"""Run the inference server as a child process on loopback, and wait until it is ready.

The parent binds 127.0.0.1:0 itself and hands the listening socket to the child, so
the port is known before the child starts and no two servers can race for one. The
child runs in its own session; stopping it signals that process group only (SIGTERM,
then SIGKILL after a grace period), which also reaches uvicorn's worker processes.
Used by the canary rehearsal, the serving benchmark and the tests.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ml.serving.settings import SETTINGS_ENV, ServeSettings

LOOPBACK = "127.0.0.1"


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection: (status, lower-cased headers, body)."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return (
                response.status,
                {key.lower(): value for key, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def ping(self) -> tuple[int, dict[str, str]]:
        status, _, body = self.request("GET", "/ping", timeout=2.0)
        try:
            document = json.loads(body) if body.strip() else {}
        except ValueError:
            document = {}
        return status, document if isinstance(document, dict) else {}

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> tuple[bool, str]:
        """(True, "") once /ping is 200; (False, why) if refused, exited or timed out."""
        deadline = time.monotonic() + timeout
        reason = "no answer on /ping"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return (
                    False,
                    f"{self.name} server exited with code {code}: {_last_line(self.log_text())}",
                )
            try:
                status, document = self.ping()
            except OSError:
                status, document = 0, {}
            if status == 200:
                return True, ""
            if document.get("status") == "failed":
                return False, str(document.get("reason", "model refused"))
            reason = str(document.get("reason", reason))
            time.sleep(0.05)
        return False, f"{self.name} server not ready after {timeout:.0f} s ({reason})"

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def listening_socket(host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve_in_background(
    name: str,
    settings: ServeSettings,
    log: Path,
    module: str = "ml.serving",
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """`python -m <module>` with `settings` on a fresh loopback socket; stopped on exit."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    child_env = {**os.environ, **(env or {})}
    child_env[SETTINGS_ENV] = settings.model_copy(
        update={"fd": sock.fileno(), "host": LOOPBACK}
    ).to_env()
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                pass_fds=(sock.fileno(),),
                env=child_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        sock.close()  # the child holds its own copy of the listening socket
    server = ServerProcess(name, process, port, log)
    try:
        yield server
    finally:
        server.stop()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
