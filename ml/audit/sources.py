"""What an audit reads: the stack file rendered, a graph file, a `pulumi stack export`, or
what is deployed (`ml.audit.live`). Each becomes the one graph format `mlops infra render`
writes (`infra.offline`), so the same pack judges all of them unchanged.

A state export (`pulumi stack export`, deployment version 3) holds, per resource, the
inputs the engine sent and the outputs the provider returned, keyed by the same URNs the
program registers; its secrets (Pulumi's signature object, ciphertext or, with
`--show-secrets`, plaintext) become the render's `{"secret": true, "value": "[secret]"}`
and are never written out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.errors import MlopsError

Kind = Literal["rendered", "graph-file", "state-export", "live"]
DESCRIPTIONS: dict[str, str] = {
    "rendered": "the declared infrastructure (the stack file rendered offline, no cloud "
    "credentials)",
    "graph-file": "a resource graph file",
    "state-export": "a Pulumi state export (`pulumi stack export`): what Pulumi last deployed",
    "live": "the deployed resources, read with read-only calls",
}
# Pulumi's marker of a secret value in state and on the wire (pulumi.runtime.rpc).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a secret
REDACTED = {"secret": True, "value": "[secret]"}
# Engine-internal resources, never in a rendered graph.
SKIPPED_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")
STATE_VERSION = 3


@dataclass(frozen=True)
class Source:
    """Which source a report audited, for its header and for the reader of the JSON."""

    kind: Kind
    detail: str = ""
    """The file read, or who read the live resources."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    missing: tuple[str, ...] = field(default_factory=tuple)
    """Live: resources the stack outputs name that the account does not have (they fail)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": DESCRIPTIONS[self.kind],
            "detail": self.detail,
            "notes": list(self.notes),
            "missing": list(self.missing),
        }


def programs() -> dict[str, tuple[str, ...]]:
    """Pulumi project -> its stacks: what a graph or an export of this repository names."""
    from infra.bootstrap.settings import PROJECT as BOOTSTRAP
    from infra.bootstrap.settings import STACK as BOOTSTRAP_STACK
    from infra.config import PROJECT, STACKS
    from infra.github.settings import PROJECT as GITHUB
    from infra.github.settings import STACK as GITHUB_STACK

    return {PROJECT: STACKS, BOOTSTRAP: (BOOTSTRAP_STACK,), GITHUB: (GITHUB_STACK,)}


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlopsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MlopsError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise MlopsError(f"{path}: not JSON (line {error.lineno}); expected {what}") from None


def _urn_parts(urn: Any) -> tuple[str, str] | None:
    """(stack, project) of `urn:pulumi:<stack>::<project>::<type>::<name>`, else None."""
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        return None
    parts = urn.removeprefix("urn:pulumi:").split("::")
    return (parts[0], parts[1]) if len(parts) >= 4 else None


def _check_program(path: Path, urns: list[Any], what: str) -> tuple[str, str]:
    """The one (stack, project) every URN names; one line when it is another project's."""
    found = {_urn_parts(urn) for urn in urns}
    if None in found:
        bad = next(urn for urn in urns if _urn_parts(urn) is None)
        raise MlopsError(f"{path}: {bad!r} is not a Pulumi URN; expected {what}")
    if len(found) != 1:
        raise MlopsError(f"{path}: resources of several stacks ({sorted(found)}); expected one")
    stack, project = found.pop()  # type: ignore[misc]
    known = programs()
    if stack not in known.get(project, ()):
        choices = "; ".join(f"{p}: {', '.join(s)}" for p, s in known.items())
        raise MlopsError(
            f"{path}: {what} of project {project!r} stack {stack!r}, not of this repository "
            f"({choices})"
        )
    return stack, project


def check_graph(data: Any, path: Path) -> dict[str, Any]:
    """`data` if it is a resource graph of this repository (as `mlops infra render` writes
    it); one line saying what is wrong otherwise."""
    what = "a resource graph (`mlops infra render --out FILE`)"
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise MlopsError(f"{path}: not a resource graph (no resources list); expected {what}")
    if not isinstance(data.get("stack"), str):
        raise MlopsError(f"{path}: not a resource graph (no stack name); expected {what}")
    for index, resource in enumerate(data["resources"]):
        missing = [
            key
            for key in ("urn", "type", "name")
            if not isinstance(resource, dict) or not isinstance(resource.get(key), str)
        ]
        if missing:
            raise MlopsError(
                f"{path}: resource {index} has no {', '.join(missing)}; expected {what}"
            )
    if data["resources"]:
        stack, project = _check_program(path, [r["urn"] for r in data["resources"]], what)
        if stack != data["stack"] or data.get("project", project) != project:
            raise MlopsError(
                f"{path}: the graph says stack {data['stack']!r} but its resources are of "
                f"{project}/{stack}"
            )
    return data


def is_state_export(data: Any) -> bool:
    return isinstance(data, dict) and "deployment" in data and "version" in data


def _redact(value: Any) -> Any:
    """Plain JSON as the render writes it: secrets redacted, references by URN."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return dict(REDACTED)
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def graph_from_export(data: Any, path: Path) -> dict[str, Any]:
    """A `pulumi stack export` (deployment version 3) as a resource graph; one line when it
    is not one, or is another project's."""
    what = "a `pulumi stack export` of this repository"
    if not is_state_export(data):
        raise MlopsError(f"{path}: not a Pulumi state export; expected {what}")
    if data["version"] != STATE_VERSION:
        raise MlopsError(
            f"{path}: state export version {data['version']!r}; expected {STATE_VERSION} "
            "(export it again with a current Pulumi CLI)"
        )
    deployment = data["deployment"]
    resources = deployment.get("resources") if isinstance(deployment, dict) else None
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise MlopsError(f"{path}: the export has no deployment.resources list; expected {what}")
    stack, project = _check_program(path, [r.get("urn") for r in resources], what)
    graph = []
    for resource in resources:
        kind = str(resource.get("type", ""))
        if kind.startswith(SKIPPED_TYPES) or resource.get("delete"):
            continue  # the engine's own, or a replaced resource pending deletion
        urn = resource["urn"]
        graph.append(
            {
                "urn": urn,
                "type": kind,
                "name": urn.rsplit("::", 1)[-1],
                "parent": resource.get("parent") or None,
                "custom": bool(resource.get("custom")),
                "inputs": _redact(resource.get("inputs") or {}),
                "id": resource.get("id") or None,
                "outputs": _redact(resource.get("outputs") or {}),
            }
        )
    return {"stack": stack, "project": project, "resources": graph}


def load_graph(path: Path) -> tuple[dict[str, Any], Source]:
    """A graph file or a state export, as a graph, with the source it came from."""
    data = read_json(path, "a resource graph or a `pulumi stack export`")
    if is_state_export(data):
        return graph_from_export(data, path), Source("state-export", str(path))
    return check_graph(data, path), Source("graph-file", str(path))


def write_graph(graph: dict[str, Any], target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(graph, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise MlopsError(f"{target}: cannot write the graph ({error.strerror})") from None


def policy_configs(stack: str, root: Path) -> dict[str, dict[str, Any]] | None:
    """The policy config the stack file implies (`engine.stack_configs`), when `stack` is
    one of the main program's and its stack file is under `root`."""
    from infra.config import STACKS, load_stack
    from ml.audit.engine import stack_configs

    if stack not in STACKS or not (root / f"Pulumi.{stack}.yaml").is_file():
        return None
    return stack_configs(load_stack(stack, root).promoter_role_arns())
