"""Find the contract's names spelled as literals in Python source (shared by the tests)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra import contracts

S3_PREFIXES = (
    contracts.DATASETS_PREFIX,
    contracts.TRAINING_OUTPUT_PREFIX,
    contracts.CHECKPOINTS_PREFIX,
    contracts.MODELS_PREFIX,
    contracts.CAPTURE_PREFIX,
    contracts.GROUND_TRUTH_PREFIX,
)
# A prefix as a path segment (`models/`): at the start of a key, or after `/`, a space, a
# quote or a parenthesis. The bare word (`models`, a dict key) is not a prefix.
_PREFIX = re.compile(r"(?:^|[/\s`'\"(])(" + "|".join(re.escape(p) for p in S3_PREFIXES) + r")")
_ENV = re.compile(r"\b(" + "|".join(re.escape(name) for name in contracts.Env) + r")\b")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: literal {self.name!r}"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings: the first statement of a module,
    class or function, and a string statement right after an assignment (attribute docs)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for index, statement in enumerate(body):
            is_string = (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            )
            if is_string and (
                index == 0 or isinstance(body[index - 1], ast.Assign | ast.AnnAssign)
            ):
                ids.add(id(statement.value))
    return ids


def findings(source: str, path: str = "<snippet>") -> Iterator[Finding]:
    """Every string constant (f-string parts included) outside docstrings that spells a
    contract S3 prefix as a path segment or names a contract environment variable."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in docs:
            continue
        for pattern in (_PREFIX, _ENV):
            for match in pattern.finditer(node.value):
                yield Finding(path, node.lineno, match.group(1))


def scan(root: Path, folders: tuple[str, ...], allowed: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []
    for folder in folders:
        for file in sorted((root / folder).rglob("*.py")):
            relative = file.relative_to(root).as_posix()
            if relative in allowed:
                continue
            found += findings(file.read_text(encoding="utf-8"), relative)
    return found
