"""Training: the container contract, checkpoints, exact resume after SIGTERM and SIGKILL,
and `mlops train --local`."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import yaml
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from common.errors import MlopsError
from ml.data.hashing import training_data_hash
from ml.data.io import read_channel
from ml.params import Params
from ml.training.artifact import load_artifact
from ml.training.checkpoint import CheckpointStore, RunIdentity
from ml.training.entry import main as entry_main
from ml.training.entry import run
from ml.training.local import LocalLayout, container_environment
from ml.training.trainer import Interrupted, TrainingData, train_booster
from tests.conftest import Cli, wait_until
from tests.ml.training_support import (
    container_env,
    make_snapshot,
    small_params,
    train_in_process,
    validation_predictions,
)

KILL_ROWS = 20_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("data")).root


def _stop_after(rounds: int) -> Callable[[], bool]:
    """A `should_stop` that turns true after `rounds` boosting rounds (as SIGTERM would)."""
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1  # one call before training, then one per round
        return calls > rounds

    return should_stop


def _inputs(data: Path, params: Params) -> tuple[TrainingData, RunIdentity]:
    frame, schema = read_channel(data / "train")
    identity = RunIdentity(params.train.params_hash(), training_data_hash(frame))
    return TrainingData.from_frame(frame, schema), identity


def _predict(booster, data: Path) -> np.ndarray:
    frame, schema = read_channel(data / "validation")
    return booster.predict(TrainingData.from_frame(frame, schema).features)


def test_entry_writes_the_artifact_contract(tmp_path: Path, data: Path) -> None:
    # given the container layout and small hyperparameters
    params = small_params()
    # when the entry point trains
    model_dir = train_in_process(tmp_path / "work", data, params)
    # then model.txt and model.json follow the contract
    meta = json.loads((model_dir / "model.json").read_text())
    frame, _ = read_channel(data / "train")
    assert (model_dir / "model.txt").read_text().startswith("tree"), "LightGBM text model"
    assert meta["format_version"] == 1 and meta["library"] == "lightgbm", "format and library"
    assert meta["n_features"] == len(meta["features"]) == 20, "features in column order"
    assert meta["classes"] == [0, 1], "binary classifier"
    assert meta["training_data_hash"] == training_data_hash(frame), "hash of the train channel"
    assert meta["training"]["iterations"] == 30 and meta["training"]["seed"] == 42, (
        "training details"
    )
    # and the validation metrics are scikit-learn's on LightGBM's own predictions
    frame, schema = read_channel(data / "validation")
    labels = frame[schema.label].to_numpy()
    proba = lgb.Booster(model_file=str(model_dir / "model.txt")).predict(
        TrainingData.from_frame(frame, schema).features
    )
    recorded = meta["metrics"]["validation"]
    assert recorded["rows"] == len(labels) == frame.height, "every validation row counted"
    assert recorded["accuracy"] == pytest.approx(accuracy_score(labels, proba >= 0.5), abs=1e-12)
    assert recorded["roc_auc"] == pytest.approx(roc_auc_score(labels, proba), abs=1e-12)
    assert recorded["log_loss"] == pytest.approx(log_loss(labels, proba), rel=1e-9)
    assert meta["params"]["num_boost_round"] == 30, "hyperparameters recorded"


@pytest.mark.parametrize("rounds", [1, 7, 29])
def test_resume_after_interruption_at_any_round_is_bit_identical(
    tmp_path: Path, data: Path, rounds: int
) -> None:
    # given an uninterrupted run
    params = small_params()
    training, identity = _inputs(data, params)
    whole = train_booster(training, params.train, None)
    # and a run stopped after `rounds` rounds, checkpointed
    store = CheckpointStore(tmp_path / "ckpt", identity)
    with pytest.raises(Interrupted):
        train_booster(training, params.train, store, _stop_after(rounds))
    # when it is resumed
    resumed = train_booster(training, params.train, store)
    # then it resumed from that round and predicts exactly the same
    assert resumed.resumed_from == rounds, "must resume from the interruption's checkpoint"
    assert _predict(resumed.booster, data).tobytes() == _predict(whole.booster, data).tobytes(), (
        "resumed model must predict bit for bit like the uninterrupted one"
    )
    # and its model text is the same bytes, parameter block included
    assert "[num_iterations: 30]" in resumed.model_text, "records the run's 30 rounds, not 30-n"
    assert resumed.model_text == whole.model_text, "resumed model.txt must equal uninterrupted"


class _StopAfter:
    """The entry point's SIGTERM flag, raised after `rounds` boosting rounds."""

    def __init__(self, rounds: int):
        self._checks = _stop_after(rounds)

    @property
    def received(self) -> bool:
        return self._checks()


