"""A small keep-alive HTTP/1.1 client on asyncio (uvloop) and httptools' response parser.

Used to generate load on loopback: the canary rehearsal's traffic and the benchmark's
load generator. It sends prebuilt request bytes, one request in flight per connection,
reconnects when the server closes (gunicorn's sync workers answer `Connection: close`)
and measures each exchange from the first byte written (or the connect, when it has
to reconnect) to the last byte read. Against a server that answers without doing any
work it completes well over ten times the requests per second the benchmark needs (see
`benchmarks/serving.py`, which measures that in every run).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httptools
import numpy as np


def build_request(
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    accept: str | None = None,
    method: str = "POST",
    host: str = "127.0.0.1",
) -> bytes:
    """Raw HTTP/1.1 request bytes with a Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if accept:
        lines.append(f"Accept: {accept}")
    if method in ("POST", "PUT") or body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Response:
    status: int
    body: bytes
    keep_alive: bool


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: list[bytes] = []
        self.waiter: asyncio.Future[Response] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(error)
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._chunks)
        self._chunks.clear()
        response = Response(self._parser.get_status_code(), body, self._parser.should_keep_alive())
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)


class Connection:
    """One HTTP/1.1 connection that reopens itself when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._protocol: _Protocol | None = None
        self.connects = 0

    async def send(self, request: bytes, timeout: float = 10.0) -> Response:
        loop = asyncio.get_running_loop()
        if self._protocol is None or self._protocol.closed:
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self._protocol = protocol
            self.connects += 1
        protocol = self._protocol
        assert protocol.transport is not None
        protocol.waiter = loop.create_future()
        protocol.transport.write(request)
        try:
            response = await asyncio.wait_for(protocol.waiter, timeout)
        except BaseException:
            self.close()
            raise
        if not response.keep_alive:
            self.close()
        return response

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


@dataclass
class LoadResult:
    """What a closed-loop load run measured (latencies in seconds)."""

    concurrency: int
    elapsed: float
    latencies: np.ndarray
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    connects: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not len(self.latencies):
            return float("nan")
        return float(np.percentile(self.latencies, q) * 1000)


class _LoadProtocol(asyncio.Protocol):
    """One closed-loop connection driven by callbacks: no task or future per request, so
    the generator spends a few microseconds per request and stays out of the way."""

    def __init__(self, run: _LoadRun):
        self.run = run
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.began = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.run.connects += 1
        self.send()

    def send(self) -> None:
        if self.run.finished():
            self.close()
            return
        if not self.began:
            self.began = self.run.now()
        assert self.transport is not None
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.run.failures += 1
            self.close()

    def on_message_complete(self) -> None:
        self.run.record(self.began, self.parser.get_status_code())
        self.began = 0
        if self.parser.should_keep_alive():
            self.send()
        else:  # reconnect; the next exchange is timed from the connect
            self.began = self.run.now()
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost(self.began)


class _LoadRun:
    def __init__(
        self, host: str, port: int, request: bytes, max_requests: int, measure_from: int, stop: int
    ):
        self.host, self.port, self.request = host, port, request
        self.max_requests = max_requests
        self.measure_from, self.stop = measure_from, stop
        self.now = time.perf_counter_ns
        self.latencies: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.failures = 0
        self.connects = 0
        self.open = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finished(self) -> bool:
        return len(self.latencies) >= self.max_requests or self.now() >= self.stop

    def record(self, began: int, status: int) -> None:
        if began >= self.measure_from:
            self.latencies.append(self.now() - began)
            self.statuses[status] += 1

    def connect(self, began: int = 0) -> None:
        self.open += 1
        task = asyncio.ensure_future(self._connect(began))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, began: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(
                lambda: _LoadProtocol(self), self.host, self.port
            )
            if began:
                protocol.began = began
        except OSError:
            self.failures += 1
            self.open -= 1
            await asyncio.sleep(0.01)
            self._maybe_reconnect()

    def lost(self, began: int) -> None:
        self.open -= 1
        if began:  # the server closed while a request was due: reopen and carry on
            self._maybe_reconnect(began)
        elif self.open == 0 and not self.done.done():
            self.done.set_result(None)

    def _maybe_reconnect(self, began: int = 0) -> None:
        if self.finished():
            if self.open == 0 and not self.done.done():
                self.done.set_result(None)
            return
        self.connect(began)


async def closed_loop(
    host: str,
    port: int,
    request: bytes,
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    warmup: float = 0.0,
) -> LoadResult:
    """`concurrency` connections, each sending its next request as soon as the previous
    answer arrives, for `duration` seconds or `max_requests` answers, whichever first.
    Requests answered during the first `warmup` seconds are not counted."""
    now = time.perf_counter_ns
    start = now()
    measure_from = start + int(warmup * 1e9)
    run = _LoadRun(
        host, port, request, max_requests, measure_from, measure_from + int(duration * 1e9)
    )
    for _ in range(concurrency):
        run.connect()
    try:
        await asyncio.wait_for(run.done, timeout=warmup + duration + 30)
    except TimeoutError:
        run.failures += 1
    elapsed = (min(now(), run.stop) - measure_from) / 1e9
    return LoadResult(
        concurrency=concurrency,
        elapsed=max(elapsed, 1e-9),
        latencies=np.array(run.latencies, dtype=np.float64) / 1e9,
        statuses=run.statuses,
        failures=run.failures,
        connects=run.connects,
    )
