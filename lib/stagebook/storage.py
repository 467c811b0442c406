"""The archive layout, and atomic writes into it: every archive path is built here.

```
raw/events/<source-key>/date=YYYY-MM-DD/part-0.parquet
tables/ds=YYYY-MM-DD/<table>.parquet
features/<phase>/ds=YYYY-MM-DD/vocab.json, events.npz
models/<phase>/<signature>/model.keras, ffm.npz, vocab.json, signature.json
recommendations/<phase>/ds=YYYY-MM-DD/recommendations.parquet
validated/<phase>/ds=YYYY-MM-DD/approved.json, item_distribution.parquet
outbox/<phase>/ds=YYYY-MM-DD/records.jsonl, meta.json   one folder per date, swapped whole
replays/<dag_id>/<ds>/<phase>/<run>/<NN-stage>.try<N>.ipynb
reports/<dag_id>/<ds>/<phase>/<run>/<NN-stage>.try<N>.ipynb, .html, .json
reports/index.html
tmp/duckdb/                   DuckDB's spill space while it builds the tables
```

How a file or folder is written there is :mod:`stagebook.atomic`'s. (papermill
writes the archived ``.ipynb`` of a running try in place, cell by cell.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from pathlib import Path

from stagebook import settings

NOTEBOOK, HTML, SIDECAR = ".ipynb", ".html", ".json"
_TRY = re.compile(r"^(?P<stage>.+)\.try(?P<number>\d+)(?P<suffix>\.\w+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")  # a DAG id, phase, run or stage folder


class File(enum.StrEnum):
    """A file of an archive folder, by its fixed name: ``File.WEIGHTS.of(model_folder)``."""

    RAW_EVENTS = "part-0.parquet"  # of a raw events partition
    ENCODED_EVENTS = "events.npz"  # of a features folder
    VOCABULARY = "vocab.json"  # of a features or a model folder
    MODEL = "model.keras"  # of a model folder, and the three below
    WEIGHTS = "ffm.npz"
    SIGNATURE = "signature.json"
    RECOMMENDATIONS = "recommendations.parquet"  # of a recommendations folder
    APPROVAL = "approved.json"  # of a validated folder, and below
    DISTRIBUTION = "item_distribution.parquet"
    OUTBOX_RECORDS = "records.jsonl"  # of an outbox date folder, and below
    OUTBOX_META = "meta.json"

    def of(self, folder: Path) -> Path:
        """Return this file in ``folder``."""
        return folder / self.value


@dataclasses.dataclass(frozen=True)
class Paths:
    """Resolved archive paths for one date and phase."""

    home: Path
    ds: dt.date
    phase: str

    def on(self, ds: dt.date) -> Paths:
        """Return the paths of the same phase for another date."""
        return dataclasses.replace(self, ds=ds)

    @property
    def spill(self) -> Path:
        """Return where DuckDB spills what does not fit its memory limit (scratch, not archive)."""
        return self.home / "tmp" / "duckdb"

    @property
    def models(self) -> Path:
        """Return the folder of the phase's models, one folder per signature."""
        return self.home / "models" / self.phase

    def model(self, signature: str) -> Path:
        """Return the folder of the model with ``signature``."""
        return self.models / signature

    @property
    def outbox(self) -> Path:
        """Return the local outbox of the phase (the stream-output sink's default)."""
        return self.home / "outbox" / self.phase

    def raw_events(self, source: str, date: dt.date | None = None) -> Path:
        """Return the raw events partition of ``date`` (default: ds) from ``source`` (its key)."""
        return self.home / "raw" / "events" / source / f"date={(date or self.ds).isoformat()}"

    def raw_events_file(self, source: str, date: dt.date | None = None) -> Path:
        """Return the Parquet file of the raw events partition of ``date`` from ``source``."""
        return File.RAW_EVENTS.of(self.raw_events(source, date))

    def _dated(self, *parts: str) -> Path:
        return self.home.joinpath(*parts, f"ds={self.ds.isoformat()}")

    @property
    def tables(self) -> Path:
        """Return the input tables folder of ds (common to all phases)."""
        return self._dated("tables")

    def table(self, name: str) -> Path:
        """Return the file of input table ``name``."""
        return table_file(self.tables, name)

    @property
    def features(self) -> Path:
        """Return the features folder of ds and phase."""
        return self._dated("features", self.phase)

    @property
    def recommendations(self) -> Path:
        """Return the recommendations folder of ds and phase."""
        return self._dated("recommendations", self.phase)

    @property
    def validated(self) -> Path:
        """Return what validation passed for ds and phase: kept apart from what it checks."""
        return self._dated("validated", self.phase)


def paths(ds: dt.date, phase: str, home: Path | None = None) -> Paths:
    """Return the archive paths for ``ds`` and ``phase``."""
    return Paths(home or settings.home(), ds, phase)


def table_file(folder: Path, name: str) -> Path:
    """Return the file of input table ``name`` in a tables folder."""
    return folder / f"{name}.parquet"


