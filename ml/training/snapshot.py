"""The data snapshot a training run reads, with what the drift monitor needs beside it.

`prepare_snapshot` generates the snapshot the params name, writes its channels
(`ml.data.io`) and stores the reference channel's drift statistics next to it
(`ml.drift.reference`), so they are uploaded with the channel and no scheduled monitor
sorts the reference again. The data layer itself knows nothing of drift.
"""

from __future__ import annotations

from pathlib import Path

from ml.data.io import DataSnapshot, prepare_data
from ml.params import DataParams


def prepare_snapshot(params: DataParams, root: Path) -> DataSnapshot:
    """Generate the snapshot `params` names, its channels and the reference's statistics."""
    return with_reference_stats(prepare_data(params, root))


def with_reference_stats(snapshot: DataSnapshot) -> DataSnapshot:
    """Store the reference channel's drift statistics beside it (for a snapshot written
    by other means, e.g. `ml.data.write_channels`)."""
    from ml.drift.monitor import write_reference_stats  # numpy/polars work: only when run

    write_reference_stats(snapshot.channels["reference"] / "reference.csv")
    return snapshot
