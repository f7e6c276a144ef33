"""The control catalogue: every control ID a policy may claim, read from the shipped lists.

Each file under `policies/standards/` is one standard at one version (AWS Foundational
Security Best Practices 1.0.0, CIS AWS Foundations Benchmark 3.0.0, NIST SP 800-53 rev. 5,
CIS Kubernetes Benchmark 1.8.0): its mapping prefix, where its list was taken from and when,
and the control IDs with their titles. A mapping is `<prefix> <id>` (`FSBP S3.5`, `CIS 3.8`,
`NIST SC-28`), so the prefix names the standard and its version and the ID must be in that
version's list: `CIS 3.10` (object-level logging in v1.4.0) or a made-up `FSBP S3.99` fails
`check_mappings`, which `policies.pack` runs at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    from policies.core import Policy

STANDARDS_DIR = Path(__file__).resolve().parent / "standards"


class UnknownControl(ValueError):
    """A policy claims a control its standard's shipped list does not hold."""


class Standard(BaseModel):
    """One shipped control list: a standard at one version, with its provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str
    standard: str
    version: str
    source: str
    retrieved: date
    note: str
    controls: dict[str, str]

    @field_validator("controls")
    @classmethod
    def _titled(cls, controls: dict[str, str]) -> dict[str, str]:
        untitled = [cid for cid, title in controls.items() if not str(title).strip()]
        if untitled:
            raise ValueError(f"controls without a title: {untitled}")
        return controls

    @property
    def label(self) -> str:
        """`CIS Amazon Web Services Foundations Benchmark v3.0.0`."""
        version = self.version if self.version[0].isalpha() else f"v{self.version}"
        return f"{self.standard} {version}"


def load_standards(directory: Path = STANDARDS_DIR) -> dict[str, Standard]:
    """Every `*.yaml` under `directory`, by prefix; two files claiming one prefix is an error."""
    standards: dict[str, Standard] = {}
    for path in sorted(directory.glob("*.yaml")):
        standard = Standard.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if standard.prefix in standards:
            raise ValueError(
                f"{path.name}: prefix {standard.prefix} already names "
                f"{standards[standard.prefix].label}"
            )
        standards[standard.prefix] = standard
    return standards


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    standard: Standard

    @property
    def framework(self) -> str:
        return self.id.split(" ", 1)[0]

    @property
    def family(self) -> str:
        """`FSBP S3.5` -> `S3`; `CIS 2.1.1` -> `2`; `NIST SC-28(1)` -> `SC`; k8s -> `5.2`."""
        ref = self.id.split(" ", 1)[1]
        if self.framework == "NIST":
            return ref.split("-", 1)[0]
        if self.framework == "CIS-K8S":
            return ".".join(ref.split(".")[:2])
        return ref.split(".", 1)[0]


def catalogue(standards: Mapping[str, Standard]) -> dict[str, Control]:
    return {
        f"{prefix} {cid}": Control(f"{prefix} {cid}", title, standard)
        for prefix, standard in standards.items()
        for cid, title in standard.controls.items()
    }


STANDARDS: dict[str, Standard] = load_standards()
CONTROLS: dict[str, Control] = catalogue(STANDARDS)
FRAMEWORKS: dict[str, str] = {prefix: s.label for prefix, s in STANDARDS.items()}


def resolve(control_id: str, controls: Mapping[str, Control] = CONTROLS) -> Control:
    """The catalogued control `control_id` names; `UnknownControl` (one line) when none."""
    found = controls.get(control_id)
    if found is not None:
        return found
    prefix, _, ref = control_id.partition(" ")
    standards = {c.framework: c.standard for c in controls.values()}
    if not ref or prefix not in standards:
        raise UnknownControl(
            f"control {control_id!r} names no shipped standard: write '<prefix> <id>' with a "
            f"prefix of {sorted(standards)} (policies/standards/*.yaml)"
        )
    raise UnknownControl(
        f"control {control_id!r} is not in {standards[prefix].label} "
        f"(policies/standards/): check the ID against that version's list"
    )


def check_mappings(policies: Iterable[Policy], controls: Mapping[str, Control] = CONTROLS) -> None:
    """Every control of every policy resolves in the shipped lists; raises `UnknownControl`."""
    for policy in policies:
        for control_id in policy.controls:
            try:
                resolve(control_id, controls)
            except UnknownControl as error:
                raise UnknownControl(f"policy {policy.name}: {error}") from None
