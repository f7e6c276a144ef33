"""Edit the model versions a stack file declares, and nothing else (pure; no AWS).

A release PR is a one-line change: `version: 3` -> `version: 4` under
`mlops:models.<model>` of `Pulumi.<stack>.yaml`. The edit goes through ruamel.yaml's
round-trip mode, which keeps comments, key order, quoting and flow style, with the
file's own indentation. Two guards make sure the diff a reviewer sees is only that:

- the edited text must validate against the typed stack schema (`infra.config`), and
- every line that changed must be a `version:` or `previousVersion:` line; if ruamel
  would reformat anything else (an indentation style it cannot reproduce), the edit is
  refused rather than slipping unrelated changes into the release PR.

A release also records the version it replaces as `previousVersion` (`keep_previous`),
so the serving component keeps that version's Model and EndpointConfiguration for
SageMaker's auto-rollback; any other edit (the revert) drops it. See docs/rollback.md.
"""

from __future__ import annotations

import copy
import difflib
import io
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from common.errors import MlopsError
from infra.config import PROJECT, StackConfig, parse_stack_config

MODELS_KEY = f"{PROJECT}:models"
PREVIOUS_KEY = "previousVersion"
_VERSION_LINE = re.compile(r"^\s*(version|previousVersion):\s*(\S.*)?$")
_KEY_LINE = re.compile(r"^(?P<lead> *)(?:- +)?[^\s#][^#]*:\s*(#.*)?$")


@dataclass(frozen=True)
class VersionChange:
    model: str
    old: int | None
    new: int

    def __str__(self) -> str:
        old = "unreleased" if self.old is None else f"v{self.old}"
        return f"{self.model}: {old} -> v{self.new}"


@dataclass(frozen=True)
class StackEdit:
    """A proposed edit of one stack file: its text before and after, and what changed."""

    path: Path
    before: str
    after: str
    changes: tuple[VersionChange, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, label: str | None = None) -> str:
        """The unified diff a reviewer sees in the pull request."""
        name = label or self.path.name
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
        return "".join(lines)

    def write(self) -> None:
        self.path.write_text(self.after, encoding="utf-8")


def served_versions(cfg: StackConfig) -> dict[str, int]:
    """Model name -> version for every model the stack gives a version (the rest serve nowhere)."""
    return {name: ref.version for name, ref in cfg.models.items() if ref.version is not None}


def plan_edit(path: Path, versions: Mapping[str, int], *, keep_previous: bool = False) -> StackEdit:
    """The edit of `path` that sets each model's version; refuses unknown models."""
    before = path.read_text(encoding="utf-8")
    after, changes = set_versions(before, versions, source=path.name, keep_previous=keep_previous)
    return StackEdit(path=path, before=before, after=after, changes=changes)


def set_versions(
    text: str,
    versions: Mapping[str, int],
    *,
    source: str = "stack file",
    keep_previous: bool = False,
) -> tuple[str, tuple[VersionChange, ...]]:
    """`text` with `mlops:models.<model>.version` set for each entry of `versions`.

    `keep_previous` (a release): the version replaced becomes `previousVersion`. Otherwise
    (a revert) `previousVersion` of each changed model is dropped."""
    yaml = _round_trip(text)
    try:
        document = yaml.load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise MlopsError(f"{source}: malformed YAML{where}; fix the syntax") from None
    models = _models(document, source)
    changes: list[VersionChange] = []
    for model, version in versions.items():
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise MlopsError(f"{model}: version must be a positive integer (got {version!r})")
        if model not in models:
            declared = ", ".join(models) or "none"
            raise MlopsError(
                f"{source}: model {model!r} is not declared under {MODELS_KEY} (declared: "
                f"{declared}); adding a model is a platform change, not a release"
            )
        entry = models[model]
        if entry is None:
            entry = models[model] = CommentedMap()
        if not isinstance(entry, CommentedMap):
            raise MlopsError(f"{source}: {MODELS_KEY}.{model} must be a mapping")
        old = entry.get("version")
        if old == version:
            continue
        if "version" in entry:
            entry["version"] = version
        else:
            entry.insert(0, "version", version)
        if keep_previous and isinstance(old, int):
            if PREVIOUS_KEY in entry:
                entry[PREVIOUS_KEY] = old
            else:
                entry.insert(list(entry).index("version") + 1, PREVIOUS_KEY, old)
                _move_trailing_comment(entry, "version", PREVIOUS_KEY)
        elif PREVIOUS_KEY in entry:
            _move_trailing_comment(entry, PREVIOUS_KEY, "version")
            del entry[PREVIOUS_KEY]
        changes.append(VersionChange(model, old if isinstance(old, int) else None, version))
    if not changes:
        return text, ()
    out = io.StringIO()
    yaml.dump(document, out)
    after = out.getvalue()
    _only_version_lines_changed(text, after, source)
    _still_valid(after, source)
    return after, tuple(changes)


