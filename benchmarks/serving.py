"""Serving benchmark: `mlops serve` against the AWS-sample reference, same model, same run.

What runs (all on 127.0.0.1, each server in its own process, the load generator in
this one):

1. A LightGBM binary classifier, 100 trees, 31 leaves, 20 features, trained here on
   synthetic data; saved as the artifact `mlops serve` loads (`model.txt` +
   `model.json`) and pickled as the `LGBMClassifier` the reference loads: the same
   trees, so the comparison is about the serving stack and the prediction runtime.
2. In-process single-row prediction: LightGBM's `Booster.predict`, its scikit-learn
   wrapper (what the reference calls), and our compiled predictor; plus the largest
   difference between our predictions and LightGBM's over 20,000 rows.
3. The load generator's own capacity, against a server that answers without work.
4. Closed-loop load, single-row CSV: concurrency 16 (throughput) and 1 (latency), then
   one 1,000-row CSV batch per request at concurrency 1; each phase is bounded both
   in duration and in request count, after a short warm-up.

The reference is gunicorn (sync workers, one per CPU, as the sample's `serve` script)
+ Flask + pandas + the pickled model (`benchmarks/serving_reference.py`); ours is
`python -m ml.serving` with one worker, which leaves the other CPU to the load
generator. The bars (issue 6): throughput at concurrency 16 at least 10x the
reference's, p99 at concurrency 1 under 2 ms.

Run alone: `python -m benchmarks.serving [--duration S] [--json PATH] [--strict]`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import pickle
import re
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, parser_for, publish
from ml.serving.client import LoadResult, build_request, closed_loop
from ml.serving.process import ServerProcess, listening_socket, serve_in_background
from ml.serving.settings import ServeSettings

N_FEATURES = 20
N_TREES = 100
THROUGHPUT_RATIO_BAR = 10.0
P99_BAR_MS = 2.0
CSV = {"Content-Type": "text/csv"}


@dataclass
class Phase:
    server: str
    name: str
    result: LoadResult

    def row(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "phase": self.name,
            "concurrency": self.result.concurrency,
            "requests": self.result.requests,
            "seconds": round(self.result.elapsed, 2),
            "throughput_rps": round(self.result.throughput, 1),
            "p50_ms": round(self.result.percentile_ms(50), 3),
            "p99_ms": round(self.result.percentile_ms(99), 3),
            "non_200": sum(n for status, n in self.result.statuses.items() if status != 200),
            "failures": self.result.failures,
            "connections_opened": self.result.connects,
        }


def make_model(directory: Path) -> tuple[Path, Path, np.ndarray]:
    """(artifact dir, reference pickle, held-out rows): one LightGBM model, two forms."""
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    x = rng.normal(size=(20_000, N_FEATURES))
    signal_ = x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2 + rng.normal(size=len(x))
    y = (signal_ > 0).astype(int)
    model = lgb.LGBMClassifier(
        n_estimators=N_TREES,
        num_leaves=31,
        learning_rate=0.1,
        n_jobs=1,
        random_state=7,
        verbose=-1,
    )
    model.fit(x, y)
    artifact = directory / "model"
    artifact.mkdir()
    model.booster_.save_model(str(artifact / "model.txt"))
    card = {
        "format_version": 1,
        "library": "lightgbm",
        "library_version": lgb.__version__,
        "features": [f"f{i:02d}" for i in range(N_FEATURES)],
        "n_features": N_FEATURES,
        "classes": [0, 1],
        "params": {"n_estimators": N_TREES, "num_leaves": 31},
    }
    (artifact / "model.json").write_text(json.dumps(card), encoding="utf-8")
    reference = directory / "reference.pkl"
    reference.write_bytes(pickle.dumps(model))
    return artifact, reference, rng.normal(size=(20_000, N_FEATURES))


def in_process(artifact: Path, reference: Path, rows: np.ndarray) -> dict[str, Any]:
    """Single-row prediction latency in this process, and agreement with LightGBM."""
    import lightgbm as lgb
    import pandas as pd

    from ml.serving.model import compile_model

    booster = lgb.Booster(model_file=str(artifact / "model.txt"))
    wrapper = pickle.loads(reference.read_bytes())  # noqa: S301 - the pickle written above
    started = time.perf_counter()
    predictor = compile_model((artifact / "model.txt").read_bytes(), N_FEATURES)
    compile_seconds = time.perf_counter() - started
    one = rows[:1]
    values = one[0].tolist()
    frame = pd.DataFrame(one)

    def best_us(fn: Any, number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6

    ours = predictor.predict(rows)
    return {
        "compile_seconds": round(compile_seconds, 2),
        "lightgbm_booster_us": round(best_us(lambda: booster.predict(one, num_threads=1), 200), 1),
        "lightgbm_sklearn_wrapper_us": round(best_us(lambda: wrapper.predict_proba(frame), 200), 1),
        "ours_us": round(best_us(lambda: predictor.predict_row(values), 20_000), 2),
        "ours_batch_1000_us": round(best_us(lambda: predictor.predict(rows[:1000]), 20), 1),
        "max_abs_diff_vs_lightgbm": float(np.max(np.abs(ours - booster.predict(rows)))),
    }


@contextmanager
def subprocess_server(
    name: str, argv: list[str], sock: socket.socket, env: dict[str, str], log: Path
) -> Iterator[ServerProcess]:
    """A server subprocess on an inherited listening socket, in its own session."""
    port = sock.getsockname()[1]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            pass_fds=(sock.fileno(),),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    sock.close()  # the child holds its own copy
    server = ServerProcess(name, process, port, log)
    try:
        yield server
    finally:
        server.stop()


def ready(server: ServerProcess) -> ServerProcess:
    ok, why = server.wait_ready(timeout=120)
    if not ok:
        raise RuntimeError(f"{server.name} did not become ready: {why}; see {server.log}")
    return server


def load(
    port: int, body: bytes, concurrency: int, duration: float, max_requests: int
) -> LoadResult:
    """One closed-loop phase. The collector is off meanwhile: this process holds pandas,
    scikit-learn and LightGBM, and a full collection of all that would be a pause of the
    load generator, charged to the server's latency."""
    import uvloop

    request = build_request("/invocations", body, "text/csv")
    gc.collect()
    gc.disable()
    try:
        return uvloop.run(
            closed_loop(
                "127.0.0.1",
                port,
                request,
                concurrency=concurrency,
                duration=duration,
                max_requests=max_requests,
                warmup=min(1.0, duration / 4),
            )
        )
    finally:
        gc.enable()


