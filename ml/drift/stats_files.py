"""Where the stored reference statistics (`ml.drift.reference`) live, and the digest that
ties them to their reference file: standard library only, so that `ml.drift.prefetch`
can look for them, and hash the reference, before the command has imported numpy."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT = "mlops-drift-reference-stats/1"
STATS_SUFFIXES = (".stats.json", ".stats.npy")


def stats_paths(reference: Path) -> tuple[Path, Path]:
    """The manifest and the sorted matrix of the reference file `reference`: beside it."""
    manifest, matrix = (reference.with_name(reference.name + s) for s in STATS_SUFFIXES)
    return manifest, matrix


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