def _artifact_digests(model_dir: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(model_dir.iterdir())
    }


def test_entry_resumed_after_interruption_writes_the_same_artifact_bytes(
    tmp_path: Path, data: Path
) -> None:
    # given the artifact of an uninterrupted run
    params = small_params()
    whole = train_in_process(tmp_path / "whole", data, params)
    # and a run of the same job stopped by SIGTERM after round 20, checkpointed
    env = container_env(tmp_path / "job", data, params)
    with pytest.raises(Interrupted):
        run(env, _StopAfter(20))
    # when the job runs again
    facts = run(env)
    # then it resumed from round 20, and every file of the artifact has the same bytes
    assert facts["resumed_from_iteration"] == 20, facts
    resumed = _artifact_digests(Path(env["SM_MODEL_DIR"]))
    assert set(resumed) == {"model.txt", "model.json"}, resumed
    assert resumed == _artifact_digests(whole), "sha256 of model.txt and model.json must match"
    # and the run's own facts are kept beside the artifact, not in it
    run_file = json.loads((tmp_path / "job" / "output" / "data" / "training-run.json").read_text())
    assert run_file["resumed_from_iteration"] == 20 and run_file["iterations"] == 30, run_file


def test_resume_refuses_checkpoint_of_other_hyperparameters(tmp_path: Path, data: Path) -> None:
    # given a checkpoint written with num_leaves 31
    params = small_params()
    training, identity = _inputs(data, params)
    with pytest.raises(Interrupted):
        train_booster(training, params.train, CheckpointStore(tmp_path, identity), _stop_after(5))
    # when a run with other hyperparameters starts in the same directory
    other = small_params(num_leaves=15)
    store = CheckpointStore(tmp_path, RunIdentity(other.train.params_hash(), identity.data_hash))
    # then it refuses, in one line, saying what differs
    with pytest.raises(
        MlopsError, match=r"written for different hyperparameters .* refusing"
    ) as raised:
        train_booster(training, other.train, store)
    assert "\n" not in str(raised.value), "one line"


def test_resume_refuses_checkpoint_of_other_data(tmp_path: Path, data: Path) -> None:
    params = small_params()
    training, identity = _inputs(data, params)
    with pytest.raises(Interrupted):
        train_booster(training, params.train, CheckpointStore(tmp_path, identity), _stop_after(5))
    store = CheckpointStore(tmp_path, RunIdentity(identity.params_hash, "sha256:" + "0" * 64))
    with pytest.raises(MlopsError, match="written for different training data"):
        store.latest()


def test_latest_skips_damaged_checkpoint_and_temporaries(tmp_path: Path) -> None:
    # given two checkpoints, the newest truncated (a partial sync), and a leftover temp file
    store = CheckpointStore(tmp_path, RunIdentity("sha256:p", "sha256:d"))
    store.save(5, "tree\nfive")
    newest = store.save(10, "tree\nten" * 100)
    newest.write_bytes(newest.read_bytes()[:-7])
    temporary = tmp_path / ".checkpoint-abc.tmp"
    temporary.write_bytes(b"half a checkpoint")
    # when the latest checkpoint is asked for
    latest = store.latest()
    # then the intact older one is used and the temp file is gone
    assert latest is not None and latest.iteration == 5, "must fall back to the intact checkpoint"
    assert latest.model_text == "tree\nfive", "model text as saved"
    assert not temporary.exists(), "temporaries are removed"


def test_checkpoint_store_keeps_the_last_three(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, RunIdentity("sha256:p", "sha256:d"))
    for iteration in (5, 10, 15, 20, 25):
        store.save(iteration, f"tree {iteration}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "checkpoint-000015.ckpt",
        "checkpoint-000020.ckpt",
        "checkpoint-000025.ckpt",
    ], names


