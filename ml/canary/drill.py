"""Fault drills: the real inference server with an injected fault, to rehearse rollback.

`python -m ml.canary.drill` runs exactly the server `python -m ml.serving` runs, with
the app wrapped so that `/invocations` answers late (`latency_ms`) or fails
(`error_percent` of requests, spread evenly, as 500s). Only the canary rehearsal
starts it, for `mlops canary --inject-latency-ms / --inject-error-percent`; nothing in
the container image or the endpoint's configuration can turn it on.
"""

from __future__ import annotations

import asyncio
import json
import logging.config
import os
import sys
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ml.serving.app import Receive, Scope, Send
from ml.serving.app import create_app as create_inference_app
from ml.serving.telemetry import LOG_CONFIG

DRILL_ENV = "MLOPS_CANARY_DRILL"


class Drill(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    error_percent: Annotated[float, Field(ge=0, le=100)] = 0.0

    @property
    def active(self) -> bool:
        return self.latency_ms > 0 or self.error_percent > 0


class DrillApp:
    """ASGI wrapper: delays or fails /invocations, passes everything else through."""

    def __init__(self, app: Any, drill: Drill):
        self.app = app
        self.drill = drill
        self._served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        if self.drill.latency_ms:
            await asyncio.sleep(self.drill.latency_ms / 1000)
        self._served += 1
        share = self.drill.error_percent / 100
        if share and int(self._served * share) > int((self._served - 1) * share):
            body = b'{"error": "injected by the canary drill"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def create_app() -> DrillApp:
    drill = Drill.model_validate_json(os.environ.get(DRILL_ENV, "{}"))
    return DrillApp(create_inference_app(), drill)


def main() -> int:
    from ml.serving.server import run
    from ml.serving.settings import SETTINGS_ENV, ServeSettings

    logging.config.dictConfig(LOG_CONFIG)
    settings = ServeSettings.from_json(os.environ[SETTINGS_ENV])
    print(
        json.dumps({"event": "canary drill", "drill": json.loads(os.environ.get(DRILL_ENV, "{}"))}),
        flush=True,
    )
    run(settings, app="ml.canary.drill:create_app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
