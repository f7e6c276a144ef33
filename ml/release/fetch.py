"""Fetch the model a stack serves, verified, e.g. as the baseline a candidate is validated
against ("validate against production").

The version is the stack file's, the bytes are the registry package's `model.tar.gz`,
and nothing is extracted before the provenance check (signature, approval, gates) has
passed on exactly the downloaded files.

`fetch_for_server` is the Kubernetes pod's init step (`mlops model fetch`, as the pod's
own IRSA role): the same check, then the server's own verification of the extracted
model, so the pod never starts a server on bytes the server would refuse.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.config import StackConfig
from infra.contracts import Env
from ml.provenance.check import Verifier
from ml.registry.check import PackageCheck, check_model_package
from ml.release.endpoints import group_name
from ml.serving.settings import ServeSettings


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
    if model not in cfg.models:
        raise MlopsError(f"stack {cfg.environment} declares no model {model!r}")
    chosen = version or cfg.models[model].version
    if chosen is None:
        raise MlopsError(
            f"stack {cfg.environment}: {model} declares no version yet; nothing serves to fetch"
        )
    return fetch_package(
        group_name(cfg, model), chosen, out, sagemaker=sagemaker, s3=s3, verifier=verifier
    )


def fetch_package(
    group: str, version: int, out: Path, *, sagemaker: Any, s3: Any, verifier: Verifier
) -> PackageCheck:
    """Download `group`/`version`'s `model.tar.gz` and signature, check the package
    (approved, gates, signature, binding), then extract it into `out`, emptied first."""
    from ml.artifacts import download_file, parse_s3_uri
    from ml.registry.packages import find_package

    package = find_package(sagemaker, group, version)
    if not package.model_data_url or not package.signature_s3_uri:
        raise MlopsError(f"model package {group}/{version}: no model data or signature recorded")
    with tempfile.TemporaryDirectory(prefix="mlops-fetch-") as tmp:
        tarball = download_file(s3, parse_s3_uri(package.model_data_url), Path(tmp, "model.tar.gz"))
        envelope = download_file(s3, parse_s3_uri(package.signature_s3_uri), Path(tmp, "sig.json"))
        check = check_model_package(
            sagemaker,
            s3,
            verifier,
            group=group,
            version=version,
            artifact=tarball,
            envelope=envelope,
        )
        if not check.ok:
            raise MlopsError(f"not fetching: {check.reason}", exit_code=1)
        empty_directory(out)
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(out, filter="data")  # no absolute paths, links out, devices
    return check


def empty_directory(path: Path) -> None:
    """`path` as an empty directory; its contents go, not `path` itself, which may be a
    mount point (the pod's model volume)."""
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def fetch_for_server(
    group: str, out: Path, settings: ServeSettings, *, sagemaker: Any, s3: Any
) -> PackageCheck:
    """The pod's init step: fetch the version the server is told to serve, then verify the
    extracted model exactly as the server will (`ml.serving.model.verify`: its key, and the
    statement bound to its model, stack and version). Anything refused leaves `out` empty."""
    from ml.provenance.check import offline_verifier
    from ml.serving.model import NotServable, verify

    if settings.model_version is None or settings.public_key is None:
        raise MlopsError(
            f"set {Env.MODEL_VERSION} and {Env.SIGNING_PUBLIC_KEY} (PEM path): the fetch "
            "verifies what the server will serve, with the server's key"
        )
    try:
        key = settings.public_key.read_bytes()
    except OSError as error:
        raise MlopsError(f"public key {settings.public_key}: {error.strerror or error}") from None
    check = fetch_package(
        group,
        settings.model_version,
        out,
        sagemaker=sagemaker,
        s3=s3,
        verifier=offline_verifier(key),
    )
    try:
        verify(settings.model_copy(update={"model_dir": out}))
    except NotServable as error:
        empty_directory(out)
        raise MlopsError(f"not serving what was fetched: {error}", exit_code=1) from None
    return check