def outbox_folder(outbox: Path, ds: str) -> Path:
    """Return the folder of date ``ds`` in a phase's ``outbox``: its records and their metadata.

    Published as one (:func:`stagebook.atomic.replacing`), so a reader never pairs
    the records of one publication with the metadata of another.
    """
    return outbox / f"ds={ds}"


def outbox_file(outbox: Path, ds: str) -> Path:
    """Return the records (JSON lines) of date ``ds`` in a phase's ``outbox`` folder."""
    return File.OUTBOX_RECORDS.of(outbox_folder(outbox, ds))


def outbox_meta(outbox_file: Path) -> Path:
    """Return the metadata beside an outbox file (its digest, who approved it)."""
    return File.OUTBOX_META.of(outbox_file.parent)


def outbox_legacy(outbox: Path, ds: str) -> tuple[Path, Path]:
    """Return the records and metadata of date ``ds`` as written before dates had folders."""
    return outbox / f"ds={ds}.jsonl", outbox / f"ds={ds}.meta.json"


# --- runs -----------------------------------------------------------------------------------


def run_locks(home: Path | None = None) -> Path:
    """Return the folder of the run locks: one file per (DAG, date) a ``stagebook run`` ran."""
    return (home or settings.home()) / "runs"


def run_lock(dag_id: str, ds: dt.date, home: Path | None = None) -> Path:
    """Return the lock that ``stagebook run`` holds while it runs ``dag_id`` for ``ds``."""
    return run_locks(home) / dag_id / f"ds={ds.isoformat()}.lock"


# --- reports ------------------------------------------------------------------------------


def reports_root(home: Path | None = None) -> Path:
    """Return the root of every archived report."""
    return (home or settings.home()) / "reports"


def index_page(home: Path | None = None) -> Path:
    """Return the index of every archived report."""
    return reports_root(home) / "index.html"


def report_day(dag_id: str, ds: dt.date, home: Path | None = None) -> Path:
    """Return the folder of a DAG's reports of one date, one folder per phase inside."""
    return reports_root(home) / dag_id / ds.isoformat()


def run_folder_name(run_id: str) -> str:
    """Return the folder of a run's reports: its id, each run of unsafe characters as ``-``.

    ``scheduled__2019-11-21T01:00:00+00:00`` -> ``scheduled__2019-11-21T01-00-00-00-00``.
    """
    return _UNSAFE.sub("-", run_id).strip("-") or "run"


def report_folder(
    dag_id: str, ds: dt.date, phase: str, run_id: str, home: Path | None = None
) -> Path:
    """Return the folder of one run's reports of one date and phase: never shared by two runs."""
    return report_day(dag_id, ds, home) / phase / run_folder_name(run_id)


def try_name(stage: str, try_number: int, suffix: str = NOTEBOOK) -> str:
    """Return the file name of one try of a stage: ``<stage>.try<N><suffix>``."""
    return f"{stage}.try{try_number}{suffix}"


def parse_try(name: str) -> tuple[str, int, str] | None:
    """Return (stage, try number, suffix) of a report's file name, or None if it is not one."""
    found = _TRY.match(name)
    return (found["stage"], int(found["number"]), found["suffix"]) if found else None


def report_path(
    dag_id: str,
    ds: dt.date,
    phase: str,
    run_id: str,
    stage: str,
    try_number: int,
    home: Path | None = None,
) -> Path:
    """Return the archived notebook of one try of one stage in one run."""
    return report_folder(dag_id, ds, phase, run_id, home) / try_name(stage, try_number)


def replay_path(
    dag_id: str,
    ds: str,
    phase: str,
    run_folder: str,
    stage: str,
    try_number: int,
    home: Path | None = None,
) -> Path:
    """Return where ``stagebook replay`` writes one try's notebook (``run_folder``: its run's folder)."""
    root = (home or settings.home()) / "replays"
    return root / dag_id / ds / phase / run_folder / try_name(stage, try_number)


def rendering(notebook: Path) -> Path:
    """Return the HTML rendering of an archived notebook."""
    return notebook.with_suffix(HTML)


def sidecar(notebook: Path) -> Path:
    """Return the sidecar of an archived notebook: its try's state, records and key figure."""
    return notebook.with_suffix(SIDECAR)


def tries(folder: Path, stage: str, suffix: str = HTML) -> list[tuple[int, Path]]:
    """Return (try number, path) of every archived try of ``stage`` in ``folder``, oldest first."""
    found = []
    for path in folder.glob(f"{stage}.try*{suffix}"):
        parsed = parse_try(path.name)
        if parsed and parsed[0] == stage and parsed[2] == suffix:
            found.append((parsed[1], path))
    return sorted(found)


def sidecars(home: Path | None = None) -> list[tuple[str, str, str, str, Path]]:
    """Return (dag_id, ds, phase, run folder, path) of every try's sidecar in the archive."""
    root = reports_root(home)
    return [
        (*path.relative_to(root).parts[:4], path)
        for path in root.glob(f"*/*/*/*/*.try*{SIDECAR}")
        if parse_try(path.name)
    ]