def null_server(fd: int) -> None:
    """Answers every request at once with a fixed response: the load generator's ceiling."""
    import httptools
    import uvloop

    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 19\r\n\r\n"
        b"0.5000000000000000\n"
    )

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            self.transport.write(answer)  # type: ignore[attr-defined]

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(
            Protocol, sock=socket.socket(fileno=fd)
        )
        await server.serve_forever()

    uvloop.run(serve())


def csv_rows(rows: np.ndarray) -> bytes:
    return "".join(",".join(map(repr, row)) + "\n" for row in rows.tolist()).encode()


def run(duration: float, work: Path) -> dict[str, Any]:
    artifact, reference_model, rows = make_model(work)
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "model": {"library": "lightgbm", "trees": N_TREES, "leaves": 31, "features": N_FEATURES},
        "in_process": in_process(artifact, reference_model, rows),
    }
    single = csv_rows(rows[:1])
    batch = csv_rows(rows[:1000])
    budget = 1_000_000
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cpus = len(os.sched_getaffinity(0))
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    phases: list[Phase] = []
    answers: dict[str, str] = {}

    sock = listening_socket()
    null = [
        sys.executable,
        "-c",
        f"from benchmarks.serving import null_server; null_server({sock.fileno()})",
    ]
    with subprocess_server("no-op server", null, sock, env, work / "null.log") as server:
        capacity = load(ready(server).port, single, 16, min(duration, 3.0), budget)
    report["load_generator_capacity_rps"] = round(capacity.throughput)

    sock = listening_socket()
    reference = [
        gunicorn,
        "-k",
        "sync",
        "-w",
        str(cpus),
        "--timeout",
        "60",
        "--bind",
        f"fd://{sock.fileno()}",
        "--log-level",
        "warning",
        "benchmarks.serving_reference:app",
    ]
    ours = ServeSettings(model_dir=artifact, workers=1, require_signature=False, access_log="all")
    with ExitStack() as stack:
        servers = {
            "reference": stack.enter_context(
                subprocess_server(
                    "reference",
                    reference,
                    sock,
                    {**env, "REFERENCE_MODEL": str(reference_model)},
                    work / "reference.log",
                )
            ),
            "mlops serve": stack.enter_context(
                serve_in_background("mlops serve", ours, work / "ours.log")
            ),
        }
        for name, server in servers.items():
            status, _, answer = ready(server).request("POST", "/invocations", single, CSV)
            answers[name] = answer.decode().strip() if status == 200 else f"HTTP {status}"
        for name, server in servers.items():
            port = server.port
            phases.append(Phase(name, "single row, c=16", load(port, single, 16, duration, budget)))
            before = server_histogram(server) if name == "mlops serve" else {}
            phases.append(Phase(name, "single row, c=1", load(port, single, 1, duration, budget)))
            if name == "mlops serve":
                report["server_side_p99_c1_ms_at_most"] = histogram_p99_ms(
                    before, server_histogram(server)
                )
            phases.append(Phase(name, "1,000 rows, c=1", load(port, batch, 1, duration, 2_000)))
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["phases"] = [phase.row() for phase in phases]
    report["answers"] = answers
    report["answers_agree"] = _agree(answers["reference"], answers["mlops serve"])
    by = {(p.server, p.name): p.result for p in phases}
    ratio = by[("mlops serve", "single row, c=16")].throughput / max(
        by[("reference", "single row, c=16")].throughput, 1e-9
    )
    p99 = by[("mlops serve", "single row, c=1")].percentile_ms(99)
    report["bars"] = {
        "throughput_ratio_c16": round(ratio, 1),
        "throughput_ratio_bar": THROUGHPUT_RATIO_BAR,
        "p99_c1_ms": round(p99, 3),
        "p99_bar_ms": P99_BAR_MS,
        "met": bool(ratio >= THROUGHPUT_RATIO_BAR and p99 < P99_BAR_MS),
    }
    return report


