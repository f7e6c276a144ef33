"""The files that judge, waive or grant have code owners, and `main` requires their review
(issue 15: the pack cannot be weakened by the change it judges)."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

GUARDED = (
    "policies/waivers.yaml",
    "policies/mutation-waivers.yaml",
    "policies/s3.py",
    "tests/policies/mutations.py",
    "infra/components/permissions.py",
    ".github/workflows/model-release.yml",
    ".github/CODEOWNERS",
    "Pulumi.prod.yaml",
    "requirements.lock",
)


def _owners(codeowners: str, path: str) -> list[str]:
    """The owners GitHub assigns `path`: the last matching line wins (anchored patterns;
    a trailing `/` owns everything below)."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, *names = line.split()
        pattern = pattern.lstrip("/")
        if (pattern.endswith("/") and path.startswith(pattern)) or fnmatch(path, pattern):
            owners = names
    return owners


@pytest.mark.parametrize("path", GUARDED)
def test_guarded_file_has_a_code_owner(repo_root: Path, path: str) -> None:
    codeowners = (repo_root / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert (repo_root / path).exists(), f"{path} moved: update the guarded list and CODEOWNERS"
    assert _owners(codeowners, path) == ["@acme/ml-platform-security"], path


def test_an_unowned_line_after_the_owner_would_be_caught() -> None:
    # The matcher follows GitHub's rule: a later line without owners un-owns the file.
    codeowners = "/policies/ @acme/ml-platform-security\n/policies/waivers.yaml\n"
    assert _owners(codeowners, "policies/waivers.yaml") == []
    assert _owners(codeowners, "policies/s3.py") == ["@acme/ml-platform-security"]
