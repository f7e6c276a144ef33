"""docs/threat-model.md names, for every path, the tests that show it closed: each named
test file and test function must exist, so the page cannot point at a test that was
renamed or removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REFERENCE = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)?)`((?:, `::\w+`)*)")


def _rows(repo_root: Path) -> list[str]:
    text = (repo_root / "docs" / "threat-model.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if re.match(r"^\| \d+ \|", line)]


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_path_of_the_threat_model_names_a_proving_test(repo_root):
    rows = _rows(repo_root)
    assert len(rows) >= 16, "the threat model lost paths"
    unproven = [row.split("|")[1].strip() for row in rows if "tests/" not in row.split("|")[-2]]
    assert unproven == [], f"paths without a test: {unproven}"


def test_every_test_the_threat_model_names_exists(repo_root):
    missing = []
    for row in _rows(repo_root):
        for path, first, more in REFERENCE.findall(row):
            file = repo_root / path
            if not file.is_file():
                missing.append(path)
                continue
            names = [first, *re.findall(r"::\w+", more)]
            defined = _functions(file)
            missing += [f"{path}{n}" for n in names if n and n.removeprefix("::") not in defined]
    assert missing == [], f"docs/threat-model.md names tests that do not exist: {missing}"