@pytest.fixture
def restore_sigterm() -> Iterator[None]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def test_entry_unknown_hyperparameter_exits_2_with_failure_file(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch, restore_sigterm: None
) -> None:
    # given a job whose hyperparameters contain a key the model does not know
    env = container_env(tmp_path, data, small_params())
    env["SM_HPS"] = json.dumps({"num_boost_round": 10, "bagging_fraction": 0.5})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # when the entry point runs
    code = entry_main()
    # then it exits 2 and tells SageMaker why, in one line
    failure = (tmp_path / "output" / "failure").read_text()
    assert code == 2, "bad input"
    assert "unknown hyperparameter 'bagging_fraction'" in failure, failure
    assert failure.count("\n") == 1, "one line"


def test_entry_reads_hyperparameters_json_without_sm_hps(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch, restore_sigterm: None
) -> None:
    # given no SM_HPS, and the job's hyperparameters.json with string values
    env = container_env(tmp_path, data, small_params())
    del env["SM_HPS"]
    config = Path(env["SM_INPUT_CONFIG_DIR"])
    config.mkdir(parents=True)
    hyper = small_params(num_boost_round=12).train.as_hyperparameters()
    (config / "hyperparameters.json").write_text(json.dumps(hyper))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # when the entry point runs
    code = entry_main()
    # then it trains with those hyperparameters
    meta = json.loads((Path(env["SM_MODEL_DIR"]) / "model.json").read_text())
    assert code == 0, "training succeeds"
    assert meta["training"]["iterations"] == 12, "num_boost_round from hyperparameters.json"


def test_load_artifact_without_metadata_is_one_line_error(tmp_path: Path, data: Path) -> None:
    model_dir = train_in_process(tmp_path / "work", data, small_params(num_boost_round=3))
    (model_dir / "model.json").unlink()
    with pytest.raises(MlopsError, match=r"not a model artifact \(model.json is missing\)"):
        load_artifact(model_dir)


# --- a real training process, killed and resumed ------------------------------------------


def _kill_params() -> Params:
    """Long enough (a few seconds) that a kill lands mid-run."""
    return small_params(num_boost_round=200, checkpoint_every=5)


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("kill-data"), rows=KILL_ROWS).root


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, kill_data: Path) -> Path:
    return train_in_process(tmp_path_factory.mktemp("whole"), kill_data, _kill_params())


