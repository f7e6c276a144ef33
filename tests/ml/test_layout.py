"""`tests/ml/` mirrors `ml/`: a package's tests live in the folder named after it.

A newcomer changing `ml/drift/` finds its tests in `tests/ml/drift/`; a test file dropped
at the top of `tests/ml/` must be about a top-level module (`ml/params.py` ->
`test_params.py`). Shared helpers (`*_support.py`) stay at the top.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ML = TESTS.parents[1] / "ml"


def test_every_test_folder_is_a_package_of_ml():
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    strays = sorted(f for f in folders if not (ML / f / "__init__.py").is_file())
    assert strays == [], f"tests/ml/ folders that are not packages of ml/: {strays}"


def test_top_level_test_files_are_about_top_level_modules():
    strays = sorted(
        p.name
        for p in TESTS.glob("test_*.py")
        if not (ML / f"{p.stem.removeprefix('test_')}.py").is_file() and p.name != "test_layout.py"
    )
    assert strays == [], f"move these into the tests/ml/<package>/ they test: {strays}"


def test_every_test_folder_is_importable_as_a_package():
    """Without `__init__.py`, two folders' `test_cli.py` would clash in pytest's rootdir."""
    missing = sorted(
        p.name
        for p in TESTS.iterdir()
        if p.is_dir()
        and p.name not in ("__pycache__", "fixtures")
        and not (p / "__init__.py").is_file()
    )
    assert missing == []
