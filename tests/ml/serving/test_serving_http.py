"""The inference server over HTTP, as a real process: SageMaker's container contract."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ml.serving.process import ServerProcess
from ml.serving.settings import SETTINGS_ENV, ServeSettings
from tests.conftest import wait_until
from tests.ml.serving_support import (
    FEATURES,
    N_FEATURES,
    booster,
    csv,
    new_key,
    rows,
    server,
    sign,
    write_artifact,
    write_public_key,
)

MAX_BODY = 64 * 1024
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A signed model, verified with its public key, on one worker."""
    tmp = tmp_path_factory.mktemp("served")
    key = new_key()
    artifact = write_artifact(tmp / "model")
    sign(artifact, key)
    public_key = write_public_key(key, tmp / "signing.pem")
    with server(
        tmp, "signed", model_dir=artifact, public_key=public_key, max_body_bytes=MAX_BODY
    ) as process:
        ready, why = process.wait_ready(60)
        assert ready, f"signed model should serve: {why}\n{process.log_text()}"
        yield process


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An unsigned model with a public key configured: must never become healthy."""
    tmp = tmp_path_factory.mktemp("unsigned")
    artifact = write_artifact(tmp / "model")
    public_key = write_public_key(new_key(), tmp / "signing.pem")
    with server(tmp, "unsigned", model_dir=artifact, public_key=public_key) as process:
        ready, _ = process.wait_ready(60)
        assert not ready, "an unsigned model must not become healthy"
        yield process


def predict(process: ServerProcess, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    status, response_headers, payload = process.request("POST", "/invocations", body, headers)
    return status, response_headers.get("content-type", ""), payload


def test_ping_signed_model_is_healthy(served: ServerProcess) -> None:
    status, document = served.ping()
    assert status == 200, f"/ping should be 200 once verified, got {status} {document}"


def test_invoke_csv_single_row_equals_lightgbm(served: ServerProcess) -> None:
    # given one CSV row with a missing value
    data = rows(1, seed=11)
    data[0, 3] = np.nan
    # when it is posted
    status, kind, payload = predict(served, csv(data), CSV)
    # then the answer is LightGBM's probability, as CSV
    assert status == 200 and kind == "text/csv", f"expected a CSV 200, got {status} {kind}"
    expected = float(booster().predict(data)[0])
    assert abs(float(payload) - expected) <= 1e-6, f"{payload!r} != LightGBM's {expected}"


def test_invoke_csv_batch_answers_one_line_per_row(served: ServerProcess) -> None:
    data = rows(100, seed=12, missing=0.05)
    status, _, payload = predict(served, csv(data), CSV)
    answers = np.array([float(line) for line in payload.decode().split()])
    assert status == 200 and len(answers) == 100, f"100 answers expected, got {len(answers)}"
    worst = float(np.max(np.abs(answers - booster().predict(data))))
    assert worst <= 1e-6, f"largest difference to LightGBM is {worst:.3g}"


def test_invoke_json_instances_answers_json(served: ServerProcess) -> None:
    data = rows(3, seed=13)
    body = json.dumps({"instances": data.tolist()}).encode()
    status, kind, payload = predict(served, body, {"Content-Type": "application/json"})
    predictions = json.loads(payload)["predictions"]
    assert status == 200 and kind == "application/json", f"expected JSON 200, got {status} {kind}"
    assert np.allclose(predictions, booster().predict(data), atol=1e-6, rtol=0), predictions


def test_invoke_csv_with_accept_json_answers_json(served: ServerProcess) -> None:
    headers = {**CSV, "Accept": "application/json"}
    status, kind, payload = predict(served, csv(rows(2, seed=14)), headers)
    assert status == 200 and kind == "application/json", f"Accept ignored: {status} {kind}"
    assert len(json.loads(payload)["predictions"]) == 2, f"two predictions expected: {payload!r}"


EXPLAIN = {"X-Amzn-SageMaker-Custom-Attributes": "explain=contributions"}


def test_invoke_csv_with_explain_adds_lightgbm_contributions_to_each_line(
    served: ServerProcess,
) -> None:
    # given two CSV rows and the SageMaker custom attribute asking for contributions
    data = rows(2, seed=15, missing=0.1)
    # when they are posted
    status, kind, payload = predict(served, csv(data), {**CSV, **EXPLAIN})
    # then each line is the probability, the features' contributions, then the bias
    assert status == 200 and kind == "text/csv", f"expected a CSV 200, got {status} {kind}"
    lines = np.array([[float(v) for v in line.split(",")] for line in payload.decode().split()])
    assert lines.shape == (2, 1 + N_FEATURES + 1), f"probability + 8 + bias: {lines.shape}"
    assert np.allclose(lines[:, 0], booster().predict(data), atol=1e-12, rtol=0), "probability"
    contributions = booster().predict(data, pred_contrib=True)
    worst = float(np.max(np.abs(lines[:, 1:] - contributions)))
    assert worst <= 1e-9, f"contributions differ from LightGBM's pred_contrib by {worst:.3g}"


def test_invoke_json_with_explain_answers_explanations_object(served: ServerProcess) -> None:
    data = rows(1, seed=16)
    body = json.dumps({"instances": data.tolist()}).encode()
    headers = {"Content-Type": "application/json", **EXPLAIN}
    status, _, payload = predict(served, body, headers)
    document = json.loads(payload)
    explanations = document["explanations"]
    assert status == 200 and explanations["features"] == list(FEATURES), payload[:300]
    contributions = booster().predict(data, pred_contrib=True)[0]
    assert np.allclose(explanations["contributions"][0], contributions[:-1], atol=1e-9, rtol=0)
    assert explanations["bias"] == pytest.approx([contributions[-1]], abs=1e-9), "bias"
    raw = sum(explanations["contributions"][0]) + explanations["bias"][0]
    probability = 1 / (1 + np.exp(-raw))
    assert probability == pytest.approx(document["predictions"][0], abs=1e-12), "adds up"


JSON = {"Content-Type": "application/json"}
BAD_REQUESTS = [
    pytest.param({"Content-Type": "text/plain"}, b"1,2", 415, "unsupported Content-Type",
                 id="wrong-type"),
    pytest.param({}, b"1,2", 415, "missing Content-Type", id="no-type"),
    pytest.param(CSV, b"1,2,3\n", 400, f"expects {N_FEATURES} features", id="feature-count"),
    pytest.param(CSV, b"1,2,3,x,5,6,7,8\n", 400, "column 4", id="non-numeric"),
    pytest.param(CSV, b"", 400, "empty body", id="empty"),
    pytest.param(JSON, b"{not json", 400, "not valid JSON", id="bad-json"),
    pytest.param({**CSV, "Accept": "text/html"}, b"1,2,3,4,5,6,7,8", 406, "text/html",
                 id="unacceptable"),
    pytest.param(
        {**CSV, "X-Amzn-SageMaker-Custom-Attributes": "explain=lime"}, b"1,2,3,4,5,6,7,8",
        400, "explain=contributions", id="unknown-explain",
    ),
    pytest.param(
        {**CSV, "X-Amzn-SageMaker-Custom-Attributes": "explain=contributions"},
        b"0,0,0,0,0,0,0,0\n" * 1001, 400, "limited to 1,000 rows", id="too-many-explained",
    ),
    pytest.param(CSV, b"1," * (MAX_BODY // 2 + 10), 413, "limit", id="oversized"),
]  # fmt: skip
"""Requests the server must refuse with a 4xx and a JSON message, and survive."""

WRONG_ROUTES = [("GET", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/predict", 404)]


@pytest.mark.parametrize(("headers", "body", "status", "fragment"), BAD_REQUESTS)
def test_invoke_bad_request_is_4xx_with_message(
    served: ServerProcess, headers: dict[str, str], body: bytes, status: int, fragment: str
) -> None:
    answer, kind, payload = predict(served, body, headers)
    assert answer == status, f"expected {status}, got {answer}: {payload[:200]!r}"
    message = json.loads(payload)["error"]
    assert kind == "application/json" and fragment in message, f"{fragment!r} not in {message!r}"


def post_chunked_past_the_limit(process: ServerProcess) -> tuple[int, bytes]:
    """A body without Content-Length, streamed in chunks past the limit (128 KiB)."""
    connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)
    chunks = (b"1,2,3,4,5,6,7,8\n" * 1024 for _ in range(8))
    try:
        connection.request("POST", "/invocations", body=chunks, headers=CSV, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_invoke_oversized_chunked_body_is_413(served: ServerProcess) -> None:
    status, payload = post_chunked_past_the_limit(served)
    assert status == 413, f"a streamed oversized body must be 413, got {status} {payload[:100]!r}"


@pytest.mark.parametrize(("method", "path", "status"), WRONG_ROUTES)
def test_wrong_route_or_method_is_4xx(
    served: ServerProcess, method: str, path: str, status: int
) -> None:
    answer, _, payload = served.request(method, path, b"" if method == "POST" else None)
    assert answer == status, f"{method} {path}: expected {status}, got {answer} {payload!r}"


def scrape(process: ServerProcess) -> dict[str, float]:
    """/metrics as series -> value, read as the Prometheus text format defines a sample line."""
    status, _, payload = process.request("GET", "/metrics")
    assert status == 200, f"/metrics answered {status}"
    samples = (line.rsplit(" ", 1) for line in payload.decode().splitlines() if line[:1] != "#")
    return {series: float(value) for series, value in samples}


def test_metrics_count_each_request_by_status_and_the_rows_scored(served: ServerProcess) -> None:
    # given the counters as they stand (other tests share this server)
    before = scrape(served)
    # when three predictions (1, 2 and 4 rows) and one refused request are made
    for n in (1, 2, 4):
        assert predict(served, csv(rows(n, seed=20 + n)), CSV)[0] == 200, "a valid request"
    assert predict(served, b"1,2\n", CSV)[0] == 400, "a request with too few features"
    after = scrape(served)
    # then each counter moved by exactly what was sent
    moved = {series: after[series] - before.get(series, 0.0) for series in after}
    ok, refused = (f'mlops_requests_total{{route="/invocations",status="{s}"}}' for s in (200, 400))
    assert (moved[ok], moved[refused]) == (3.0, 1.0), {k: v for k, v in moved.items() if v}
    assert moved["mlops_rows_predicted_total"] == 7.0, "1 + 2 + 4 rows scored"
    timed = 'mlops_request_duration_seconds_count{route="/invocations"}'
    assert moved[timed] == 4.0, "every /invocations request is timed, refused ones too"
    assert after["mlops_model_ready"] == 1.0, "the verified model is ready"


def access_log(process: ServerProcess) -> list[dict]:
    """The server's JSON log lines of answered requests."""
    lines = [json.loads(line) for line in process.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


def test_access_log_has_one_json_line_per_request_with_latency(served: ServerProcess) -> None:
    # given the access log so far, when a request with five values is refused
    seen = len(access_log(served))
    predict(served, b"1,2,3,4,5\n", CSV)
    error = "row 1: 5 values, but the model expects 8 features"

    def logged() -> list[dict]:
        return [line for line in access_log(served)[seen:] if line.get("error") == error]

    # then one line says so (the log is flushed every 0.5 s), with its status and latency
    (line,) = wait_until(logged, 10, "no access-log line for the refused request")
    assert (line["status"], line["method"], line["path"]) == (400, "POST", "/invocations"), line
    assert line["latency_ms"] >= 0 and line["rows"] == 0, line


def test_server_survives_every_bad_request(tmp_path: Path) -> None:
    # given a server of its own, so the test does not rely on other tests' requests
    artifact = write_artifact(tmp_path / "model")
    settings = {"require_signature": False, "max_body_bytes": MAX_BODY}
    with server(tmp_path, "survivor", model_dir=artifact, **settings) as process:
        ready, why = process.wait_ready(60)
        assert ready, f"the server should start: {why}\n{process.log_text()}"
        # when every request the server must refuse is sent to it
        answers = [predict(process, p.values[1], p.values[0])[0] for p in BAD_REQUESTS]
        answers += [process.request(m, path, b"" if m == "POST" else None)[0]
                    for m, path, _ in WRONG_ROUTES]  # fmt: skip
        answers.append(post_chunked_past_the_limit(process)[0])
        # then each was refused, and the same process still answers a good one
        expected = [p.values[2] for p in BAD_REQUESTS] + [s for *_, s in WRONG_ROUTES] + [413]
        assert answers == expected, "each bad request is refused with its status"
        assert process.process.poll() is None, "the server process must still be running"
        assert process.ping()[0] == 200, "the server must still be healthy"
        status, _, payload = predict(process, csv(rows(1, seed=30)), CSV)
        assert status == 200, f"the server must still predict: {status} {payload!r}"


def test_ping_unsigned_model_is_503_with_reason(unsigned: ServerProcess) -> None:
    status, document = unsigned.ping()
    assert status == 503, f"an unsigned model must keep /ping at 503, got {status}"
    assert document.get("status") == "failed" and "signature" in document.get("reason", ""), (
        document
    )


def test_unsigned_model_refusal_is_logged_with_reason(unsigned: ServerProcess) -> None:
    lines = [json.loads(line) for line in unsigned.log_text().splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line.get("event") == "model refused"]
    assert refusals and "signature" in refusals[0]["reason"], f"no refusal line in {lines}"


def test_ping_tampered_model_is_503_naming_the_file(tmp_path: Path) -> None:
    # given a signed artifact whose model.txt changed by one byte after signing
    key = new_key()
    artifact = write_artifact(tmp_path / "model")
    sign(artifact, key)
    text = (artifact / "model.txt").read_bytes()
    (artifact / "model.txt").write_bytes(text.replace(b"shrinkage=0.1", b"shrinkage=0.2", 1))
    public_key = write_public_key(key, tmp_path / "signing.pem")
    # when the server starts, then it stays unhealthy and says which file
    with server(tmp_path, "tampered", model_dir=artifact, public_key=public_key) as process:
        ready, _ = process.wait_ready(60)
        status, document = process.ping()
    assert not ready and status == 503, f"a tampered model must keep /ping at 503, got {status}"
    assert "model.txt" in document.get("reason", ""), f"the reason should name it: {document}"


def test_invoke_unsigned_model_is_503_not_500(unsigned: ServerProcess) -> None:
    status, _, payload = predict(unsigned, b"1,2,3,4,5,6,7,8", CSV)
    assert status == 503, f"invocations on a refused model must be 503, got {status} {payload!r}"


def test_two_workers_each_verify_and_serve(tmp_path: Path) -> None:
    # given the server started with two worker processes (uvicorn's supervisor)
    artifact = write_artifact(tmp_path / "model")
    with server(
        tmp_path, "workers", model_dir=artifact, require_signature=False, workers=2
    ) as process:
        ready, why = process.wait_ready(60)
        assert ready, f"two workers should serve: {why}\n{process.log_text()}"
        wait_until(lambda: process.log_text().count('"model ready"') >= 2, 30, "both workers ready")
        # when requests arrive, then whichever worker accepts them answers
        answers = {predict(process, b"0,0,0,0,0,0,0,0", CSV)[0] for _ in range(20)}
        loaded = process.log_text().count('"model ready"')
    assert loaded == 2, f"each of the two workers should load the model, {loaded} did"
    assert answers == {200}, f"every request should be answered 200, got {answers}"


SERVES = {"model_name": "churn-classifier", "stack": "staging", "model_version": 1}
"""What the deployment tells the server to serve (MLOPS_MODEL_NAME/STACK/VERSION)."""


def test_ping_model_signed_for_what_the_deployment_names_is_healthy(tmp_path: Path) -> None:
    # given an artifact signed for churn-classifier in staging v1, and a server told so
    key = new_key()
    artifact = write_artifact(tmp_path / "model")
    sign(artifact, key)
    public_key = write_public_key(key, tmp_path / "signing.pem")
    with server(tmp_path, "bound", model_dir=artifact, public_key=public_key, **SERVES) as process:
        ready, why = process.wait_ready(60)
    assert ready, f"the model the deployment names must serve: {why}"


@pytest.mark.parametrize(
    ("signed_for", "fragment"),
    [
        ({"model": "fraud-detector"}, "signed for model 'fraud-detector', not 'churn-classifier'"),
        ({"stack": "dev"}, "signed for stack 'dev', not 'staging'"),
        ({"version": 2}, "signed for version 2, not 1"),
        (
            {"model": None, "stack": None, "model_package_group": None, "version": None},
            "the signed statement names no model, stack, modelPackageGroup, version",
        ),
    ],
    ids=["another-model", "another-stack", "another-version", "unbound-old-statement"],
)
def test_ping_artifact_signed_for_another_release_stays_503_and_logs_why(
    tmp_path: Path, signed_for: dict[str, object], fragment: str
) -> None:
    # given an artifact validly signed by the trusted key, but for another release than
    # the one this endpoint was deployed as (an attacker swapping in an older or other model)
    key = new_key()
    artifact = write_artifact(tmp_path / "model")
    sign(artifact, key, **signed_for)
    public_key = write_public_key(key, tmp_path / "signing.pem")
    # when the server starts
    with server(tmp_path, "other", model_dir=artifact, public_key=public_key, **SERVES) as process:
        ready, _ = process.wait_ready(60)
        status, document = process.ping()
        log = process.log_text()
    # then /ping stays 503 with the reason, and one log line says why
    assert not ready and status == 503, f"another release's artifact must not serve: {status}"
    assert fragment in document.get("reason", ""), document
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line.get("event") == "model refused"]
    assert len(refusals) == 1 and fragment in refusals[0]["reason"], f"log: {lines}"


