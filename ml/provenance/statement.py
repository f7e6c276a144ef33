"""The in-toto Statement v1 a model signature carries, with a SLSA Provenance v1 predicate.

Pure logic, no AWS.

- `subject`: one ResourceDescriptor per artifact file, in manifest order:
  `{"name": <relative path>, "digest": {"sha256": <hex>}, "annotations": {"size": <bytes>}}`.
- `predicateType`: `https://slsa.dev/provenance/v1`, the supply-chain standard for "how
  was this built, from what, by whom". The model-specific parts sit where SLSA puts
  them (see `Provenance.to_predicate`); `buildType` is this project's
  `BUILD_TYPE`, documented in docs/audit.md ("What exactly is signed").
- What the signature is for: `externalParameters` name the `model`, the `stack`, the
  `modelPackageGroup` and the package `version` it becomes; `internalParameters.signedBy`
  is the AWS identity that signed. `binding_problem` is the one check of those fields
  that register, release verify and the server all call (docs/provenance.md).

The statement is serialised as compact JSON with sorted keys, so the same inputs give
the same payload bytes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.validation import dotted, one_line
from ml.provenance.manifest import FileEntry, Manifest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:mlops-gitops:build-type:model-training:v1"
"""What a build of this type is: train a model from a git commit, hyperparameters and a
content-addressed training data snapshot; the subjects are the model artifact's files."""
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class StatementError(ValueError):
    """The payload is not a statement this project signs; the message is one line."""


class Provenance(BaseModel):
    """Where a model came from: what the predicate records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    git_commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]
    """Full commit id of the code that trained the model."""
    training_data_hash: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
    """Content hash of the training data snapshot, as the data step computes it."""
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    training_job_name: str | None = None
    """SageMaker training job name (or the local run's name)."""
    metrics: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    builder_id: Annotated[str, Field(min_length=1)]
    """Who ran the build: a CI workflow URI, or `local:<user>@<host>` for a laptop."""
    repository: str | None = None
    """Source repository URI, e.g. `https://github.com/<org>/<repo>`."""
    invocation_id: str | None = None
    """The CI run that built it, e.g. a GitHub Actions run URL."""
    started_on: datetime | None = None
    finished_on: datetime | None = None
    model: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The model's name under `mlops:models`, e.g. `churn-classifier`."""
    stack: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The stack (environment) it is released to: dev, staging or prod."""
    model_package_group: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The registry group it is registered in, `mlops-<stack>-<model>`."""
    version: Annotated[int, Field(ge=1)] | None = None
    """The model package version it becomes (the group's next version at signing)."""
    signed_by: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    """AWS caller identity (STS GetCallerIdentity ARN) that signed."""

    def to_predicate(self) -> dict[str, Any]:
        """SLSA Provenance v1: parameters under `externalParameters`, inputs with their
        digests under `resolvedDependencies`, metrics as an annotated byproduct."""
        source: dict[str, Any] = {"name": "source", "digest": {"gitCommit": self.git_commit}}
        if self.repository:
            source["uri"] = f"git+{self.repository}@{self.git_commit}"
        data_hex = self.training_data_hash.removeprefix("sha256:")
        external: dict[str, Any] = {
            "gitCommit": self.git_commit,
            "trainingDataHash": self.training_data_hash,
            "hyperparameters": self.hyperparameters,
        }
        if self.training_job_name:
            external["trainingJobName"] = self.training_job_name
        if self.repository:
            external["repository"] = self.repository
        for key, value in (
            ("model", self.model),
            ("stack", self.stack),
            ("modelPackageGroup", self.model_package_group),
            ("version", self.version),
        ):
            if value is not None:
                external[key] = value
        metadata: dict[str, Any] = {}
        if self.invocation_id:
            metadata["invocationId"] = self.invocation_id
        if self.started_on:
            metadata["startedOn"] = _rfc3339(self.started_on)
        if self.finished_on:
            metadata["finishedOn"] = _rfc3339(self.finished_on)
        run_details: dict[str, Any] = {"builder": {"id": self.builder_id}}
        if metadata:
            run_details["metadata"] = metadata
        if self.metrics:
            run_details["byproducts"] = [
                {"name": "metrics", "mediaType": "application/json", "annotations": self.metrics}
            ]
        definition: dict[str, Any] = {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "resolvedDependencies": [
                source,
                {"name": "training-data", "digest": {"sha256": data_hex}},
            ],
        }
        if self.signed_by:
            definition["internalParameters"] = {"signedBy": self.signed_by}
        return {"buildDefinition": definition, "runDetails": run_details}

    @classmethod
    def from_predicate(cls, predicate: dict[str, Any]) -> Provenance:
        try:
            definition = predicate["buildDefinition"]
            external = definition["externalParameters"]
            internal = definition.get("internalParameters") or {}
            run = predicate["runDetails"]
            metadata = run.get("metadata") or {}
            metrics: dict[str, Any] = {}
            for byproduct in run.get("byproducts") or []:
                if byproduct.get("name") == "metrics":
                    metrics = byproduct.get("annotations") or {}
            if definition.get("buildType") != BUILD_TYPE:
                raise StatementError(
                    f"statement: buildType {definition.get('buildType')!r} is not {BUILD_TYPE}"
                )
            return cls(
                git_commit=external["gitCommit"],
                training_data_hash=external["trainingDataHash"],
                hyperparameters=external.get("hyperparameters") or {},
                training_job_name=external.get("trainingJobName"),
                repository=external.get("repository"),
                metrics=metrics,
                builder_id=run["builder"]["id"],
                invocation_id=metadata.get("invocationId"),
                started_on=metadata.get("startedOn"),
                finished_on=metadata.get("finishedOn"),
                model=external.get("model"),
                stack=external.get("stack"),
                model_package_group=external.get("modelPackageGroup"),
                version=external.get("version"),
                signed_by=internal.get("signedBy"),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise StatementError(f"statement: predicate lacks field {error}") from None
        except ValidationError as error:
            raise StatementError(
                one_line(error, lambda where: f"statement: predicate field {dotted(where)}")
            ) from None


BINDING_FIELDS = ("model", "stack", "modelPackageGroup", "version")


def binding_problem(
    provenance: Provenance,
    *,
    model: str | None = None,
    stack: str | None = None,
    group: str | None = None,
    version: int | None = None,
) -> str | None:
    """None when the statement names a model, stack, group and version and each given
    expectation equals it; else one line saying what differs and what to do."""
    p = provenance
    named = dict(
        zip(BINDING_FIELDS, (p.model, p.stack, p.model_package_group, p.version), strict=True)
    )
    missing = [field for field, value in named.items() if value is None]
    if missing:
        return (
            f"the signed statement names no {', '.join(missing)}: it was signed before "
            "statements were bound to a release; re-sign it with `mlops sign --model M --stack S`"
        )
    for field, expected in zip(BINDING_FIELDS, (model, stack, group, version), strict=True):
        if expected is not None and named[field] != expected:
            return f"signed for {field} {named[field]!r}, not {expected!r}"
    return None


def build_statement(manifest: Manifest, provenance: Provenance) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": entry.path,
                "digest": {"sha256": entry.sha256},
                "annotations": {"size": entry.size},
            }
            for entry in manifest.files
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": provenance.to_predicate(),
    }


