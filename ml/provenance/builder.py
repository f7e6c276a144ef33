"""The provenance a signature records, from the model card, explicit values and the build
environment.

What is not given explicitly comes, in order, from the artifact's `model.json` (training
data hash, metrics, hyperparameters, job name) and from where the build runs: the git
checkout (`git rev-parse HEAD`) and GitHub Actions' standard variables
(`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`,
`GITHUB_WORKFLOW_REF`); outside CI the builder is `local:<user>@<host>`. No AWS.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.errors import MlopsError
from common.files import read_json
from common.validation import dotted, one_line
from ml.provenance.statement import Provenance


def build_provenance(
    card: dict[str, Any],
    *,
    git_commit: str | None = None,
    repository: str | None = None,
    training_job_name: str | None = None,
    training_data_hash: str | None = None,
    metrics: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    builder_id: str | None = None,
    model: str | None = None,
    stack: str | None = None,
    model_package_group: str | None = None,
    version: int | None = None,
    signed_by: str | None = None,
) -> Provenance:
    """The validated `Provenance`: explicit values first, then `card` (the artifact's
    `model.json`), then the git checkout and GitHub Actions; one-line `MlopsError` when
    the training data hash or the commit stays unknown or a value is malformed.

    `model`, `stack`, `model_package_group` and `version` say what the signature is for
    (see `binding_problem`); `signed_by` is the signer's AWS identity."""
    training = card.get("training") if isinstance(card.get("training"), dict) else {}
    values: dict[str, Any] = {
        "git_commit": git_commit or git_head(),
        "repository": repository or github_repository(),
        "training_job_name": training_job_name or training.get("job_name"),
        "training_data_hash": training_data_hash or card.get("training_data_hash"),
        "metrics": metrics if metrics is not None else card.get("metrics", {}),
        "hyperparameters": hyperparameters
        if hyperparameters is not None
        else card.get("params", {}),
        "builder_id": builder_id or default_builder_id(),
        "invocation_id": github_run(),
        "model": model,
        "stack": stack,
        "model_package_group": model_package_group,
        "version": version,
        "signed_by": signed_by,
    }
    if not values["training_data_hash"]:
        raise MlopsError(
            "training data hash unknown: pass --training-data-hash or add "
            "'training_data_hash' to the artifact's model.json"
        )
    if not values["git_commit"]:
        raise MlopsError("git commit unknown: pass --git-commit (not inside a git checkout)")
    found = values["metrics"]
    if isinstance(found, dict):  # keep the numbers; nested reports stay in model.json
        values["metrics"] = {
            k: v for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
    try:
        return Provenance.model_validate(values)
    except ValidationError as error:
        raise MlopsError(one_line(error, lambda where: f"provenance {dotted(where)}")) from None


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file (e.g. `--metrics`, `--hyperparameters`)."""
    data = read_json(path, f"{what} file {path}")
    if not isinstance(data, dict):
        raise MlopsError(f"{what} file {path}: expected a JSON object")
    return data


def git_head(checkout: Path | None = None) -> str | None:
    """`git rev-parse HEAD` in `checkout` (default: the working directory), or None."""
    where = ["-C", str(checkout)] if checkout is not None else []
    try:
        done = subprocess.run(
            ["git", *where, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def github_repository() -> str | None:
    """The repository's URI inside GitHub Actions, else None."""
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}" if server and repo else None


def github_run() -> str | None:
    """The GitHub Actions run attempt's URL, else None."""
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    run, attempt = os.environ.get("GITHUB_RUN_ID"), os.environ.get("GITHUB_RUN_ATTEMPT", "1")
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}/attempts/{attempt}"
    return None


def default_builder_id() -> str:
    """The GitHub workflow that runs the build, else `local:<user>@<host>`."""
    server, workflow = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_WORKFLOW_REF")
    if server and workflow:
        return f"{server}/{workflow}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"local:{user}@{socket.gethostname()}"