def _start(work: Path, data: Path) -> subprocess.Popen:
    env = container_environment(_kill_params(), LocalLayout(work), data)
    return subprocess.Popen(
        [sys.executable, "-m", "ml.training"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_checkpoints(work: Path, process: subprocess.Popen, count: int) -> None:
    def checkpointed() -> bool:
        if process.poll() is not None:
            pytest.fail(
                f"training ended before it could be killed: {process.stderr.read().decode()}"
            )
        return len(list((work / "checkpoints").glob("checkpoint-*.ckpt"))) >= count

    try:
        wait_until(checkpointed, 120, f"{count} checkpoint(s) to appear", poll=0.005)
    except AssertionError:
        process.kill()
        raise


def _resume(work: Path, data: Path) -> dict:
    """Run the job again; the run's facts (`training-run.json`)."""
    process = _start(work, data)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"resumed run failed: {stderr.decode()}"
    return json.loads((work / "output" / "data" / "training-run.json").read_text())


@pytest.mark.slow
def test_sigterm_mid_run_then_resume_is_bit_identical(
    tmp_path: Path, kill_data: Path, uninterrupted: Path
) -> None:
    # given a training process interrupted by SIGTERM (a spot interruption) mid-run
    process = _start(tmp_path, kill_data)
    _wait_for_checkpoints(tmp_path, process, 1)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, "interrupted runs exit 143"
    assert not (tmp_path / "model" / "model.txt").exists(), "the kill must land before the end"
    # when the same job starts again
    run_facts = _resume(tmp_path, kill_data)
    # then it resumed from its checkpoint and the artifact is an uninterrupted one's, byte for byte
    assert 0 < run_facts["resumed_from_iteration"] < 200, run_facts
    predictions = validation_predictions(tmp_path / "model", kill_data)
    expected = validation_predictions(uninterrupted, kill_data)
    assert predictions.tobytes() == expected.tobytes(), "resume after SIGTERM must be exact"
    assert _artifact_digests(tmp_path / "model") == _artifact_digests(uninterrupted), "same bytes"


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_bit_identical(
    tmp_path: Path, kill_data: Path, uninterrupted: Path
) -> None:
    # given a training process killed with SIGKILL (no chance to clean up) mid-run
    process = _start(tmp_path, kill_data)
    _wait_for_checkpoints(tmp_path, process, 2)
    process.kill()
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, "killed"
    assert not (tmp_path / "model" / "model.txt").exists(), "the kill must land before the end"
    # when the same job starts again
    run_facts = _resume(tmp_path, kill_data)
    # then it resumed from the newest intact checkpoint and the artifact is the same bytes
    assert run_facts["resumed_from_iteration"] >= 10, run_facts
    predictions = validation_predictions(tmp_path / "model", kill_data)
    expected = validation_predictions(uninterrupted, kill_data)
    assert predictions.tobytes() == expected.tobytes(), "resume after SIGKILL must be exact"
    assert _artifact_digests(tmp_path / "model") == _artifact_digests(uninterrupted), "same bytes"


# --- mlops train --local -------------------------------------------------------------------


def _params_file(tmp_path: Path, params: Params) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    return path


def test_train_local_cli_trains_and_records(tmp_path: Path, data: Path, cli: Cli) -> None:
    # given a params file and existing channels
    params_file = _params_file(tmp_path, small_params(num_boost_round=10))
    # when `mlops train --local` runs
    code, _, err = cli(
        "train", "--local", "--params", params_file, "--data", data, "--out", tmp_path / "out"
    )
    # then the artifact and the training record exist
    record = json.loads((tmp_path / "out" / "training.json").read_text())
    assert code == 0, err
    assert load_artifact(tmp_path / "out" / "model").metadata.training["iterations"] == 10, (
        "artifact"
    )
    assert record["mode"] == "local" and record["training_time_seconds"] > 0, record
    assert record["spot_savings_percent"] is None, "no spot locally"


@pytest.mark.slow
def test_train_local_refuses_checkpoints_of_other_hyperparameters(
    tmp_path: Path, data: Path, cli: Cli
) -> None:
    # given a finished local run
    out = str(tmp_path / "out")
    first = _params_file(tmp_path / "a", small_params(num_boost_round=4))
    first_run = cli("train", "--local", "--params", first, "--data", data, "--out", out)
    assert first_run.exit_code == 0, first_run.stderr
    # when a hyperparameter changes and the same command runs again without --fresh
    second = _params_file(tmp_path / "b", small_params(num_boost_round=6))
    code, _, err = cli("train", "--local", "--params", second, "--data", data, "--out", out)
    # then it refuses to resume, in one line, saying why and how to start over
    assert code == 2, "a checkpoint of another configuration is bad input"
    assert "written for different hyperparameters" in err and "--fresh" in err, err
    assert err.count("\n") == 1, err


def test_train_cli_needs_exactly_one_mode(cli: Cli) -> None:
    code, _, err = cli("train")
    assert code == 2, "bad input"
    assert "error: choose exactly one of --local and --sagemaker" in err, err


def test_train_local_cli_reports_missing_channel(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    code, _, err = cli(
        "train", "--local", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")
    )
    assert code == 2, "bad input"
    assert "no validation/ channel directory" in err and err.count("\n") == 1, err


def test_environment_has_the_sagemaker_layout(tmp_path: Path) -> None:
    env = container_environment(small_params(), LocalLayout(tmp_path), tmp_path / "data", base={})
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "data" / "train"), "train channel"
    assert env["SM_CHANNEL_VALIDATION"] == str(tmp_path / "data" / "validation"), (
        "validation channel"
    )
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model"), "model dir"
    assert json.loads(env["SM_HPS"])["num_boost_round"] == 30, "hyperparameters as SM_HPS"
    assert os.path.basename(env["MLOPS_CHECKPOINT_DIR"]) == "checkpoints", "checkpoint dir"