def _move_trailing_comment(entry: CommentedMap, source: str, target: str) -> None:
    """ruamel keeps the comment lines that follow a value with its key: the lines after
    `version:` (e.g. the next top-level key's comment) must follow the key that is now
    last, or the new line lands below them. An end-of-line comment stays where it is."""
    items = entry.ca.items
    token = (items.get(source) or [None, None, None])[2]
    if token is None:
        return
    end_of_line, newline, following = token.value.partition("\n")
    if not following:
        return
    if end_of_line.strip():
        token.value = end_of_line + newline
    else:
        items[source][2] = None
    existing = (items.get(target) or [None, None, None])[2]
    if existing is not None:
        existing.value += following
        return
    moved = copy.copy(token)
    moved.value = "\n" + following
    items.setdefault(target, [None, None, None, None])[2] = moved


def _round_trip(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def detect_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as ruamel.yaml names it, read off the file.

    Mapping: how far a nested key sits right of its parent. Sequence: how far an item's
    content sits right of its parent key; offset: how far the dash does. Defaults are
    the common 2 / 4 / 2 (`key:` then `  - item`).
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for parent, child in itertools.pairwise(lines):
        head = _KEY_LINE.match(parent)
        if head is None:
            continue
        lead = len(head["lead"])
        child_lead = len(child) - len(child.lstrip(" "))
        if child_lead <= lead:
            continue
        stripped = child.lstrip(" ")
        if stripped.startswith("- ") and sequence is None:
            offset = child_lead - lead
            sequence = offset + len(stripped) - len(stripped[1:].lstrip(" "))
        elif not stripped.startswith("-") and mapping is None:
            mapping = child_lead - lead
    return (mapping or 2, sequence or 4, 2 if offset is None else offset)


def _models(document: object, source: str) -> CommentedMap:
    config = document.get("config") if isinstance(document, CommentedMap) else None
    if not isinstance(config, CommentedMap):
        raise MlopsError(f"{source}: expected a mapping with a top-level 'config:' key")
    models = config.get(MODELS_KEY)
    if not isinstance(models, CommentedMap):
        raise MlopsError(f"{source}: no {MODELS_KEY} mapping; the stack serves no models")
    return models


def _only_version_lines_changed(before: str, after: str, source: str) -> None:
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        touched = old[i1:i2] + new[j1:j2]
        if not all(_VERSION_LINE.match(line) for line in touched):
            line = i1 + 1
            raise MlopsError(
                f"{source}: the YAML editor would also reformat line {line} "
                f"({(old[i1] if i1 < len(old) else '').strip()!r}); set the version by hand"
            )


def _still_valid(text: str, source: str) -> None:
    config = (yaml.safe_load(text) or {}).get("config") or {}
    try:
        parse_stack_config(config)
    except MlopsError as error:
        raise MlopsError(f"{source}: the edited file would be invalid: {error}") from None