def encode_statement(statement: dict[str, Any]) -> bytes:
    """The payload bytes: compact, sorted-key JSON in UTF-8."""
    return json.dumps(
        statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_statement(payload: bytes) -> tuple[dict[str, Any], Manifest]:
    """Parse a payload into (statement, signed manifest); `StatementError` if malformed."""
    try:
        statement = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StatementError("statement: payload is not JSON") from None
    if not isinstance(statement, dict):
        raise StatementError("statement: payload is not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"statement: _type {statement.get('_type')!r} is not {STATEMENT_TYPE}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise StatementError(
            f"statement: predicateType {statement.get('predicateType')!r} is not {PREDICATE_TYPE}"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise StatementError("statement: no subjects")
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for index, subject in enumerate(subjects):
        try:
            name = subject["name"]
            digest = subject["digest"]["sha256"]
            size = (subject.get("annotations") or {}).get("size", -1)
        except (KeyError, TypeError, AttributeError):
            raise StatementError(f"statement: subject #{index} lacks name or sha256") from None
        if not isinstance(name, str) or not isinstance(digest, str) or not _HEX64.match(digest):
            raise StatementError(f"statement: subject #{index} has a malformed name or sha256")
        if name in seen:
            raise StatementError(f"statement: subject {name!r} is listed twice")
        seen.add(name)
        entries.append(FileEntry(name, size if isinstance(size, int) else -1, digest))
    if not isinstance(statement.get("predicate"), dict):
        raise StatementError("statement: predicate is not an object")
    return statement, Manifest(tuple(entries))


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
