"""Helpers for the serving, canary and Dockerfile tests: small real models, signatures.

Models are real LightGBM boosters trained here in a fraction of a second (8 features,
20 trees), written as the trainer's artifact contract (`model.txt` + `model.json`).
Signatures go through the provenance API (`sign_artifact`) with a throwaway local
ECDSA P-256 key, so the server verifies them offline with the exported public key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import lightgbm as lgb
import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner

from ml.provenance.envelope import public_key_pem, sslib_key, write_envelope
from ml.provenance.sign import sign_artifact
from ml.serving.process import ServerProcess, serve_in_background
from ml.serving.settings import ServeSettings
from tests.ml.provenance_support import provenance

N_FEATURES = 8
FEATURES = tuple(f"x{i}" for i in range(N_FEATURES))


@cache
def booster(n_features: int = N_FEATURES, trees: int = 20, seed: int = 0) -> lgb.Booster:
    """A binary classifier whose training data has missing values, so that its trees
    route NaN explicitly (the server must route them the same way)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4000, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=len(x)) > 0).astype(int)
    x[rng.random(size=x.shape) < 0.05] = np.nan
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "learning_rate": 0.1,
        "verbose": -1,
        "seed": seed,
        "num_threads": 1,
    }
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=trees)


@cache
def categorical_booster() -> lgb.Booster:
    """Two categorical features (integer codes 0..5), as the churn model has three."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, N_FEATURES))
    x[:, :2] = rng.integers(0, 6, size=(4000, 2))
    y = ((x[:, 0] % 3 == 1) ^ (x[:, 2] > 0.3)).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "verbose": -1,
        "seed": 4,
        "num_threads": 1,
        "min_data_per_group": 5,
        "cat_smooth": 1,
    }
    return lgb.train(params, lgb.Dataset(x, y, categorical_feature=[0, 1]), num_boost_round=20)


def write_artifact(
    directory: Path, model: lgb.Booster | None = None, features: Sequence[str] = FEATURES
) -> Path:
    """`model.txt` + `model.json` as the trainer writes them."""
    model = model or booster()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_model(str(directory / "model.txt"))
    card = {
        "format_version": 1,
        "library": "lightgbm",
        "library_version": lgb.__version__,
        "features": list(features),
        "n_features": len(features),
        "classes": [0, 1],
        "params": {"num_leaves": 15},
        "training_data_hash": "sha256:" + "ab" * 32,
        "metrics": {"roc_auc": 0.9},
        "training": {"iterations": model.current_iteration(), "seed": 0},
    }
    (directory / "model.json").write_text(json.dumps(card), encoding="utf-8")
    return directory


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_public_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(public_key_pem(key.public_key()))
    return path


def sign(artifact: Path, key: ec.EllipticCurvePrivateKey, **signed_for: object) -> Path:
    """Sign with the provenance API and a local key; the envelope goes inside the artifact.
    The statement is for churn-classifier in staging v1 unless `signed_for` says otherwise."""
    signer = CryptoSigner(key, sslib_key(key.public_key()))
    signed = sign_artifact(artifact, provenance(**signed_for), signer)
    target = artifact / "signature.dsse.json"
    write_envelope(signed.envelope, target)
    return target


def rows(
    count: int, n_features: int = N_FEATURES, seed: int = 1, missing: float = 0.0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(count, n_features))
    if missing:
        data[rng.random(size=data.shape) < missing] = np.nan
    return data


def csv(data: np.ndarray) -> bytes:
    """CSV rows in round-trip precision; NaN as an empty field (a missing value)."""
    lines = [",".join("" if np.isnan(v) else repr(v) for v in row) for row in data.tolist()]
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def server(tmp: Path, name: str = "server", **settings: object) -> Iterator[ServerProcess]:
    """`python -m ml.serving` on loopback with these settings (one worker)."""
    values: dict[str, object] = {"workers": 1, **settings}
    with serve_in_background(
        name, ServeSettings.model_validate(values), tmp / f"{name}.log"
    ) as process:
        yield process
