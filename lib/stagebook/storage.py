"""The archive layout, and atomic writes into it: every archive path is built here.

```
data/<pipeline>/                    a pipeline's data area                Paths.data
  <name>/ds=YYYY-MM-DD/...          a pipeline's dataset of one date      Paths.dated(name)
  <name>/<phase>/ds=YYYY-MM-DD/...  ... of one date and phase             Paths.phased(name)
  <part>/<part>/...                 any other folder of the pipeline      Paths.folder(*parts)
runs/<dag_id>/ds=YYYY-MM-DD.lock
replays/<dag_id>/<ds>/<phase>/<run>/<NN-stage>.try<N>.ipynb
reports/<dag_id>/<ds>/<phase>/<run>/<NN-stage>.try<N>.ipynb, .html, .json
reports/index.html
```

The framework owns the runs, replays and reports. A pipeline declares its own
datasets in its own package, as a subclass of :class:`Paths` built only from the
blocks above, and names the files of its folders with a subclass of :class:`File`;
its params' ``paths()`` hook hands that subclass to its stages (``ctx.paths``).

How a file or folder is written there is :mod:`stagebook.atomic`'s. (papermill
writes the archived ``.ipynb`` of a running try in place, cell by cell.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from pathlib import Path
from typing import Self

from stagebook import settings

NOTEBOOK, HTML, SIDECAR = ".ipynb", ".html", ".json"
_TRY = re.compile(r"^(?P<stage>.+)\.try(?P<number>\d+)(?P<suffix>\.\w+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")  # a DAG id, phase, run or stage folder


class File(enum.StrEnum):
    """The fixed names of a folder's files: a pipeline subclasses it with its own.

    ``class Files(storage.File): WEIGHTS = "weights.npz"`` gives
    ``Files.WEIGHTS.of(folder)`` -> ``folder / "weights.npz"``.
    """

    def of(self, folder: Path) -> Path:
        """Return this file in ``folder``."""
        return folder / self.value


def partition(ds: dt.date | str, key: str = "ds") -> str:
    """Return the folder name of one date's partition: ``ds=2019-11-20`` (or ``<key>=...``)."""
    return f"{key}={ds.isoformat() if isinstance(ds, dt.date) else ds}"


@dataclasses.dataclass(frozen=True)
class Paths:
    """The archive paths of one date and phase; a pipeline's subclass names its datasets."""

    home: Path
    ds: dt.date
    phase: str
    pipeline: str = dataclasses.field(default_factory=settings.pipeline_name)

    def on(self, ds: dt.date) -> Self:
        """Return the paths of the same phase (and the same class) for another date."""
        return dataclasses.replace(self, ds=ds)

    @property
    def data(self) -> Path:
        """Return the root of the pipeline's datasets: ``<home>/data/<pipeline>``."""
        return data_area(self.pipeline, self.home)

    def folder(self, *parts: str) -> Path:
        """Return the folder ``parts`` of the pipeline's data: ``<data>/<part>/<part>...``."""
        return self.data.joinpath(*parts)

    def dated(self, *parts: str, date: dt.date | None = None) -> Path:
        """Return dataset ``parts`` of ``date`` (default: ds): ``<data>/<parts>/ds=<date>``."""
        return self.folder(*parts, partition(date or self.ds))

    def phased(self, name: str, date: dt.date | None = None) -> Path:
        """Return dataset ``name`` of the phase and ``date``: ``<data>/<name>/<phase>/ds=<d>``."""
        return self.dated(name, self.phase, date=date)


def data_area(pipeline: str, home: Path | None = None) -> Path:
    """Return the folder of pipeline ``pipeline``'s datasets: each pipeline has its own."""
    return (home or settings.home()) / "data" / pipeline


def paths(ds: dt.date, phase: str, home: Path | None = None) -> Paths:
    """Return the core archive paths of ``ds`` and ``phase`` (a pipeline's: ``Params.paths``)."""
    return Paths(home or settings.home(), ds, phase)


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
