"""The ASGI application: SageMaker's container contract, written against raw ASGI.

Routes: `GET /ping` (200 once the model is verified and compiled, else 503 with the
reason), `POST /invocations`, `GET /metrics` (Prometheus text) and
`GET /execution-parameters` (what SageMaker batch transform asks for).

No web framework: a request is a handful of dictionary lookups before the model runs,
which is what makes single-row latency a few tens of microseconds in the server. The
model loads in a worker thread after startup, so `/ping` answers (503, "loading") while
lleaves compiles, and keeps answering 503 with the reason if the artifact is refused.

A request the server cannot serve gets a 4xx and `{"error": "<one line>"}`; anything
unexpected is logged with its traceback and answered 500, never a crashed process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ml.serving import codec
from ml.serving.codec import BadRequest
from ml.serving.model import LoadedModel, NotServable, load_model
from ml.serving.settings import ServeSettings, server_settings
from ml.serving.telemetry import FLUSH_SECONDS, AccessLog, Metrics, log

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Loader = Callable[[ServeSettings], LoadedModel]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_CSV = codec.CSV.encode()
_JSON = codec.JSON.encode()


class InferenceApp:
    """One instance per worker process; `state` is loading, ready or failed."""

    def __init__(self, settings: ServeSettings, loader: Loader = load_model):
        self.settings = settings
        self._loader = loader
        self.state = "loading"
        self.reason = "verifying and compiling the model"
        self.model: LoadedModel | None = None
        self.metrics = Metrics()
        self.access = AccessLog(settings.access_log)
        self._background: set[asyncio.Future[Any]] = set()
        self._flusher: asyncio.TimerHandle | None = None
        self._explain_pool: ThreadPoolExecutor | None = None  # made on the first explanation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # lifecycle ---------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Load the model in a thread; the event loop keeps answering meanwhile."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._load)
        self._background.add(future)
        future.add_done_callback(self._background.discard)
        self._flusher = loop.call_later(FLUSH_SECONDS, self._flush_periodically, loop)

    def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        if self._explain_pool is not None:
            self._explain_pool.shutdown(wait=False)
        self.access.flush()
        log(logging.INFO, "stopped", pid=os.getpid())

    def _flush_periodically(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flusher = loop.call_later(FLUSH_SECONDS, self._flush_periodically, loop)
        self.access.flush()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            model = self._loader(self.settings)
            codec.warm_up()
        except NotServable as error:
            self.state, self.reason = "failed", str(error)
            log(
                logging.ERROR,
                "model refused",
                reason=self.reason,
                model_dir=str(self.settings.model_dir),
            )
            return
        except Exception as error:
            self.state, self.reason = "failed", f"model could not be loaded: {error!r}"
            logging.getLogger("mlops.serving").exception(
                "model refused", extra={"reason": self.reason}
            )
            return
        self.model = model
        self.state, self.reason = "ready", "serving"
        gc.collect()
        gc.freeze()  # startup objects leave the collector's view: shorter GC pauses, lower p99
        log(
            logging.INFO,
            "model ready",
            model_name=self.settings.model_name,
            stack=self.settings.stack,
            model_version=self.settings.model_version,
            model_dir=str(self.settings.model_dir),
            model_sha256=model.model_sha256,
            features=model.card.n_features,
            trees=model.predictor.n_trees,
            provenance=model.provenance,
            load_seconds=round(time.perf_counter() - started, 3),
        )

    # requests ----------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        rows = 0
        error: str | None = None
        try:
            if path == "/invocations":
                if method != "POST":
                    raise BadRequest(405, "use POST for /invocations")
                result = await self._invoke(scope, receive)
                if result is None:  # the client went away before sending its body
                    return
                status, content_type, body, rows = result
            elif path in ("/ping", "/metrics", "/execution-parameters"):
                if method not in ("GET", "HEAD"):
                    raise BadRequest(405, f"use GET for {path}")
                status, content_type, body = self._read_only(path)
            else:
                raise BadRequest(404, f"no route {path}: use /ping or /invocations")
        except BadRequest as refused:
            status, content_type, body = refused.status, _JSON, codec.error_body(refused.message)
            error = refused.message
        except Exception as failure:  # a bug, not a bad request: log it, answer, live on
            logging.getLogger("mlops.serving").exception("request failed")
            error = f"internal error: {type(failure).__name__}"
            status, content_type, body = 500, _JSON, codec.error_body(error)
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        if status == 405:
            allowed = b"POST" if path == "/invocations" else b"GET, HEAD"
            headers.append((b"allow", allowed))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(path, status, elapsed, rows)
        self.access.record(method, path, status, elapsed, rows, len(body), error)

    def _read_only(self, path: str) -> tuple[int, bytes, bytes]:
        ready = self.state == "ready"
        if path == "/ping":
            if ready:
                return 200, _JSON, b'{"status":"healthy"}'
            body = json.dumps({"status": self.state, "reason": self.reason}).encode()
            return 503, _JSON, body
        if path == "/metrics":
            model = {
                "name": self.settings.model_name,
                "version": self.settings.model_version,
                "sha256": self.model.model_sha256 if self.model else None,
            }
            return 200, b"text/plain; version=0.0.4", self.metrics.render(ready, model).encode()
        parameters = {
            "MaxConcurrentTransforms": self.settings.workers,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": max(1, self.settings.max_body_bytes // (1024 * 1024)),
        }
        return 200, _JSON, json.dumps(parameters).encode()

    async def _invoke(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes, int] | None:
        model = self.model
        if model is None:
            raise BadRequest(503, f"model not ready ({self.state}): {self.reason}")
        content_type = accept = length = None
        explain = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                length = value
            elif name == codec.EXPLAIN_HEADER:
                explain = codec.explain_requested(value.decode("latin-1"))
        if explain and model.explainer is None:
            raise BadRequest(501, f"explanations unavailable: {model.explain_unavailable}")
        limit = self.settings.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise BadRequest(413, f"body of {int(length)} bytes is over the {limit}-byte limit")
        kind = codec.request_type(content_type)
        answer = codec.negotiate(accept, kind)
        body = await _read_body(receive, limit)
        if body is None:
            return None
        content = _CSV if answer == codec.CSV else _JSON
        rows = codec.parse(body, kind, model.card.features)
        if explain and not isinstance(rows, list):
            codec.check_explainable(len(rows))
        if isinstance(rows, list):
            predictions: list[float] | np.ndarray = [model.predictor.predict_row(rows)]
        else:
            predictions = model.predictor.predict(rows)
        if explain:
            contributions = await self._explain(model, rows)
            features = model.card.features
            encoded = codec.encode_explained(predictions, contributions, features, answer)
            return 200, content, encoded, len(predictions)
        return 200, content, codec.encode(predictions, answer), len(predictions)

    async def _explain(self, model: LoadedModel, rows: codec.Rows) -> Any:
        """TreeSHAP in a thread of its own (LightGBM drops the GIL): about a millisecond a
        row, which would otherwise stall every other request on this worker's loop. One
        thread, so the explainer's single-row buffers are never shared."""
        if self._explain_pool is None:
            self._explain_pool = ThreadPoolExecutor(1, thread_name_prefix="mlops-explain")
        explainer = model.explainer

        def work() -> np.ndarray:
            if isinstance(rows, list):
                return np.array([explainer.explain_row(rows)])
            return explainer.explain(rows)

        return await asyncio.get_running_loop().run_in_executor(self._explain_pool, work)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or 413 as soon as it passes `limit`; None on disconnect."""
    message = await receive()
    if message["type"] == "http.disconnect":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise BadRequest(413, f"body is over the {limit}-byte limit")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body is over the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_app() -> InferenceApp:
    """uvicorn's factory: settings from `MLOPS_SERVE_SETTINGS`, else from the environment
    (the process that started the workers has already refused unfit settings)."""
    return InferenceApp(server_settings(os.environ))
