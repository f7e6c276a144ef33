"""Experiment tracking: a training run becomes an MLflow run equal to its record, and
the record names it (ml/tracking/runs.py)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from common.errors import MlopsError
from infra.contracts import TRACKING_ACTIONS
from ml.params import Params
from ml.provenance.manifest import build_manifest
from ml.tracking.runs import log_training_run, tracking_uri
from ml.training.local import run_local
from ml.training.record import TrainingRecord
from tests.conftest import Cli
from tests.ml.training_support import make_snapshot, small_params


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("data")).root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data: Path) -> tuple[Params, Path]:
    """One small local training (its work directory)."""
    params = small_params(num_boost_round=5, checkpoint_every=5)
    out = tmp_path_factory.mktemp("train") / "out"
    run_local(params, out, data)
    return params, out


def test_local_training_logs_a_run_equal_to_its_record(
    trained: tuple[Params, Path], tracking_store: str
) -> None:
    # given a small local training (the fixture)
    params, out = trained
    record = TrainingRecord.read(out / "training.json")
    # then the record (as written) names an MLflow run in the session's store
    written = record
    assert written.tracking is not None and written.tracking.tracking_uri == tracking_store, written
    run = MlflowClient(tracking_uri=tracking_store).get_run(written.tracking.run_id)
    # whose params are the hyperparameters and hashes, as strings
    expected_params = {key: str(value) for key, value in params.train.model_dump().items()}
    expected_params |= {
        "params_hash": record.params_hash,
        "training_data_hash": record.training_data_hash,
    }
    assert run.data.params == expected_params, run.data.params
    # whose metrics are the validation metrics plus the time (spot savings unknown locally)
    assert set(run.data.metrics) == {"accuracy", "roc_auc", "log_loss", "training_time_seconds"}
    assert run.data.metrics == {
        **record.metrics,
        "training_time_seconds": record.training_time_seconds,
    }
    # and whose tags name the data and the artifact by its manifest digest
    tags = run.data.tags
    assert tags["mlops.training_data_hash"] == record.training_data_hash, tags
    assert tags["mlops.artifact"] == str(out / "model"), tags
    digest = build_manifest(out / "model").digest()
    assert tags["mlops.artifact_digest"] == f"sha256:{digest}", tags
    assert run.info.status == "FINISHED", run.info


def test_validation_report_links_the_candidates_training_run(
    trained: tuple[Params, Path], data: Path, tmp_path: Path, cli: Cli
) -> None:
    # given a trained candidate with its training.json beside the model
    _, out = trained
    record = TrainingRecord.read(out / "training.json")
    # when `mlops validate` reports on it (no production model: absolute gates only)
    argv = [
        "validate",
        "--candidate",
        str(out / "model"),
        "--data",
        str(data),
        "--out",
        str(tmp_path),
    ]
    cli(*argv)
    # then each report names the MLflow run
    report = json.loads((tmp_path / "validation.json").read_text())
    assert record.tracking is not None
    assert report["training_run"]["run_id"] == record.tracking.run_id, report.get("training_run")
    for name in ("validation.md", "validation.html"):
        assert record.tracking.run_id in (tmp_path / name).read_text(), name


def test_two_runs_of_a_model_share_its_experiment(tracking_store: str) -> None:
    # given two runs of the same model, when both are logged
    first, second = (
        log_training_run(experiment="compare-me", run_name=name, params={"lr": lr},
                         metrics={"auc": auc}, tags={})
        for name, lr, auc in (("a", 0.1, 0.8), ("b", 0.05, 0.85))
    )  # fmt: skip
    # then they can be compared run against run in one experiment
    assert first.experiment_id == second.experiment_id, (first, second)
    runs = MlflowClient(tracking_uri=tracking_store).search_runs(
        [first.experiment_id], order_by=["metrics.auc DESC"]
    )
    assert [r.data.params["lr"] for r in runs] == ["0.05", "0.1"], runs


def test_tracking_uri_defaults_to_a_local_store_under_build(tmp_path: Path) -> None:
    # given no MLFLOW_TRACKING_URI, when the URI is resolved
    uri = tracking_uri({}, cwd=tmp_path)
    # then it is a SQLite file under build/ (no server process), and its folder exists
    assert uri == f"sqlite:///{tmp_path}/build/mlruns/mlflow.db", uri
    assert (tmp_path / "build" / "mlruns").is_dir()


def test_tracking_uri_from_the_environment_wins(tmp_path: Path) -> None:
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev"
    assert tracking_uri({"MLFLOW_TRACKING_URI": arn}, cwd=tmp_path) == arn
    assert not (tmp_path / "build").exists(), "no local store is made when a server is named"


def test_unreachable_tracking_server_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a tracking server that refuses connections
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # when a run is logged, then the error names the URI on one line (exit 1)
    with pytest.raises(MlopsError) as raised:
        log_training_run(experiment="e", run_name="r", params={}, metrics={}, tags={},
                         uri="http://127.0.0.1:9")  # fmt: skip
    message = str(raised.value)
    assert message.startswith("experiment tracking at http://127.0.0.1:9 failed:"), message
    assert "\n" not in message and raised.value.exit_code == 1, message


# MLflow's REST API (mlflow.org/docs/latest/rest-api.html) -> the IAM action SageMaker
# checks for it (service authorization reference, "Amazon SageMaker with MLflow").
REST_ACTIONS = {
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"): "sagemaker-mlflow:GetExperimentByName",
    ("POST", "/api/2.0/mlflow/experiments/create"): "sagemaker-mlflow:CreateExperiment",
    ("POST", "/api/2.0/mlflow/runs/create"): "sagemaker-mlflow:CreateRun",
    ("POST", "/api/2.0/mlflow/runs/log-batch"): "sagemaker-mlflow:LogBatch",
    ("POST", "/api/2.0/mlflow/runs/update"): "sagemaker-mlflow:UpdateRun",
    ("GET", "/api/2.0/mlflow/runs/get"): "sagemaker-mlflow:GetRun",
}
_RUN_INFO = {
    "run_id": "0123abcd", "run_uuid": "0123abcd", "experiment_id": "7", "status": "RUNNING",
    "start_time": 1, "lifecycle_stage": "active", "artifact_uri": "s3://bucket/mlflow/7",
}  # fmt: skip


class _FakeTrackingServer(BaseHTTPRequestHandler):
    """Answers the five calls a training run makes, and records each with its signature."""

    calls: list[tuple[str, str, str]] = []

    def _answer(self, method: str) -> None:
        path = self.path.split("?")[0]
        self.calls.append((method, path, self.headers.get("Authorization", "")))
        if path.endswith("get-by-name"):
            status, body = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "none"}
        elif path.endswith("experiments/create"):
            status, body = 200, {"experiment_id": "7"}
        elif path.endswith("runs/create") or path.endswith("runs/get"):
            status, body = 200, {"run": {"info": _RUN_INFO, "data": {}}}
        elif path.endswith("runs/update"):
            status, body = 200, {"run_info": {**_RUN_INFO, "status": "FINISHED"}}
        else:
            status, body = 200, {}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer("POST")

    def log_message(self, *args: object) -> None:
        pass


def test_logging_to_the_stack_server_makes_only_the_granted_calls_signed_for_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the stack's tracking server ARN, served here by a fake that records each request
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeTrackingServer)
    _FakeTrackingServer.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev"
    try:
        # when a run is logged there
        link = log_training_run(
            experiment="churn",
            run_name="job-1",
            params={"lr": 0.1},
            metrics={"auc": 0.9},
            tags={"mlops.mode": "sagemaker"},
            uri=arn,
        )
    finally:
        server.shutdown()
        server.server_close()
    # then the calls are exactly those whose actions infra grants, SigV4-signed for them
    actions = [
        REST_ACTIONS.get((method, path), f"{method} {path}")
        for method, path, _ in _FakeTrackingServer.calls
    ]
    assert sorted(set(actions)) == sorted(TRACKING_ACTIONS), actions
    scopes = {
        auth.split("Credential=")[1].split(",")[0].split("/", 2)[2]
        for *_, auth in _FakeTrackingServer.calls
    }
    assert scopes == {"eu-west-1/sagemaker-mlflow/aws4_request"}, scopes
    assert link.run_id == "0123abcd" and link.tracking_uri == arn, link


def test_logging_to_a_server_leaves_the_process_tracking_uri_as_it_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given a process whose runs go to a local store (what the next training run will use)
    local = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", local)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", "http://127.0.0.1:9")  # refuses
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev"
    # when one run is logged to the stack's server (which cannot be reached here)
    with pytest.raises(MlopsError):
        log_training_run(
            experiment="churn", run_name="job-1", params={}, metrics={}, tags={}, uri=arn
        )
    # then MLflow's global URI and the environment still name the local store
    import mlflow

    assert os.environ["MLFLOW_TRACKING_URI"] == local
    assert mlflow.get_tracking_uri() == local
