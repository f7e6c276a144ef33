"""Run the inference app under uvicorn: uvloop event loop, httptools (llhttp) parser.

One process per worker. With `workers > 1` uvicorn's supervisor binds the socket once
and spawns the workers, each of which verifies and compiles the model itself (a few
seconds for a 100-tree forest; nothing native is cached on disk, so a read-only root
filesystem needs only a writable /tmp for the compiler's private copy of model.txt).
The supervisor restarts a worker that dies and stops all of them on SIGTERM, which is
how SageMaker and Kubernetes stop a container.
"""

from __future__ import annotations

import logging
import os
import socket

from ml.serving.settings import SETTINGS_ENV, ServeSettings
from ml.serving.telemetry import LOG_CONFIG, log

APP = "ml.serving.app:create_app"


def uvicorn_config(settings: ServeSettings, app: str = APP):
    import uvicorn

    return uvicorn.Config(
        app,
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        interface="asgi3",
        workers=settings.workers,
        access_log=False,
        log_config=LOG_CONFIG,
        timeout_keep_alive=settings.keep_alive_seconds,
        server_header=False,
        proxy_headers=False,
    )


def run(settings: ServeSettings, app: str = APP) -> None:
    """Serve until SIGTERM/SIGINT. `app` is an import string of an app factory."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[SETTINGS_ENV] = settings.to_env()  # read by the factory in every worker
    config = uvicorn_config(settings, app)
    if settings.fd is not None:
        sock = socket.socket(fileno=settings.fd)
        where = f"fd {settings.fd} ({sock.getsockname()[0]}:{sock.getsockname()[1]})"
    else:
        sock = config.bind_socket()
        where = f"{settings.host}:{sock.getsockname()[1]}"
    log(
        logging.INFO,
        "starting",
        listen=where,
        workers=settings.workers,
        model_dir=str(settings.model_dir),
        require_signature=settings.require_signature,
        verification=("kms" if settings.key_id else "public key" if settings.has_key else "none"),
        model_name=settings.model_name,
        model_version=settings.model_version,
    )
    server = uvicorn.Server(config)
    if settings.workers == 1:
        server.run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()
