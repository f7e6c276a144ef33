"""Waivers: explicit, owned, expiring exceptions to a policy for named resources.

A waiver file is YAML:

    waivers:
      - policy: s3-bucket-access-logging-enabled
        resource: mlops-*-logs          # logical name, URN, or a glob of either
        stacks: [dev, staging, prod]    # optional; all stacks when omitted
        justification: why the exception is acceptable, and what compensates
        owner: ml-platform
        expiry: 2027-05-31              # valid through this day; then the audit fails

A waived finding stays in the report (status `waived`, with the waiver); an expired
waiver turns it into a failure. Both the offline audit and the CrossGuard pack use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import MlopsError
from common.files import read_yaml
from common.validation import one_line
from policies.core import Subject

DEFAULT_WAIVERS = Path(__file__).resolve().parent / "waivers.yaml"


class WaiverError(MlopsError):
    """A waiver file that cannot be used; the message is one line."""


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Annotated[str, Field(min_length=1)]
    resource: Annotated[str, Field(min_length=1)]
    """Logical resource name or URN; shell-style globs (`mlops-*-logs`) allowed."""
    justification: Annotated[str, Field(min_length=20)]
    owner: Annotated[str, Field(min_length=1)]
    expiry: date
    stacks: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Stacks the waiver applies to; every stack when empty."""

    def matches(self, policy: str, subject: Subject, stack: str | None) -> bool:
        if policy != self.policy:
            return False
        if self.stacks and stack not in self.stacks:
            return False
        return fnmatchcase(subject.name, self.resource) or fnmatchcase(subject.urn, self.resource)

    def expired(self, today: date) -> bool:
        return today > self.expiry


@dataclass(frozen=True)
class WaiverSet:
    waivers: tuple[Waiver, ...]
    source: Path | None = None

    def match(self, policy: str, subject: Subject, stack: str | None) -> Waiver | None:
        for waiver in self.waivers:
            if waiver.matches(policy, subject, stack):
                return waiver
        return None

    def expired(self, today: date) -> list[Waiver]:
        return [w for w in self.waivers if w.expired(today)]

    def for_stack(self, stack: str) -> list[Waiver]:
        return [w for w in self.waivers if not w.stacks or stack in w.stacks]


def parse_waivers(data: Any, known_policies: Collection[str], source: str = "waivers") -> WaiverSet:
    """Validate a parsed waiver document; every error is one line naming the entry."""
    if data is None:
        return WaiverSet(())
    if not isinstance(data, dict) or set(data) != {"waivers"}:
        raise WaiverError(f"{source}: expected a mapping with one key, 'waivers:', holding a list")
    entries = data["waivers"] or []
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: 'waivers' must be a list of entries")
    waivers: list[Waiver] = []
    for index, entry in enumerate(entries, start=1):
        label = f"{source}: waiver {index}"
        if isinstance(entry, dict) and entry.get("policy"):
            label += f" ({entry['policy']})"
        try:
            waiver = Waiver.model_validate(entry)
        except ValidationError as error:
            raise WaiverError(
                one_line(
                    error,
                    lambda where, label=label: f"{label}: {'.'.join(where) or 'entry'}",
                    label,
                    missing="{key} is required",
                    unknown="{source}: unknown field {path!r}; allowed: "
                    + ", ".join(Waiver.model_fields),
                )
            ) from None
        if waiver.policy not in known_policies:
            close = difflib.get_close_matches(waiver.policy, list(known_policies), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; run `mlops audit --help`"
            raise WaiverError(f"{label}: unknown policy {waiver.policy!r}{hint}")
        waivers.append(waiver)
    return WaiverSet(tuple(waivers))


def waivers_for(
    root: Path, explicit: Path | None, known_policies: Collection[str]
) -> WaiverSet | None:
    """The waivers an audit of the repository at `root` honours.

    An explicit file must exist; otherwise `policies/waivers.yaml` under `root` when present.
    """
    path = explicit if explicit is not None else root / "policies" / "waivers.yaml"
    return load_waivers(path, known_policies) if explicit is not None or path.is_file() else None


def load_waivers(path: Path, known_policies: Collection[str]) -> WaiverSet:
    """Read and validate a waiver file; raises `WaiverError` with one line."""
    data = read_yaml(path, "waiver file", WaiverError)
    waivers = parse_waivers(data, known_policies, str(path))
    return WaiverSet(waivers.waivers, path)


def unused(waivers: WaiverSet, stack: str, used: Iterable[Waiver]) -> list[Waiver]:
    """Waivers for `stack` that matched no failing finding (candidates for removal)."""
    seen = set(used)
    return [w for w in waivers.for_stack(stack) if w not in seen]
