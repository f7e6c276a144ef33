"""requirements.lock agrees with pyproject.toml, and `make setup-locked` checks hashes.

Jobs that hold AWS credentials install only what the lock names (rules.py), so the lock
must cover every dependency pyproject.toml declares; a stale lock fails here first.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.workflows.lockfile import disagreements, pins

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
LOCK = (ROOT / "requirements.lock").read_text(encoding="utf-8")


def _recipe(target: str) -> str:
    """The recipe lines of one Makefile target, joined."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, f"Makefile has no target {target}"
    return match.group(1).replace("\\\n", " ")


def test_lock_on_repository_agrees_with_pyproject():
    # Given the repository's pyproject.toml and requirements.lock, when compared,
    problems = disagreements(PYPROJECT, LOCK)
    # then every declared dependency is pinned, accepted by its specifier, and hashed.
    assert problems == [], "\n".join(problems)


def test_lock_pins_known_packages_for_both_pythons():
    # Given the lock, when read, then it pins packages both from the runtime list and from
    # the test extra (an independent spot check of the parser), with sha256 hashes.
    names = {pin.requirement.name for pin in pins(LOCK)}
    assert {"pulumi", "boto3", "lightgbm", "pytest", "zizmor"} <= names, sorted(names)
    assert all(h.startswith("sha256:") for pin in pins(LOCK) for h in pin.hashes)


def test_dependency_raised_in_pyproject_but_not_relocked_is_caught():
    # Given pyproject.toml, when a lower bound is raised past the locked version,
    changed = PYPROJECT.replace('"pulumi>=3.200"', '"pulumi>=99"')
    assert changed != PYPROJECT, "the fixture line moved: update this test"
    # then the check names the dependency and the fix.
    problems = disagreements(changed, LOCK)
    assert any("pulumi==" in p and "pulumi>=99" in p for p in problems), problems


def test_dependency_added_to_test_extra_but_not_locked_is_caught():
    # Given pyproject.toml, when a dependency is added to the test extra only,
    changed = PYPROJECT.replace('  "pytest>=8.3",', '  "pytest>=8.3",\n  "left-pad-py>=1.0",')
    assert changed != PYPROJECT, "the fixture line moved: update this test"
    # then the check reports it missing from the lock, for both Pythons.
    problems = [p for p in disagreements(changed, LOCK) if "left-pad-py" in p]
    assert len(problems) == 2, problems


def test_lock_entry_stripped_of_its_hashes_is_caught():
    # Given the lock, when an entry loses its hashes (an attacker swaps the file behind it),
    lines = LOCK.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("boto3=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    --hash"))
    changed = "\n".join([*lines[:start], lines[start].removesuffix(" \\"), *lines[end:]])
    # then the check reports the unhashed entry.
    problems = disagreements(PYPROJECT, changed)
    assert any("boto3 has no --hash" in p for p in problems), problems


def test_lock_entry_with_a_range_instead_of_a_pin_is_caught():
    # Given the lock, when an entry is loosened to a range,
    changed = re.sub(r"^numpy==2\.4\.6", "numpy>=2.4.6", LOCK, count=1, flags=re.MULTILINE)
    assert changed != LOCK, "the fixture line moved: update this test"
    # then the check reports it.
    problems = disagreements(PYPROJECT, changed)
    assert any("numpy>=2.4.6" in p and "not pinned" in p for p in problems), problems


def test_setup_locked_target_checks_hashes_and_resolves_nothing():
    # Given the Makefile's setup-locked recipe, then it installs the lock with hash checking
    # and no dependency resolution, and the project itself without dependencies.
    recipe = _recipe("setup-locked")
    assert "--require-hashes --no-deps -r $(LOCK)" in recipe, recipe
    assert "--no-deps --no-build-isolation -e ." in recipe, recipe
    assert "'.[test]'" not in recipe, "setup-locked must not resolve pyproject.toml"