_BUCKET = re.compile(
    r'^mlops_request_duration_seconds_bucket\{route="/invocations",le="([^"]+)"\} (\d+)$', re.M
)


def server_histogram(server: ServerProcess) -> dict[float, int]:
    """The server's own latency histogram for /invocations (cumulative, by upper bound)."""
    _, _, body = server.request("GET", "/metrics")
    return {float(le): int(count) for le, count in _BUCKET.findall(body.decode())}


def histogram_p99_ms(before: dict[float, int], after: dict[float, int]) -> float | None:
    """Upper bound of the bucket holding the 99th percentile of the requests in between:
    time inside the server, without the waits for a CPU that loaded machines add."""
    counts = {le: after[le] - before.get(le, 0) for le in sorted(after)}
    total = counts.get(math.inf, 0)
    for le, cumulative in counts.items():
        if total and cumulative >= 0.99 * total:
            return None if math.isinf(le) else le * 1000
    return None


def _agree(reference: str, ours: str) -> bool:
    try:
        return abs(float(reference) - float(ours)) <= 1e-6
    except ValueError:
        return False


def render(report: dict[str, Any]) -> str:
    lines = ["serving benchmark (127.0.0.1; see benchmarks/serving.py for the setup)"]
    inproc = report["in_process"]
    lines.append(
        "in-process single row: LightGBM Booster {lightgbm_booster_us} us, sklearn wrapper "
        "{lightgbm_sklearn_wrapper_us} us, ours {ours_us} us (1,000 rows: "
        "{ours_batch_1000_us} us); max |ours - LightGBM| = {max_abs_diff_vs_lightgbm:.2e}; "
        "compile {compile_seconds} s".format(**inproc)
    )
    capacity = report["load_generator_capacity_rps"]
    lines.append(f"load generator capacity (no-op server, c=16): {capacity:,} req/s")
    header = (
        f"{'server':<12} {'phase':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests':>9} {'non-200':>7}"
    )
    lines += [header, "-" * len(header)]
    for row in report["phases"]:
        lines.append(
            f"{row['server']:<12} {row['phase']:<18} {row['throughput_rps']:>9,.0f} "
            f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['requests']:>9,} {row['non_200']:>7}"
        )
    bars = report["bars"]
    lines.append(
        f"throughput at c=16: {bars['throughput_ratio_c16']}x the reference "
        f"(bar >= {bars['throughput_ratio_bar']:.0f}x); p99 at c=1: {bars['p99_c1_ms']} ms "
        f"(bar < {bars['p99_bar_ms']} ms); same answer from both servers: {report['answers_agree']}"
    )
    machine = report["machine"]
    inside = report["server_side_p99_c1_ms_at_most"]
    lines.append(
        f"server-side p99 at c=1 (its own histogram): <= {inside} ms; "
        f"load average before/after: {machine['load_average_before'][0]}/"
        f"{machine['load_average_after'][0]} on {machine['usable_cpus']} CPUs"
    )
    lines.append("bars met" if bars["met"] else "BARS NOT MET")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("serving", __doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="Seconds per measured phase.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as work:
        report = run(args.duration, Path(work))
    return publish(report, render, args)


if __name__ == "__main__":
    sys.exit(main())
