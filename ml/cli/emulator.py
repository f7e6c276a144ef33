"""`mlops emulator`: the embedded AWS emulator in the foreground."""

import signal
import sys
import threading
from typing import Annotated

import typer

from ml.emulator.server import DEFAULT_REGION


def emulator(
    port: Annotated[
        int, typer.Option("--port", "-p", help="Loopback port to listen on; 0 picks a free one.")
    ] = 0,
    region: Annotated[
        str, typer.Option(help="Region the emulator's resources live in.")
    ] = DEFAULT_REGION,
    enforce_iam: Annotated[
        bool,
        typer.Option(
            "--enforce-iam/--no-enforce-iam",
            help="Authorise role sessions' calls on action, resource and conditions "
            "(default on); the administrator's credentials are never checked.",
        ),
    ] = True,
) -> None:
    """Run moto (S3, KMS, IAM, STS, SageMaker) on 127.0.0.1 with the project's fixes.

    Prints one line, `AWS_ENDPOINT_URL=http://127.0.0.1:<port>`, once it accepts
    requests, and serves until interrupted (Ctrl-C or SIGTERM). The administrator's
    credentials (`AWS_ACCESS_KEY_ID=emulator`) may do anything; sessions of roles
    (`sts:AssumeRole`) are held to their policies unless `--no-enforce-iam`.
    """
    from ml.emulator.server import Emulator

    stop = threading.Event()
    server = Emulator(port=port, region=region, enforce_iam=enforce_iam)
    server.start()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        sys.stdout.write(f"AWS_ENDPOINT_URL={server.endpoint_url}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
