"""Checkpoints a spot interruption cannot corrupt, and that refuse a foreign configuration.

A checkpoint is one file, `checkpoint-<iteration>.ckpt`: a one-line JSON header, then the
LightGBM model text of the first `iteration` boosting rounds. The header names the
configuration it belongs to (hash of the hyperparameters, hash of the training data) and
the SHA-256 of the model text.

- Writing is atomic: the bytes go to a hidden temporary file in the same directory,
  which is fsynced and then renamed over the final name (and the directory fsynced), so
  a SIGKILL at any instant leaves either the previous checkpoints or the new one, never
  half a file under a checkpoint name. Leftover temporary files are ignored and removed.
- Reading takes the newest checkpoint whose model text matches its recorded SHA-256 (a
  file truncated by a partial S3 sync is skipped with a warning, the previous one used).
- A checkpoint written for a different configuration is refused with one line naming
  what differs: resuming from it would silently build a model nobody asked for.

SageMaker syncs `/opt/ml/checkpoints` to the job's checkpoint S3 URI while the job runs
and restores it when a spot-interrupted job restarts; the same directory locally makes
the local run and the job behave alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.errors import MlopsError

FORMAT = "mlops-lightgbm-checkpoint/1"
_NAME = re.compile(r"^checkpoint-(\d{6,})\.ckpt$")
TEMP_PREFIX = ".checkpoint-"


@dataclass(frozen=True)
class RunIdentity:
    """What a checkpoint must match to be resumed from."""

    params_hash: str
    data_hash: str


@dataclass(frozen=True)
class Checkpoint:
    iteration: int
    model_text: str
    path: Path


class CheckpointStore:
    """The checkpoints of one training run in one directory."""

    def __init__(self, directory: Path, identity: RunIdentity, keep: int = 3):
        self.directory = directory
        self.identity = identity
        self.keep = keep

    def save(self, iteration: int, model_text: str) -> Path:
        """Atomically write the checkpoint of `iteration` rounds, then prune old ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        body = model_text.encode("utf-8")
        header = {
            "format": FORMAT,
            "iteration": iteration,
            "params_hash": self.identity.params_hash,
            "data_hash": self.identity.data_hash,
            "model_sha256": hashlib.sha256(body).hexdigest(),
            "model_bytes": len(body),
        }
        final = self.directory / f"checkpoint-{iteration:06d}.ckpt"
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        self._prune()
        return final

    def latest(self) -> Checkpoint | None:
        """The newest intact checkpoint of this configuration, or None to start afresh.

        Raises `MlopsError` (exit code 2) when the newest intact checkpoint belongs to a
        different configuration.
        """
        if not self.directory.is_dir():
            return None
        self._remove_temporaries()
        for iteration, path in sorted(self._checkpoints(), reverse=True):
            loaded = _read(path)
            if loaded is None:
                print(f"warning: ignoring damaged checkpoint {path}", file=sys.stderr)
                continue
            header, text = loaded
            for field, label in (
                ("params_hash", "hyperparameters"),
                ("data_hash", "training data"),
            ):
                ours = getattr(self.identity, field)
                if header.get(field) != ours:
                    raise MlopsError(
                        f"checkpoint {path} was written for different {label} "
                        f"({_short(header.get(field))} there, {_short(ours)} now); refusing "
                        "to resume from it: delete the checkpoint directory (locally: "
                        "mlops train --local --fresh)"
                    )
            if header.get("iteration") != iteration:
                print(f"warning: ignoring mislabelled checkpoint {path}", file=sys.stderr)
                continue
            return Checkpoint(iteration, text, path)
        return None

    def _checkpoints(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_file():
                found.append((int(match.group(1)), path))
        return found

    def _prune(self) -> None:
        for _, path in sorted(self._checkpoints(), reverse=True)[self.keep :]:
            path.unlink(missing_ok=True)

    def _remove_temporaries(self) -> None:
        for path in self.directory.glob(f"{TEMP_PREFIX}*.tmp"):
            path.unlink(missing_ok=True)


def _read(path: Path) -> tuple[dict, str] | None:
    """Header and model text, or None when the file is damaged in any way."""
    try:
        raw = path.read_bytes()
        line, _, body = raw.partition(b"\n")
        header = json.loads(line)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            return None
        if hashlib.sha256(body).hexdigest() != header.get("model_sha256"):
            return None
        return header, body.decode("utf-8")
    except (OSError, ValueError):
        return None


def _short(value: object) -> str:
    text = str(value)
    return text[:19] + "…" if len(text) > 19 else text


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
