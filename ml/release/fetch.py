"""Fetch the model a stack serves, verified, e.g. as the baseline a candidate is validated
against ("validate against production").

The version is the stack file's, the bytes are the registry package's `model.tar.gz`,
and nothing is extracted before the provenance check (signature, approval, gates) has
passed on exactly the downloaded files.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from infra.config import StackConfig
from ml.errors import MlopsError
from ml.provenance.check import PackageCheck, Verifier, check_model_package
from ml.release.endpoints import group_name


def fetch_serving_model(
    cfg: StackConfig,
    model: str,
    out: Path,
    *,
    sagemaker: Any,
    s3: Any,
    verifier: Verifier,
    version: int | None = None,
) -> PackageCheck:
    """Download, verify and extract the model version the stack serves into `out`."""
    from ml.artifacts import download_file, parse_s3_uri
    from ml.registry.packages import find_package

    if model not in cfg.models:
        raise MlopsError(f"stack {cfg.environment} declares no model {model!r}")
    chosen = version or cfg.models[model].version
    if chosen is None:
        raise MlopsError(
            f"stack {cfg.environment}: {model} declares no version yet; nothing serves to fetch"
        )
    group = group_name(cfg, model)
    package = find_package(sagemaker, group, chosen)
    if not package.model_data_url or not package.signature_s3_uri:
        raise MlopsError(f"model package {group}/{chosen}: no model data or signature recorded")
    with tempfile.TemporaryDirectory(prefix="mlops-fetch-") as tmp:
        tarball = download_file(s3, parse_s3_uri(package.model_data_url), Path(tmp, "model.tar.gz"))
        envelope = download_file(s3, parse_s3_uri(package.signature_s3_uri), Path(tmp, "sig.json"))
        check = check_model_package(
            sagemaker,
            s3,
            verifier,
            group=group,
            version=chosen,
            artifact=tarball,
            envelope=envelope,
        )
        if not check.ok:
            raise MlopsError(f"not fetching: {check.reason}", exit_code=1)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(out, filter="data")  # no absolute paths, links out, devices
    return check
