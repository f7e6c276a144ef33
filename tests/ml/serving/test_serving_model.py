"""Loading a model for serving: signature first, then the compiled predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.serving import model as serving_model
from ml.serving.model import NotServable, compile_model, load_model
from ml.serving.settings import ServeSettings
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    Aws,
    aws_fixture,
    sign_directory,
    signing_key_fixture,
)
from tests.ml.serving_support import (
    N_FEATURES,
    booster,
    categorical_booster,
    new_key,
    rows,
    sign,
    write_artifact,
    write_public_key,
)

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def predictor():
    return compile_model(booster().model_to_string().encode(), N_FEATURES)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """(artifact, public key PEM) for an artifact signed with a fresh local key."""
    key = new_key()
    artifact = write_artifact(tmp_path / "model")
    sign(artifact, key)
    return artifact, write_public_key(key, tmp_path / "signing.pem")


def settings(artifact: Path, **values: object) -> ServeSettings:
    return ServeSettings(model_dir=artifact, **values)


def test_predict_batch_with_missing_values_equals_lightgbm(predictor) -> None:
    # given 5,000 rows, 10% of the values missing
    data = rows(5000, missing=0.1)
    # when the compiled predictor and LightGBM both score them
    ours, theirs = predictor.predict(data), booster().predict(data)
    # then every prediction agrees to 1e-6
    worst = float(np.max(np.abs(ours - theirs)))
    assert worst <= TOLERANCE, f"largest difference to LightGBM is {worst:.3g}"


def test_predict_row_equals_lightgbm(predictor) -> None:
    data = rows(200, seed=5, missing=0.1)
    ours = np.array([predictor.predict_row(row) for row in data.tolist()])
    worst = float(np.max(np.abs(ours - booster().predict(data))))
    assert worst <= TOLERANCE, f"largest single-row difference to LightGBM is {worst:.3g}"


def test_predict_categorical_features_equals_lightgbm() -> None:
    # given a model with categorical splits, and codes it never saw, negative or fractional
    model = categorical_booster()
    compiled = compile_model(model.model_to_string().encode(), N_FEATURES)
    data = rows(2000, seed=9, missing=0.05)
    data[:, 0] = np.random.default_rng(9).choice([0, 1, 2, 3, 4, 5, 9, -1, 2.5, np.nan], 2000)
    # then the compiled predictor routes every one like LightGBM
    worst = float(np.max(np.abs(compiled.predict(data) - model.predict(data))))
    assert worst <= TOLERANCE, f"largest difference to LightGBM is {worst:.3g}"


def test_load_signed_artifact_with_public_key_serves(signed: tuple[Path, Path]) -> None:
    artifact, public_key = signed
    loaded = load_model(settings(artifact, public_key=public_key))
    assert loaded.card.n_features == N_FEATURES, "model.json's features should be loaded"
    assert loaded.provenance.startswith("verified"), f"provenance: {loaded.provenance}"


def test_load_signed_artifact_with_inline_pem_serves(signed: tuple[Path, Path]) -> None:
    # given the public key inline, as the SageMaker Model passes it in the environment
    artifact, public_key = signed
    loaded = load_model(settings(artifact, public_key_pem=public_key.read_text()))
    assert loaded.provenance.startswith("verified"), f"provenance: {loaded.provenance}"


def test_load_unsigned_artifact_is_refused(tmp_path: Path) -> None:
    # given an artifact without signature.dsse.json and a configured public key
    artifact = write_artifact(tmp_path / "model")
    public_key = write_public_key(new_key(), tmp_path / "signing.pem")
    # when it is loaded, then it is refused with a reason naming the signature
    with pytest.raises(NotServable, match="signature"):
        load_model(settings(artifact, public_key=public_key))


def test_load_tampered_model_is_refused_naming_the_file(signed: tuple[Path, Path]) -> None:
    artifact, public_key = signed
    text = (artifact / "model.txt").read_text()
    (artifact / "model.txt").write_text(text.replace("learning_rate", "learning_ratf", 1))
    with pytest.raises(NotServable, match=r"model\.txt"):
        load_model(settings(artifact, public_key=public_key))


def test_load_artifact_signed_by_another_key_is_refused(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    artifact, _ = signed
    stranger = write_public_key(new_key(), tmp_path / "other.pem")
    with pytest.raises(NotServable, match="another key"):
        load_model(settings(artifact, public_key=stranger))


def test_load_without_key_is_refused_when_signature_required(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "model")
    with pytest.raises(NotServable, match="MLOPS_SIGNING_PUBLIC_KEY"):
        load_model(settings(artifact))


def test_load_without_key_serves_when_signature_not_required(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "model")
    loaded = load_model(settings(artifact, require_signature=False))
    assert "not checked" in loaded.provenance, f"the skip must be stated: {loaded.provenance}"


def test_load_signed_artifact_verifies_through_kms(
    aws: Aws, signing_key: str, tmp_path: Path
) -> None:
    # given an artifact signed through (emulated) KMS
    artifact = write_artifact(tmp_path / "model")
    sign_directory(aws.kms, signing_key, artifact)
    # when the server verifies with the KMS key id, then it loads
    loaded = load_model(settings(artifact, key_id="alias/mlops-test-signing"))
    assert loaded.provenance.startswith("verified"), f"provenance: {loaded.provenance}"


def test_load_model_changed_after_verification_is_refused(
    signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given model.txt swapped between the signature check and the read
    artifact, public_key = signed
    real_read = serving_model._read
    monkeypatch.setattr(
        serving_model,
        "_read",
        lambda path: real_read(path) + b"\n" if path.name == "model.txt" else real_read(path),
    )
    with pytest.raises(NotServable, match="changed after its signature was verified"):
        load_model(settings(artifact, public_key=public_key))


def test_load_card_with_other_feature_count_is_refused(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "model", features=[f"f{i}" for i in range(N_FEATURES + 1)])
    with pytest.raises(NotServable, match="expects 8 features"):
        load_model(settings(artifact, require_signature=False))


def test_load_unparsable_model_text_is_refused(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "model")
    (artifact / "model.txt").write_text("not a model\n")
    with pytest.raises(NotServable, match=r"model\.txt"):
        load_model(settings(artifact, require_signature=False))


def test_load_card_of_another_library_is_refused(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "model")
    card = json.loads((artifact / "model.json").read_text())
    (artifact / "model.json").write_text(json.dumps({**card, "library": "xgboost"}))
    with pytest.raises(NotServable, match="only lightgbm"):
        load_model(settings(artifact, require_signature=False))


# --- promoted models (prod serves what staging signed) --------------------------------------


def _promoted(tmp_path: Path) -> tuple[Path, str]:
    """An artifact signed by a staging key for staging v3, and prod's PEM bundle: prod's own
    key first, then the staging key it trusts (as infra passes MLOPS_SIGNING_PUBLIC_KEY_PEM)."""
    staging_key = new_key()
    artifact = write_artifact(tmp_path / "model")
    sign(artifact, staging_key, stack="staging", version=3)
    own = write_public_key(new_key(), tmp_path / "prod.pem").read_text()
    trusted = write_public_key(staging_key, tmp_path / "staging.pem").read_text()
    return artifact, own + trusted


def test_load_promoted_model_in_prod_serves_with_the_trusted_source_key(tmp_path: Path) -> None:
    # given prod told to serve churn-classifier v1 and to take promotions from staging
    artifact, bundle = _promoted(tmp_path)
    loaded = load_model(
        settings(
            artifact,
            public_key_pem=bundle,
            model_name="churn-classifier",
            stack="prod",
            model_version=1,
            promoted_from="staging",
        )
    )
    # then the staging signature verifies with the second key of the bundle
    assert "signed for mlops-staging-churn-classifier v3 (staging)" in loaded.provenance, (
        loaded.provenance
    )


def test_load_staging_signed_model_in_prod_without_promotion_is_refused(tmp_path: Path) -> None:
    # The attack: a staging-signed artifact served by a prod that takes no promotions
    artifact, bundle = _promoted(tmp_path)
    with pytest.raises(NotServable, match="signed for stack 'staging', not 'prod'"):
        load_model(
            settings(
                artifact,
                public_key_pem=bundle,
                model_name="churn-classifier",
                stack="prod",
                model_version=1,
            )
        )


def test_load_promoted_model_of_another_model_is_refused(tmp_path: Path) -> None:
    artifact, bundle = _promoted(tmp_path)
    with pytest.raises(NotServable, match="signed for model 'churn-classifier', not 'fraud'"):
        load_model(
            settings(
                artifact,
                public_key_pem=bundle,
                model_name="fraud",
                stack="prod",
                model_version=1,
                promoted_from="staging",
            )
        )
