"""The validation drift gate compares the candidate's training data with production's
reference (the reference channel of the data production was trained on, in S3), never
with a split of the candidate's own snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.conftest import Cli
from tests.ml.training_support import make_snapshot, small_params, train_in_process

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A candidate, and two production models trained on other snapshots: one from the
    same world (another seed), one where monthly charges were 25 lower."""
    root = tmp_path_factory.mktemp("reference")
    data = make_snapshot(root / "data", seed=1).root
    same = make_snapshot(root / "same", seed=5).root
    shifted = make_snapshot(root / "shifted", seed=6, shift={"monthly_charges": -25.0}).root
    return {
        "root": root,
        "data": data,
        "candidate": train_in_process(root / "candidate", data, small_params()),
        "same": same,
        "production-same": train_in_process(root / "p-same", same, small_params()),
        "shifted": shifted,
        "production-shifted": train_in_process(root / "p-shifted", shifted, small_params()),
    }


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


def _stage_reference(s3: object, world: dict[str, Path], which: str) -> str:
    """Where the launcher staged production's reference channel: datasets/<model>/<first
    16 hex of its training data hash>/reference/ (read from production's model.json)."""
    model_json = json.loads((world[f"production-{which}"] / "model.json").read_text())
    digest = model_json["training_data_hash"].removeprefix("sha256:")[:16]
    key = f"datasets/churn-classifier/{digest}/reference/reference.csv"
    s3.upload_file(str(world[which] / "reference" / "reference.csv"), "data", key)  # type: ignore[attr-defined]
    return key


def _validate(
    cli: Cli, world: dict[str, Path], which: str, out: str, *extra: str
) -> tuple[int, str]:
    code, _, err = cli(
        "validate", "--candidate", world["candidate"], "--production", world[f"production-{which}"],
        "--data", world["data"], "--out", world["root"] / out, *extra,
    )  # fmt: skip
    return code, err


def _gate(world: dict[str, Path], out: str) -> dict:
    report = json.loads((world["root"] / out / "validation.json").read_text())
    return next(g for g in report["gates"] if g["name"] == "drifted_features")


def test_the_gate_fails_when_training_data_drifted_from_productions_reference(
    world: dict[str, Path], bucket: object, cli: Cli
) -> None:
    # given production trained where monthly charges were 25 lower, its reference in S3
    key = _stage_reference(bucket, world, "shifted")
    # when the candidate is validated against it
    code, err = _validate(cli, world, "shifted", "shifted", "--reference-bucket", "data")
    # then the drift gate fails (exit 1, a failed gate), naming the feature
    gate = _gate(world, "shifted")
    assert code == 1 and "drifted feature(s)" in err, err
    assert not gate["passed"] and "(monthly_charges)" in gate["message"], gate
    report = json.loads((world["root"] / "shifted" / "validation.json").read_text())
    assert report["reference"] == f"s3://data/{key}"


def test_the_gate_passes_when_production_saw_the_same_world(
    world: dict[str, Path], bucket: object, cli: Cli
) -> None:
    _stage_reference(bucket, world, "same")
    _validate(cli, world, "same", "same", "--reference-bucket", "data")
    gate = _gate(world, "same")
    assert gate["passed"] and gate["candidate"] == 0.0, gate


def test_a_split_of_the_candidates_own_snapshot_is_refused(
    world: dict[str, Path], cli: Cli
) -> None:
    own = world["data"] / "reference" / "reference.csv"
    code, err = _validate(cli, world, "shifted", "own", "--reference", str(own))
    assert code == 2 and "a split of the candidate's own snapshot" in err, err
    assert err.count("\n") == 1, err


def test_production_from_other_data_needs_its_reference(world: dict[str, Path], cli: Cli) -> None:
    # with no --reference-bucket the gate would fall back to the candidate's own split
    code, err = _validate(cli, world, "shifted", "none")
    assert code == 2 and "pass --reference-bucket" in err and err.count("\n") == 1, err


def test_a_missing_production_reference_is_one_line(
    world: dict[str, Path], bucket: object, cli: Cli
) -> None:
    code, err = _validate(cli, world, "same", "missing", "--reference-bucket", "data")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
