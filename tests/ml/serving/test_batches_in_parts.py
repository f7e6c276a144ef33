"""Large CSV batches read and predicted in parts, one thread each (`batch_threads`):
the same bytes out as in one part, and the same one-line 400 for a bad row."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from ml.serving import app as serving_app
from ml.serving.app import SPLIT_BATCH_BYTES, InferenceApp, batch_threads
from ml.serving.model import load_model
from ml.serving.settings import ServeSettings
from tests.ml.serving_support import booster, csv, rows, write_artifact


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> InferenceApp:
    artifact = write_artifact(tmp_path_factory.mktemp("parts") / "model")
    settings = ServeSettings(model_dir=artifact, workers=1, require_signature=False)
    served = InferenceApp(settings)
    served.model, served.state = load_model(settings), "ready"
    return served


def invoke(app: InferenceApp, body: bytes, threads: int) -> tuple[int, bytes]:
    """POST /invocations through the ASGI interface, the body in 64 KiB chunks."""
    app.batch_threads = threads
    chunks = [body[at : at + 65536] for at in range(0, len(body), 65536)]
    sent: list[dict] = []

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"text/csv")],
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_batch_in_three_parts_answers_the_same_bytes_as_in_one(
    app: InferenceApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a batch large enough to be split, with missing values
    data = rows(3000, seed=21, missing=0.05)
    body = csv(data)
    assert len(body) >= SPLIT_BATCH_BYTES, "the batch must be large enough to be split"
    # when it is answered in three parts, helper threads allowed on two idle CPUs (the
    # rows each prediction call gets recorded)
    monkeypatch.setattr(serving_app, "idle_cpus", lambda: 2)
    predictor, sizes = app.model.predictor, []
    predict = predictor.predict
    monkeypatch.setattr(predictor, "predict", lambda x: sizes.append(len(x)) or predict(x))
    status, split = invoke(app, body, threads=3)
    assert len(sizes) == 3 and sum(sizes) == 3000, f"three parts expected, predicted {sizes}"
    monkeypatch.undo()
    # and in one
    _, whole = invoke(app, body, threads=1)
    # then the answers are byte for byte the same, one per row, LightGBM's probabilities
    assert status == 200 and split == whole, "splitting the batch changed the answer"
    answers = np.array([float(line) for line in split.split()])
    assert len(answers) == 3000, f"3,000 answers expected, got {len(answers)}"
    worst = float(np.max(np.abs(answers - booster().predict(data))))
    assert worst <= 1e-6, f"largest difference to LightGBM is {worst:.3g}"


def test_bad_row_in_a_later_part_is_named_by_its_row_in_the_whole_batch(app: InferenceApp) -> None:
    # given a non-number in row 2,901 of 3,000 (in the third part)
    lines = csv(rows(3000, seed=22)).splitlines()
    lines[2900] = b"1,abc," + b",".join(lines[2900].split(b",")[2:])
    body = b"\n".join(lines) + b"\n"
    # when it is answered in three parts
    status, answer = invoke(app, body, threads=3)
    # then the 400 names that row and column, as the one-part path does
    assert status == 400, f"expected 400, got {status}"
    assert answer == invoke(app, body, threads=1)[1], "the error differs from the one-part one"
    assert b"row 2901, column 2: 'abc' is not a number" in answer, answer


def test_batch_threads_are_the_cpus_left_per_worker() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert batch_threads(cpus) == 1, "one worker per CPU leaves no CPU for a second thread"
    assert batch_threads(1) == min(4, cpus), "one worker may use every CPU, up to 4 threads"
