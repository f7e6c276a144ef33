"""Structured logs (one JSON object per line on stdout) and request metrics.

- Lifecycle events (listening, model verified, model refused and why, shutdown) go
  through `logging` with `JsonFormatter`; uvicorn's own loggers use it too.
- Each request is one access-log line, `{"event": "request", "status", "latency_ms",
  "rows", ...}`, written through a buffer flushed every 0.5 s (and when large), so
  logging costs a few microseconds per request instead of a write system call.
  `MLOPS_ACCESS_LOG=errors` keeps only 4xx/5xx lines; `off` none.
- `Metrics` keeps per-process counters and a latency histogram, rendered at
  `GET /metrics` in the Prometheus text format (per worker process: a scraper sums
  them; SageMaker itself publishes ModelLatency and the 4XX/5XX counts to CloudWatch).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from bisect import bisect_left
from typing import Any, TextIO

LOGGER = "mlops.serving"
FLUSH_SECONDS = 0.5
_FLUSH_BYTES = 64 * 1024
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Histogram upper bounds in seconds (Prometheus convention); +Inf is implied."""
ROUTES = ("/invocations", "/ping", "/metrics", "/execution-parameters")
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ml.serving.telemetry.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "mlops": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}
"""`logging.config.dictConfig` for the server process and uvicorn's workers."""


class _Clock:
    """ISO-8601 UTC timestamps with milliseconds; the seconds part is cached."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self, moment: float | None = None) -> str:
        moment = time.time() if moment is None else moment
        second = int(moment)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((moment - second) * 1000):03d}Z"


_clock = _Clock()


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "event", ...extra fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _clock.now(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log(level: int, event: str, **fields: Any) -> None:
    """One structured lifecycle event on the server's logger."""
    logging.getLogger(LOGGER).log(level, event, extra=fields)


_QUOTED = {text: json.dumps(text) for text in (*ROUTES, "GET", "POST", "HEAD")}


def _quoted(text: str) -> str:
    return _QUOTED.get(text) or json.dumps(text)


class AccessLog:
    """Buffered per-request JSON lines; call `flush` periodically and at shutdown."""

    def __init__(self, mode: str, stream: TextIO | None = None):
        self.mode = mode
        self._stream = stream
        self._lines: list[str] = []
        self._size = 0

    def record(
        self,
        method: str,
        path: str,
        status: int,
        latency: float,
        rows: int,
        size: int,
        error: str | None,
    ) -> None:
        if self.mode == "off" or (self.mode == "errors" and status < 400):
            return
        # Formatted by hand (json.dumps for the untrusted strings only): a third of the
        # cost of json.dumps on a dict, on every request.
        line = (
            f'{{"ts":"{_clock.now()}","level":"{"info" if status < 500 else "error"}",'
            f'"logger":"mlops.access","event":"request","method":{_quoted(method)},'
            f'"path":{_quoted(path)},"status":{status},"latency_ms":{latency * 1000:.3f},'
            f'"rows":{rows},"bytes":{size}'
        )
        line += f',"error":{json.dumps(error)}}}' if error is not None else "}"
        self._lines.append(line)
        self._size += len(line)
        if self._size > _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        stream = self._stream or sys.stdout
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        self._size = 0
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: lose the lines, keep serving
            pass


class Metrics:
    """Request counts by route and status, a latency histogram per route, rows predicted."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.buckets: dict[str, list[int]] = {
            route: [0] * (len(LATENCY_BUCKETS) + 1) for route in ROUTES
        }
        self.sums: dict[str, float] = dict.fromkeys(ROUTES, 0.0)
        self.rows = 0

    def observe(self, route: str, status: int, seconds: float, rows: int) -> None:
        if route not in self.sums:
            route = "other"
            self.buckets.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
            self.sums.setdefault(route, 0.0)
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.buckets[route][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sums[route] += seconds
        self.rows += rows

    def render(self, ready: bool, model: dict[str, str | None] | None = None) -> str:
        """Prometheus text exposition format 0.0.4; `model` labels `mlops_model_info`."""
        out = [
            "# HELP mlops_model_ready 1 when the model is verified, compiled and serving.",
            "# TYPE mlops_model_ready gauge",
            f"mlops_model_ready {int(ready)}",
        ]
        if model and any(value is not None for value in model.values()):
            labels = ",".join(
                f'{key}="{_label(value)}"' for key, value in model.items() if value is not None
            )
            out += [
                "# HELP mlops_model_info The served model: name, version, model.txt SHA-256.",
                "# TYPE mlops_model_info gauge",
                f"mlops_model_info{{{labels}}} 1",
            ]
        out += [
            "# HELP mlops_requests_total Requests answered, by route and status.",
            "# TYPE mlops_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            out.append(f'mlops_requests_total{{route="{route}",status="{status}"}} {count}')
        out += [
            "# HELP mlops_rows_predicted_total Rows scored by /invocations.",
            "# TYPE mlops_rows_predicted_total counter",
            f"mlops_rows_predicted_total {self.rows}",
            "# HELP mlops_request_duration_seconds Time from request to response, in the server.",
            "# TYPE mlops_request_duration_seconds histogram",
        ]
        for route, counts in self.buckets.items():
            total = 0
            for bound, count in zip((*LATENCY_BUCKETS, None), counts, strict=True):
                total += count
                le = "+Inf" if bound is None else repr(bound)
                out.append(
                    f'mlops_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {total}'
                )
            out.append(
                f'mlops_request_duration_seconds_sum{{route="{route}"}} {self.sums[route]!r}'
            )
            out.append(f'mlops_request_duration_seconds_count{{route="{route}"}} {total}')
        return "\n".join(out) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