def _start_as_sagemaker_does(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m ml.serving` in a SageMaker hosting environment (its platform variable set)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "SAGEMAKER_"))}
    full = {**base, "SAGEMAKER_SAFE_PORT_RANGE": "9000-9999", "SAGEMAKER_BIND_TO_PORT": "0"}
    return subprocess.run(
        [sys.executable, "-m", "ml.serving"],
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_server_inside_sagemaker_with_signatures_off_refuses_to_start(tmp_path: Path) -> None:
    # given a SageMaker Model whose environment turns signature checks off, with no key
    artifact = write_artifact(tmp_path / "model")
    env = {
        "SM_MODEL_DIR": str(artifact),
        "MLOPS_REQUIRE_SIGNATURE": "false",
        "MLOPS_MODEL_NAME": "churn-classifier",
        "MLOPS_STACK": "prod",
        "MLOPS_MODEL_VERSION": "3",
    }
    # when the container starts, then the server exits at once with one line
    done = _start_as_sagemaker_does(env)
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr}"
    assert done.stderr.startswith("error: refusing to start inside SageMaker without signature")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_server_inside_sagemaker_ignores_injected_settings_json(tmp_path: Path) -> None:
    # given the attacker sets the workers' settings variable directly instead of the flag
    artifact = write_artifact(tmp_path / "model")
    injected = ServeSettings(model_dir=artifact, require_signature=False, port=0).to_env()
    # when the container starts, then the same rule refuses it
    done = _start_as_sagemaker_does({SETTINGS_ENV: injected})
    assert done.returncode == 2 and "without signature enforcement" in done.stderr, done.stderr
