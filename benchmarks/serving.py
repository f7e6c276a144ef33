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
4. Closed-loop load from the project's generator (`ml.serving.client`), single-row CSV:
   concurrency 16 (throughput) and 1 (latency), then one 1,000-row CSV batch per
   request at concurrency 1; ours also with explanations asked for (single row at
   concurrency 1 and 16). Each phase is bounded both in duration and in request count,
   after a short warm-up.
5. The same phases from an external generator, wrk (Debian's `wrk`, C, one thread),
   when it is installed: single row at concurrency 16 and 1,000 rows at concurrency 1
   for both servers; single row at concurrency 1 for ours, with and without
   explanations.

The reference is gunicorn (sync workers, one per CPU, as the sample's `serve` script)
+ Flask + pandas + the pickled model (`benchmarks/serving_reference.py`); ours is
`python -m ml.serving` with one worker, which leaves the other CPU to the load
generator. The bars (issues 6 and 18), from both generators: single-row throughput at
concurrency 16 at least 15x the reference's, p99 at concurrency 1 under 1 ms (both with
explanations off); 1,000-row CSV throughput at least 10x the reference's. The cost of
explanations is reported, not barred.

Run alone: `python -m benchmarks.serving [--duration S] [--json PATH] [--strict]`.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import math
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
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
THROUGHPUT_RATIO_BAR = 15.0
BATCH_RATIO_BAR = 10.0
P99_BAR_MS = 1.0
CSV = {"Content-Type": "text/csv"}
EXPLAIN = "X-Amzn-SageMaker-Custom-Attributes: explain=contributions"
SINGLE_C16, SINGLE_C1, BATCH_C1 = "single row, c=16", "single row, c=1", "1,000 rows, c=1"
EXPLAINED_C16, EXPLAINED_C1 = "explained row, c=16", "explained row, c=1"


@dataclass
class Phase:
    server: str
    name: str
    generator: str
    """"own" (ml.serving.client) or "wrk"."""
    numbers: dict[str, Any]

    @classmethod
    def measured(cls, server: str, name: str, result: LoadResult) -> Phase:
        return cls(
            server,
            name,
            "own",
            {
                "concurrency": result.concurrency,
                "requests": result.requests,
                "seconds": round(result.elapsed, 2),
                "throughput_rps": round(result.throughput, 1),
                "p50_ms": round(result.percentile_ms(50), 3),
                "p99_ms": round(result.percentile_ms(99), 3),
                "non_200": sum(n for status, n in result.statuses.items() if status != 200),
                "failures": result.failures,
                "connections_opened": result.connects,
            },
        )

    def row(self) -> dict[str, Any]:
        where = {"server": self.server, "phase": self.name, "generator": self.generator}
        return {**where, **self.numbers}


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
    """Prediction and explanation latency in this process, agreement with LightGBM, and
    the work on a 1,000-row CSV body, ours and the reference's, without HTTP."""
    import lightgbm as lgb
    import pandas as pd

    from benchmarks import serving_reference
    from ml.serving import codec
    from ml.serving.explain import Explainer
    from ml.serving.model import compile_model

    booster = lgb.Booster(model_file=str(artifact / "model.txt"))
    wrapper = pickle.loads(reference.read_bytes())  # noqa: S301 - the pickle written above
    serving_reference.ScoringService.model = wrapper
    started = time.perf_counter()
    predictor = compile_model((artifact / "model.txt").read_bytes(), N_FEATURES)
    compile_seconds = time.perf_counter() - started
    one = rows[:1]
    values = one[0].tolist()
    frame = pd.DataFrame(one)

    def best_us(fn: Any, number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6

    batch = csv_rows(rows[:1000])
    features = [f"f{i:02d}" for i in range(N_FEATURES)]
    codec.warm_up()
    with redirect_stdout(io.StringIO()):  # the sample prints a line per request
        reference_work = best_us(lambda: serving_reference.score(batch), 10)

    ours = predictor.predict(rows)
    explainer = Explainer((artifact / "model.txt").read_bytes(), N_FEATURES)
    contributions = explainer.explain(rows[:2000])
    return {
        "compile_seconds": round(compile_seconds, 2),
        "lightgbm_booster_us": round(best_us(lambda: booster.predict(one, num_threads=1), 200), 1),
        "lightgbm_sklearn_wrapper_us": round(best_us(lambda: wrapper.predict_proba(frame), 200), 1),
        "ours_us": round(best_us(lambda: predictor.predict_row(values), 20_000), 2),
        "ours_batch_1000_us": round(best_us(lambda: predictor.predict(rows[:1000]), 20), 1),
        "ours_parse_1000_us": round(best_us(lambda: codec.parse(batch, codec.CSV, features), 20)),
        "reference_parse_1000_us": round(
            best_us(lambda: pd.read_csv(io.StringIO(batch.decode()), header=None), 10)
        ),
        "reference_work_1000_us": round(reference_work),
        "max_abs_diff_vs_lightgbm": float(np.max(np.abs(ours - booster.predict(rows)))),
        "explain_row_us": round(best_us(lambda: explainer.explain_row(values), 50), 1),
        "explain_batch_1000_ms": round(best_us(lambda: explainer.explain(rows[:1000]), 1) / 1e3, 1),
        "lightgbm_pred_contrib_row_us": round(
            best_us(lambda: booster.predict(one, pred_contrib=True, num_threads=1), 50), 1
        ),
        "explain_max_abs_diff_vs_pred_contrib": float(
            np.max(np.abs(contributions - booster.predict(rows[:2000], pred_contrib=True)))
        ),
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
    port: int,
    body: bytes,
    concurrency: int,
    duration: float,
    max_requests: int,
    explain: bool = False,
) -> LoadResult:
    """One closed-loop phase. The collector is off meanwhile: this process holds pandas,
    scikit-learn and LightGBM, and a full collection of all that would be a pause of the
    load generator, charged to the server's latency."""
    import uvloop

    request = build_request("/invocations", body, "text/csv")
    if explain:
        head, _, rest = request.partition(b"\r\n")
        request = head + b"\r\n" + EXPLAIN.encode() + b"\r\n" + rest
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


WRK_SCRIPT = """
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
if os.getenv("WRK_EXPLAIN") == "1" then
  wrk.headers["X-Amzn-SageMaker-Custom-Attributes"] = "explain=contributions"
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"non_2xx\\": %d, \\"failures\\": %d, "
    .. "\\"p50_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (gunicorn's workers)."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def wrk(
    server: ServerProcess,
    body: Path,
    concurrency: int,
    duration: float,
    work: Path,
    explain: bool = False,
) -> dict[str, Any] | None:
    """One phase from wrk (one thread, `concurrency` connections); None without wrk.
    wrk's own warm-up is a first short run whose numbers are dropped. The server's CPU
    time per request is measured too: on a machine shared with other work, waiting for
    a CPU inflates latencies, but not the CPU a request costs."""
    binary = shutil.which("wrk")
    if binary is None:
        return None
    script = work / "wrk.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    env = {**os.environ, "WRK_BODY": str(body), "WRK_EXPLAIN": "1" if explain else "0"}
    url = f"http://127.0.0.1:{server.port}/invocations"

    def run(seconds: float) -> dict[str, Any]:
        argv = [binary, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
        out = subprocess.run(
            [*argv, "-s", str(script), url], env=env, capture_output=True, text=True, timeout=120
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()[:200]}")
        return json.loads(line[4:])

    run(1)
    cpu_before = cpu_seconds(server.process.pid)
    numbers = run(duration)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    seconds = numbers["duration_us"] / 1e6
    return {
        "concurrency": concurrency,
        "requests": numbers["requests"],
        "seconds": round(seconds, 2),
        "throughput_rps": round(numbers["requests"] / seconds, 1),
        "p50_ms": round(numbers["p50_us"] / 1000, 3),
        "p99_ms": round(numbers["p99_us"] / 1000, 3),
        "non_200": numbers["non_2xx"],
        "failures": numbers["failures"],
        "server_cpu_ms_per_request": round(cpu * 1000 / max(numbers["requests"], 1), 3),
    }


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
            result = load(port, single, 16, duration, budget)
            phases.append(Phase.measured(name, SINGLE_C16, result))
            before = server_histogram(server) if name == "mlops serve" else {}
            phases.append(Phase.measured(name, SINGLE_C1, load(port, single, 1, duration, budget)))
            if name == "mlops serve":
                report["server_side_p99_c1_ms_at_most"] = histogram_p99_ms(
                    before, server_histogram(server)
                )
            phases.append(Phase.measured(name, BATCH_C1, load(port, batch, 1, duration, 2_000)))
        port = servers["mlops serve"].port
        for name, concurrency in ((EXPLAINED_C1, 1), (EXPLAINED_C16, 16)):
            result = load(port, single, concurrency, duration, budget, explain=True)
            phases.append(Phase.measured("mlops serve", name, result))
        bodies = {SINGLE_C16: work / "single.csv", BATCH_C1: work / "batch.csv"}
        bodies[SINGLE_C16].write_bytes(single)
        bodies[BATCH_C1].write_bytes(batch)
        for name, phase, concurrency, explain in (
            ("reference", SINGLE_C16, 16, False),
            ("mlops serve", SINGLE_C16, 16, False),
            ("mlops serve", SINGLE_C1, 1, False),
            ("mlops serve", EXPLAINED_C1, 1, True),
            ("reference", BATCH_C1, 1, False),
            ("mlops serve", BATCH_C1, 1, False),
        ):
            body = bodies[BATCH_C1] if phase == BATCH_C1 else bodies[SINGLE_C16]
            numbers = wrk(servers[name], body, concurrency, duration, work, explain)
            if numbers is not None:
                phases.append(Phase(name, phase, "wrk", numbers))
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["phases"] = [phase.row() for phase in phases]
    report["answers"] = answers
    report["answers_agree"] = _agree(answers["reference"], answers["mlops serve"])
    report["bars"] = bars({(p.server, p.name, p.generator): p.numbers for p in phases})
    return report


def bars(by: dict[tuple[str, str, str], dict[str, Any]]) -> dict[str, Any]:
    """The bars from every generator that ran, and the cost of explanations."""

    def ratio(phase: str, generator: str) -> float | None:
        ours = by.get(("mlops serve", phase, generator))
        theirs = by.get(("reference", phase, generator))
        if ours is None or theirs is None:
            return None
        return round(ours["throughput_rps"] / max(theirs["throughput_rps"], 1e-9), 1)

    def cpu_ratio(phase: str) -> float | None:
        ours, theirs = by.get(("mlops serve", phase, "wrk")), by.get(("reference", phase, "wrk"))
        if ours is None or theirs is None:
            return None
        return round(
            theirs["server_cpu_ms_per_request"] / max(ours["server_cpu_ms_per_request"], 1e-9), 1
        )

    def p99(phase: str, generator: str) -> float | None:
        numbers = by.get(("mlops serve", phase, generator))
        return None if numbers is None else numbers["p99_ms"]

    result: dict[str, Any] = {
        "throughput_ratio_c16": ratio(SINGLE_C16, "own"),
        "throughput_ratio_c16_wrk": ratio(SINGLE_C16, "wrk"),
        "throughput_ratio_bar": THROUGHPUT_RATIO_BAR,
        "batch_ratio_1000_rows": ratio(BATCH_C1, "own"),
        "batch_ratio_1000_rows_wrk": ratio(BATCH_C1, "wrk"),
        "batch_ratio_bar": BATCH_RATIO_BAR,
        "cpu_per_request_ratio_c16_wrk": cpu_ratio(SINGLE_C16),
        "cpu_per_request_ratio_1000_rows_wrk": cpu_ratio(BATCH_C1),
        "p99_c1_ms": p99(SINGLE_C1, "own"),
        "p99_c1_ms_wrk": p99(SINGLE_C1, "wrk"),
        "p99_bar_ms": P99_BAR_MS,
        "explained_p99_c1_ms": p99(EXPLAINED_C1, "own"),
        "explained_p99_c1_ms_wrk": p99(EXPLAINED_C1, "wrk"),
    }
    plain, explained = (
        by.get(("mlops serve", SINGLE_C16, "own")),
        by.get(("mlops serve", EXPLAINED_C16, "own")),
    )
    if plain and explained:
        result["explained_throughput_share_c16"] = round(
            explained["throughput_rps"] / max(plain["throughput_rps"], 1e-9), 3
        )
    ratios = [result[k] for k in ("throughput_ratio_c16", "throughput_ratio_c16_wrk")]
    latencies = [result[k] for k in ("p99_c1_ms", "p99_c1_ms_wrk")]
    result["met"] = bool(
        all(r is None or r >= THROUGHPUT_RATIO_BAR for r in ratios)
        and all(x is None or x < P99_BAR_MS for x in latencies)
        and (result["batch_ratio_1000_rows"] or 0) >= BATCH_RATIO_BAR
        and (result["batch_ratio_1000_rows_wrk"] or BATCH_RATIO_BAR) >= BATCH_RATIO_BAR
    )
    return result


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
    lines.append(
        "in-process explanations (TreeSHAP): {explain_row_us} us a row (LightGBM's Python "
        "pred_contrib: {lightgbm_pred_contrib_row_us} us), 1,000 rows {explain_batch_1000_ms} ms; "
        "max |ours - pred_contrib| = {explain_max_abs_diff_vs_pred_contrib:.2e}".format(**inproc)
    )
    lines.append(
        "in-process work on a 1,000-row CSV body: ours reads it in {ours_parse_1000_us:,} us "
        "and predicts in {ours_batch_1000_us:,} us; the reference's pandas.read_csv takes "
        "{reference_parse_1000_us:,} us, its whole request (read, predict_proba, to_csv) "
        "{reference_work_1000_us:,} us".format(**inproc)
    )
    capacity = report["load_generator_capacity_rps"]
    lines.append(f"load generator capacity (no-op server, c=16): {capacity:,} req/s")
    header = (
        f"{'server':<12} {'phase':<20} {'gen':<4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests':>9} {'non-200':>7}"
    )
    lines += [header, "-" * len(header)]
    for row in report["phases"]:
        lines.append(
            f"{row['server']:<12} {row['phase']:<20} {row['generator']:<4} "
            f"{row['throughput_rps']:>9,.0f} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
            f"{row['requests']:>9,} {row['non_200']:>7}"
        )
    b = report["bars"]
    lines.append(
        f"single row at c=16: {b['throughput_ratio_c16']}x the reference (wrk: "
        f"{b['throughput_ratio_c16_wrk']}x; bar >= {b['throughput_ratio_bar']:.0f}x); "
        f"p99 at c=1: {b['p99_c1_ms']} ms (wrk: {b['p99_c1_ms_wrk']} ms; bar < "
        f"{b['p99_bar_ms']} ms); 1,000 rows: {b['batch_ratio_1000_rows']}x (wrk: "
        f"{b['batch_ratio_1000_rows_wrk']}x; bar >= "
        f"{b['batch_ratio_bar']:.0f}x); same answer from both servers: {report['answers_agree']}"
    )
    lines.append(
        f"server CPU per request, reference / ours (wrk phases): single row at c=16 "
        f"{b['cpu_per_request_ratio_c16_wrk']}x, 1,000 rows "
        f"{b['cpu_per_request_ratio_1000_rows_wrk']}x"
    )
    lines.append(
        f"explanations on: p99 at c=1 {b['explained_p99_c1_ms']} ms (wrk: "
        f"{b['explained_p99_c1_ms_wrk']} ms); throughput at c=16 "
        f"{b.get('explained_throughput_share_c16')} of the plain rate"
    )
    machine = report["machine"]
    inside = report["server_side_p99_c1_ms_at_most"]
    lines.append(
        f"server-side p99 at c=1 (its own histogram): <= {inside} ms; "
        f"load average before/after: {machine['load_average_before'][0]}/"
        f"{machine['load_average_after'][0]} on {machine['usable_cpus']} CPUs"
    )
    lines.append("bars met" if b["met"] else "BARS NOT MET")
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
