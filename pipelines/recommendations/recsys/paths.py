"""The recommendation pipeline's datasets: declared here, built by :mod:`stagebook.storage`.

Under the pipeline's data area (:attr:`stagebook.storage.Paths.data`:
``<STAGEBOOK_HOME>/data/<pipeline>/``):

```
raw/events/<source-key>/date=YYYY-MM-DD/part-0.parquet
tables/ds=YYYY-MM-DD/<table>.parquet
features/<phase>/ds=YYYY-MM-DD/vocab.json, events-x.npy, events-y.npy, events-day.npy
models/<phase>/<signature>/model.keras, ffm.npz, vocab.json, signature.json
recommendations/<phase>/ds=YYYY-MM-DD/recommendations.parquet
validated/<phase>/ds=YYYY-MM-DD/approved.json, item_distribution.parquet
outbox/<phase>/ds=YYYY-MM-DD/records.jsonl, meta.json   one folder per date, swapped whole
tmp/duckdb/                   DuckDB's spill space while it builds the tables
tmp/train/<phase>/            the train stage's dealt chunks while it trains from disk
```

A stage gets these as ``ctx.paths``: :meth:`RecsysParams.paths
<recsys.params.RecsysParams.paths>` returns a :class:`RecsysPaths`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from stagebook import settings, storage


class File(storage.File):
    """A file of one of the pipeline's folders, by its fixed name: ``File.WEIGHTS.of(folder)``."""

    RAW_EVENTS = "part-0.parquet"  # of a raw events partition
    EVENTS_X = "events-x.npy"  # of a features folder: feature indices, labels, days
    EVENTS_Y = "events-y.npy"
    EVENTS_DAY = "events-day.npy"
    VOCABULARY = "vocab.json"  # of a features or a model folder
    MODEL = "model.keras"  # of a model folder, and the three below
    WEIGHTS = "ffm.npz"
    SIGNATURE = "signature.json"
    RECOMMENDATIONS = "recommendations.parquet"  # of a recommendations folder
    APPROVAL = "approved.json"  # of a validated folder, and below
    DISTRIBUTION = "item_distribution.parquet"
    OUTBOX_RECORDS = "records.jsonl"  # of an outbox date folder, and below
    OUTBOX_META = "meta.json"


class RecsysPaths(storage.Paths):
    """The recommendation pipeline's paths of one date and phase."""

    @property
    def spill(self) -> Path:
        """Return where DuckDB spills what does not fit its memory limit (scratch, not archive)."""
        return self.folder("tmp", "duckdb")

    @property
    def train_spill(self) -> Path:
        """Return where the train stage spills its dealt chunks (scratch, not archive)."""
        return self.folder("tmp", "train", self.phase)

    @property
    def models(self) -> Path:
        """Return the folder of the phase's models, one folder per signature."""
        return self.folder("models", self.phase)

    def model(self, signature: str) -> Path:
        """Return the folder of the model with ``signature``."""
        return self.models / signature

    @property
    def outbox(self) -> Path:
        """Return the local outbox of the phase (the stream-output sink's default)."""
        return self.folder("outbox", self.phase)

    def raw_events(self, source: str, date: dt.date | None = None) -> Path:
        """Return the raw events partition of ``date`` (default: ds) from ``source`` (its key)."""
        return self.folder("raw", "events", source, storage.partition(date or self.ds, "date"))

    def raw_events_file(self, source: str, date: dt.date | None = None) -> Path:
        """Return the Parquet file of the raw events partition of ``date`` from ``source``."""
        return File.RAW_EVENTS.of(self.raw_events(source, date))

    @property
    def tables(self) -> Path:
        """Return the input tables folder of ds (common to all phases)."""
        return self.dated("tables")

    def table(self, name: str) -> Path:
        """Return the file of input table ``name``."""
        return table_file(self.tables, name)

    @property
    def features(self) -> Path:
        """Return the features folder of ds and phase."""
        return self.phased("features")

    @property
    def recommendations(self) -> Path:
        """Return the recommendations folder of ds and phase."""
        return self.phased("recommendations")

    @property
    def validated(self) -> Path:
        """Return what validation passed for ds and phase: kept apart from what it checks."""
        return self.phased("validated")


def paths(ds: dt.date, phase: str, home: Path | None = None) -> RecsysPaths:
    """Return the pipeline's paths for ``ds`` and ``phase`` (``home``: default the archive's)."""
    return RecsysPaths(home or settings.home(), ds, phase)


def table_file(folder: Path, name: str) -> Path:
    """Return the file of input table ``name`` in a tables folder."""
    return folder / f"{name}.parquet"


def outbox_folder(outbox: Path, ds: str) -> Path:
    """Return the folder of date ``ds`` in a phase's ``outbox``: its records and their metadata.

    Published as one (:func:`stagebook.atomic.replacing`), so a reader never pairs
    the records of one publication with the metadata of another.
    """
    return outbox / storage.partition(ds)


def outbox_file(outbox: Path, ds: str) -> Path:
    """Return the records (JSON lines) of date ``ds`` in a phase's ``outbox`` folder."""
    return File.OUTBOX_RECORDS.of(outbox_folder(outbox, ds))


def outbox_meta(outbox_file: Path) -> Path:
    """Return the metadata beside an outbox file (its digest, who approved it)."""
    return File.OUTBOX_META.of(outbox_file.parent)


def outbox_legacy(outbox: Path, ds: str) -> tuple[Path, Path]:
    """Return the records and metadata of date ``ds`` as written before dates had folders."""
    return outbox / f"ds={ds}.jsonl", outbox / f"ds={ds}.meta.json"
