"""The manifest of a model artifact: every file's relative path, size and SHA-256.

Pure logic, no AWS. A directory and a tarball of it (`model.tar.gz`, as SageMaker
extracts it into /opt/ml/model) give the same manifest, so a signature made over one
verifies the other:

- paths are relative, POSIX, without a leading `./`, and sorted by their UTF-8 bytes;
- only regular files count (empty directories carry no data);
- the reserved name `signature.dsse.json` at the artifact root is left out, so the
  signature can travel inside the artifact it signs;
- symlinks, hard links, devices, absolute paths, `..`, duplicate names and control
  characters are refused: each would let the bytes that run differ from the bytes
  that were hashed, or make a one-line report ambiguous.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from common.errors import MlopsError
from infra.contracts import SIGNATURE_FILE

SIGNATURE_NAME = SIGNATURE_FILE
"""Reserved file name of the signature inside an artifact directory or tarball (the
contract's name: the signature beside the archive in S3 has the same name)."""
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_CHUNK = 1 << 20


class ArtifactError(MlopsError):
    """The artifact cannot be read or holds something a model artifact may not hold."""


@dataclass(frozen=True, order=True)
class FileEntry:
    path: str
    """Relative POSIX path inside the artifact."""
    size: int
    sha256: str
    """Lower-case hex SHA-256 of the file's bytes."""


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]
    """Every regular file, sorted by the UTF-8 bytes of its path."""

    def by_path(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical manifest: one identity for the whole artifact.

        Canonical form: compact JSON of `[[path, size, sha256], ...]` in manifest order.
        The registry keys idempotent registration on it.
        """
        rows = [[entry.path, entry.size, entry.sha256] for entry in self.files]
        canonical = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files)


def is_tarball(path: Path) -> bool:
    return path.name.endswith(TARBALL_SUFFIXES)


def build_manifest(artifact: Path) -> Manifest:
    """Hash every file of an artifact directory or tarball; raise `ArtifactError` if unfit."""
    if not artifact.exists():
        raise ArtifactError(f"artifact {artifact}: not found")
    if artifact.is_dir():
        entries = list(_directory_entries(artifact))
    elif artifact.is_file() and is_tarball(artifact):
        entries = list(_tarball_entries(artifact))
    elif artifact.is_file():
        raise ArtifactError(
            f"artifact {artifact}: expected a directory or a tarball "
            f"({', '.join(TARBALL_SUFFIXES)})"
        )
    else:
        raise ArtifactError(f"artifact {artifact}: not a regular file or directory")
    counts = Counter(entry.path for entry in entries)
    duplicates = sorted(path for path, count in counts.items() if count > 1)
    if duplicates:
        raise ArtifactError(f"artifact {artifact}: file {duplicates[0]!r} appears more than once")
    if not entries:
        raise ArtifactError(f"artifact {artifact}: holds no files")
    return Manifest(tuple(sorted(entries, key=lambda entry: entry.path.encode("utf-8"))))


def read_member(artifact: Path, name: str) -> bytes | None:
    """The bytes of one file of an artifact (directory or tarball), or None if absent."""
    if artifact.is_dir():
        path = artifact / name
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    try:
        with tarfile.open(artifact, "r:*") as tar:
            for member in tar:
                if member.isfile() and normalise(member.name) == name:
                    handle = tar.extractfile(member)
                    return handle.read() if handle is not None else None
    except (OSError, tarfile.TarError) as error:
        raise ArtifactError(f"artifact {artifact}: unreadable tarball ({error})") from None
    return None


def normalise(name: str) -> str:
    """`./a//b` -> `a/b`; raise `ArtifactError` for names that escape or mislead."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise ArtifactError(f"file name {name!r} contains a control character")
    if "\\" in name:
        raise ArtifactError(f"file name {name!r} contains a backslash")
    pure = PurePosixPath(name)
    if pure.is_absolute():
        raise ArtifactError(f"file name {name!r} is absolute")
    parts = [part for part in pure.parts if part not in ("", ".")]
    if ".." in parts:
        raise ArtifactError(f"file name {name!r} contains '..'")
    return "/".join(parts)


def _directory_entries(root: Path) -> Iterator[FileEntry]:
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(directory, name)
            relative = normalise(path.relative_to(root).as_posix())
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise ArtifactError(
                    f"artifact {root}: {relative} is a symlink; artifacts hold regular files only"
                )
            if stat.S_ISDIR(mode) or relative == SIGNATURE_NAME:
                continue
            if not stat.S_ISREG(mode):
                raise ArtifactError(f"artifact {root}: {relative} is not a regular file")
            try:
                with path.open("rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256")
            except OSError as error:
                raise ArtifactError(f"artifact {root}: cannot read {relative} ({error})") from None
            yield FileEntry(relative, path.stat().st_size, digest.hexdigest())


def _tarball_entries(tarball: Path) -> Iterator[FileEntry]:
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                relative = normalise(member.name)
                if member.isdir() or relative == "":
                    continue
                if not member.isfile():
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise ArtifactError(
                        f"artifact {tarball}: member {relative} is a {kind}; "
                        "artifacts hold regular files only"
                    )
                if relative == SIGNATURE_NAME:
                    continue
                handle = tar.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always extract
                    raise ArtifactError(f"artifact {tarball}: cannot read member {relative}")
                hasher = hashlib.sha256()
                size = 0
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
                    size += len(chunk)
                yield FileEntry(relative, size, hasher.hexdigest())
    except (OSError, EOFError, tarfile.TarError) as error:
        raise ArtifactError(f"artifact {tarball}: unreadable tarball ({error})") from None
