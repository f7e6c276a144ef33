"""Which workflow jobs a pull request can start, and which OIDC subjects they present.

Read from the workflow files as they are. A pull request runs its own branch's copy of
these files, so this is what the repository's workflows do, not a bound on an attacker:
that bound is `policies.reachability.Repository.attacker_subjects`, which depends on the
environments' deployment-branch rules. Both are judged by the trust-model tests.

GitHub's default subject claim (pinned by infra/github): a job in environment `E` presents
`repo:<org>/<repo>:environment:E`; otherwise a pull-request run presents
`repo:<org>/<repo>:pull_request`, and a run on a branch `repo:<org>/<repo>:ref:refs/heads/<b>`.
A job gets an OIDC token only with `id-token: write`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Events whose runs a pull-request author starts (with the pull request's code).
PULL_REQUEST_EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_target",
        "pull_request_review",
        "pull_request_review_comment",
        "issue_comment",
    }
)
_MAIN_GUARD = re.compile(
    r"github\.ref\s*==\s*'refs/heads/main'|github\.event_name\s*==\s*'(push|schedule|workflow_dispatch)'"
)
_EXPRESSION = re.compile(r"\$\{\{\s*(inputs|matrix)\.([A-Za-z0-9_-]+)\s*\}\}")


@dataclass(frozen=True)
class Job:
    workflow: str
    job: str
    pull_request: bool
    """Whether a pull request can start this job (a pull-request event, no main guard)."""
    oidc: bool
    """Whether the job may request an OIDC token (`id-token: write`)."""
    environments: tuple[str, ...]
    """The GitHub environments the job runs in (several when a matrix or input decides)."""

    def subjects(self, org: str, repo: str, main_only: frozenset[str] = frozenset()) -> list[str]:
        """The OIDC subjects this job presents when a pull request starts it; GitHub refuses
        a pull-request run entry into a `main_only` environment, so those present none."""
        if not (self.pull_request and self.oidc):
            return []
        base = f"repo:{org}/{repo}"
        if self.environments:
            return [f"{base}:environment:{e}" for e in self.environments if e not in main_only]
        return [f"{base}:pull_request"]


def _events(data: Mapping[Any, Any]) -> set[str]:
    # YAML 1.1 reads a bare `on:` key as the boolean True.
    raw = data.get("on", data.get(True))
    if isinstance(raw, str):
        return {raw}
    if isinstance(raw, list):
        return {str(e) for e in raw}
    return {str(e) for e in (raw or {})}


def _oidc(permissions: Any) -> bool:
    if permissions == "write-all":
        return True
    return isinstance(permissions, Mapping) and permissions.get("id-token") == "write"


def _resolve(value: str, inputs: Mapping[str, Any], matrix: Mapping[str, Any]) -> list[str]:
    """An environment name with its `${{ inputs.x }}` / `${{ matrix.x }}` expanded (one name
    per value); a name with any other expression becomes `*` (every environment)."""
    names = [value]
    for match in _EXPRESSION.finditer(value):
        source, key = match.groups()
        found = (inputs if source == "inputs" else matrix).get(key)
        if found is None and source == "matrix":
            found = [i[key] for i in matrix.get("include") or [] if key in i] or None
        if found is None:
            return ["*"]
        values = [str(v) for v in found] if isinstance(found, list) else [str(found)]
        names = [n.replace(match.group(0), v) for n in names for v in values]
    return ["*" if "${{" in n else n for n in names]


def _environments(job: Mapping[str, Any], inputs: Mapping[str, Any]) -> tuple[str, ...]:
    raw = job.get("environment")
    if isinstance(raw, Mapping):
        raw = raw.get("name")
    if not raw:
        return ()
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    return tuple(_resolve(str(raw), inputs, matrix if isinstance(matrix, Mapping) else {}))


def _guarded(name: str, jobs: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether the job runs only on main: its own `if`, or a job it needs is (a skipped
    need skips the job, unless its condition says `always()`)."""
    job = jobs.get(name) or {}
    condition = str(job.get("if", ""))
    if _MAIN_GUARD.search(condition):
        return True
    if "always()" in condition:
        return False
    needs = job.get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    return any(n not in seen and _guarded(n, jobs, seen | {name}) for n in needs)


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _jobs(
    directory: Path,
    path: Path,
    events: set[str],
    inputs: Mapping[str, Any],
    inherited_oidc: bool | None,
    guarded: bool,
) -> Iterator[Job]:
    data = _load(path)
    workflow_oidc = _oidc(data.get("permissions"))
    jobs = data.get("jobs") or {}
    for name, job in jobs.items():
        job_guarded = guarded or _guarded(name, jobs)
        oidc = _oidc(job["permissions"]) if "permissions" in job else workflow_oidc
        if inherited_oidc is not None:
            oidc = oidc and inherited_oidc
        uses = job.get("uses")
        # `$/` (GitHub's self-repository syntax) and `./` both call this commit's file.
        if isinstance(uses, str) and uses.startswith(
            ("$/.github/workflows/", "./.github/workflows/")
        ):
            called = directory / uses.rsplit("/", 1)[1]
            with_inputs = {k: v for k, v in (job.get("with") or {}).items()}
            matrix = (job.get("strategy") or {}).get("matrix") or {}
            resolved = {
                k: _resolve(v, inputs, matrix) if isinstance(v, str) else v
                for k, v in with_inputs.items()
            }
            yield from _jobs(directory, called, events, resolved, oidc, job_guarded)
            continue
        yield Job(
            workflow=path.name,
            job=name,
            pull_request=bool(events & PULL_REQUEST_EVENTS) and not job_guarded,
            oidc=oidc,
            environments=_environments(job, inputs),
        )


def workflow_jobs(directory: Path) -> list[Job]:
    """Every job of every workflow under `directory` (reusable workflows expanded into
    their callers, judged with the caller's events)."""
    jobs: list[Job] = []
    for path in sorted(directory.glob("*.yml")):
        events = _events(_load(path))
        if events <= {"workflow_call"}:
            continue
        jobs += _jobs(directory, path, events, {}, None, guarded=False)
    return jobs
