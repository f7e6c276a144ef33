"""`mlops drift`'s local CSV inputs, read while the command is still starting.

polars reads CSV outside the GIL, on every core, so the files can be read while the
interpreter imports the rest of the command (numpy, the params models, the reports: about
a third of a second of one core) and while the stored reference statistics are checked
(the reference's sha256). This module imports only the standard library. `Prefetch.start`
first hashes the reference in a thread when statistics are stored beside it (one core is
idle while the interpreter imports polars), then imports polars and, in threads, reads
the current file's first rows, the reference's (unless statistics are stored: their
manifest names its columns) and, the columns known, the whole reference and the whole
current file. A current file streamed in batches (`CurrentBatches.STREAM_ABOVE_BYTES`) or
captured JSON lines are read in order, as are S3 inputs (downloaded first).

What was read is a guess until `ml.drift.monitor.run_drift` has derived the features
itself: it takes a prefetched result only when it was read for exactly those columns and
types (the stored statistics may be stale, `--exclude` or a `schema.json` may change
them), and reads again otherwise. Errors raised in a thread are raised where the result
is taken, so the reports and every message and exit code are those of reading in order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ml.drift.background import Background
from ml.drift.stats_files import FORMAT, file_sha256, stats_paths

if TYPE_CHECKING:
    import polars as pl

    from ml.drift.readers import Features


class PrefetchedBatches:
    """The current file's batches as `CurrentBatches` gave them, and its ignored columns."""

    def __init__(self, frames: list[pl.DataFrame], ignored: set[str]):
        self.frames = frames
        self.ignored = ignored

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter(self.frames)


def _stored_columns(reference: Path) -> tuple[list[str], set[str]] | None:
    """The reference's columns and its numeric ones, as its stored statistics name them
    (not yet checked against the reference: `run_drift` does, and reads again if the
    statistics are not the reference's)."""
    manifest_path, _ = stats_paths(reference)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            return None
        return list(manifest["order"]), set(manifest["numeric"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _same_columns(a: Features, b: Features) -> bool:
    """Whether reading with `a` gives what reading with `b` would (what `CurrentBatches`
    uses: names, kinds, types; which features are categorical matters only later)."""
    return a.names == b.names and a.kinds == b.kinds and a.dtypes == b.dtypes


class Prefetch:
    """Reads of a local reference CSV and a local current CSV file, started early."""

    def __init__(self, reference: Path, current: Path, exclude: Sequence[str]):
        self.reference_path = reference
        self.current_path = current
        self._exclude = list(exclude)
        self._stored = stats_paths(reference)[0].is_file()
        self._sha256 = Background(lambda: file_sha256(reference)) if self._stored else None
        self._reference: Background[pl.DataFrame] | None = None
        self._guess: Features | None = None
        self._current: Background[PrefetchedBatches] | None = None
        self._started = threading.Event()
        # polars first, here: every read needs it, and importing the rest of the command
        # meanwhile would only slow it down (imports hold the GIL)
        import polars  # noqa: F401

        threading.Thread(target=self._begin, daemon=True).start()

    @classmethod
    def start(cls, reference: str, current: str, exclude: Sequence[str]) -> Prefetch | None:
        """Start reading, if both inputs are local files; else None (nothing to read)."""
        reference_path, current_path = Path(reference), Path(current)
        if not (reference_path.is_file() and current_path.is_file()):
            return None
        return cls(reference_path, current_path, exclude)

    def _begin(self) -> None:
        try:
            import polars as pl

            from ml.drift import readers

            current, reference = self.current_path, self.reference_path
            if readers.is_capture(reference):
                return  # refused in order
            # a file streamed in batches is read in order, a batch at a time
            whole = not readers.is_capture(current) and (
                current.stat().st_size <= readers.CurrentBatches.STREAM_ABOVE_BYTES
            )
            head = Background(lambda: readers.first_rows(current)) if whole else None
            stored = _stored_columns(reference) if self._stored else None
            if stored is not None:
                order, numeric = stored
                schema = {n: pl.Float64() if n in numeric else pl.String() for n in order}
            else:  # no statistics: the reference's first rows type it
                known = schema = readers.head_schema(reference)
                self._reference = Background(lambda: readers.read_reference_frame(reference, known))
            if head is not None:
                guess = readers.features_of(schema, reference, (), self._exclude)
                self._guess = guess
                self._current = Background(lambda: self._read_current(guess, head.result))
        except Exception:  # read again in order, where the same error is raised
            return
        finally:
            self._started.set()

    def _read_current(
        self, features: Features, head: Callable[[], pl.DataFrame]
    ) -> PrefetchedBatches:
        from ml.drift.readers import CurrentBatches

        batches = CurrentBatches(self.current_path, features, head)
        frames = list(batches)
        return PrefetchedBatches(frames, batches.ignored)

    def sha256(self, path: Path) -> str:
        """The sha256 of `path`, hashed already if it is the reference."""
        if self._sha256 is not None and path == self.reference_path:
            return self._sha256.result()
        return file_sha256(path)

    def reference_frame(self, reference: Path) -> pl.DataFrame | None:
        """The reference file as `read_reference_frame` reads it, if it was read for
        `reference` (its error raised here); else None."""
        self._started.wait()
        if self._reference is None or reference != self.reference_path:
            return None
        return self._reference.result()

    def current_batches(self, current: Path, features: Features) -> PrefetchedBatches | None:
        """The current file's batches, if they were read for `current` and the columns of
        `features` (its error raised here); else None: read them."""
        self._started.wait()
        if self._current is None or self._guess is None or current != self.current_path:
            return None
        if not _same_columns(self._guess, features):
            return None
        return self._current.result()
