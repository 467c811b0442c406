"""The archive as reviewers see it: tries, runs and dates, read from sidecars only.

Every page of the Stagebook app (:mod:`stagebook.orchestration.reviewing.web`) is built
from what this module returns. Nothing here reads a notebook to show a number:
each try's sidecar (``<NN-stage>.try<N>.json``, written by the operator) holds
its state, times, records and key figure. A malformed sidecar is skipped and
logged. A name that does not exist raises :class:`Unknown`, which says what.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections import defaultdict
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from stagebook import sidecars, storage
from stagebook.orchestration.execution import runlock

STAGE = re.compile(r"^\d\d-[a-z0-9][a-z0-9-]*$")


class Unknown(LookupError):
    """A name in a request that the archive does not hold; the message says which."""


@dataclasses.dataclass(frozen=True)
class Try:
    """One archived try of one stage in one run, as its sidecar describes it."""

    dag_id: str
    ds: str
    phase: str
    run: str  # the run's folder name
    stage: str
    number: int
    info: dict[str, Any]
    sidecar: Path

    @property
    def notebook(self) -> Path:
        """Return the try's archived notebook."""
        return self.sidecar.with_suffix(storage.NOTEBOOK)

    @property
    def state(self) -> str:
        """Return the try's state: ``running``, ``success``, ``failed``, ``interrupted``, ``lost``.

        A try the sidecar says is running, whose process on this host is gone, is ``lost``
        (``unknown`` if the sidecar says nothing).
        """
        state = str(self.info.get("state") or "unknown")
        if state == "running" and runlock.alive(self.info) is False:
            return sidecars.LOST
        return state

    @property
    def started(self) -> str:
        """Return when the try started (ISO 8601), or ``""``."""
        return str(self.info.get("started") or "")

    @property
    def figure(self) -> str:
        """Return the try's key figure as text, e.g. ``test AUC 0.686``, or ``""``."""
        figure = self.info.get("figure")
        if not isinstance(figure, dict) or figure.get("value") is None:
            return ""
        value = figure["value"]
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f"{figure.get('label', '')} {shown}".strip()

    @property
    def route(self) -> str:
        """Return the path of this try's report under the app, e.g. ``reports/dag/ds/...``."""
        return f"reports/{self.dag_id}/{self.ds}/{self.phase}/{self.run}/{self.stage}/{self.number}"


# Tries read so far, by sidecar path: (mtime in ns, size) and the try. A page reads
# every sidecar of its DAGs; a year of both phases is 8,000 of them, nearly all unchanged.
_READ: dict[str, tuple[tuple[int, int], Try]] = {}
_READ_AT_MOST = 200_000


def _folders(path: str) -> Iterator[os.DirEntry]:
    try:
        with os.scandir(path) as found:
            yield from (entry for entry in found if entry.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return


def tries(dag_ids: Collection[str] | None = None, home: Path | None = None) -> list[Try]:
    """Return every try in the archive (of ``dag_ids`` only, if given), malformed sidecars skipped.

    A sidecar is read again only when it changed (its mtime or size).
    """
    root = storage.reports_root(home)
    found = []
    for dag in _folders(str(root)):
        if dag_ids is not None and dag.name not in dag_ids:
            continue
        for day in _folders(dag.path):
            for phase in _folders(day.path):
                for run in _folders(phase.path):
                    with os.scandir(run.path) as files:
                        for entry in files:
                            if not entry.name.endswith(storage.SIDECAR):
                                continue
                            t = _cached(entry.path, (dag.name, day.name, phase.name, run.name))
                            if t is not None:
                                found.append(t)
    return found


def _cached(path: str, where: tuple[str, str, str, str]) -> Try | None:
    """Return the try whose sidecar is ``path`` (dag, ds, phase, run: ``where``).

    None if it is gone or malformed (logged); read again only when it changed.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    known = _READ.get(path)
    if known is not None and known[0] == key:
        return known[1]
    parsed = storage.parse_try(os.path.basename(path))
    if parsed is None or parsed[2] != storage.SIDECAR:
        return None
    info = sidecars.read_sidecar(Path(path))
    if info is None:
        return None
    found = Try(*where, parsed[0], parsed[1], info, Path(path))
    if len(_READ) >= _READ_AT_MOST:
        _READ.clear()
    _READ[path] = (key, found)
    return found


def latest_runs(found: list[Try]) -> dict[tuple[str, str, str], list[str]]:
    """Return (dag_id, ds, phase) -> its runs' folders, the latest started first."""
    started: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for t in found:
        runs = started[t.dag_id, t.ds, t.phase]
        runs[t.run] = max(runs.get(t.run, ""), t.started)
    return {key: sorted(runs, key=runs.__getitem__, reverse=True) for key, runs in started.items()}


def matrix(found: list[Try]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return dag_id -> phase -> {"stages": [...], "rows": [...]}: a date x stage matrix.

    Each row is one date, newest first: ``{"ds", "run" (its id), "earlier": [run
    folders], "cells": {stage: (latest try, number of tries)}}`` for the latest run
    of that date. The columns are every stage the phase ever archived.
    """
    runs = latest_runs(found)
    cells: dict[tuple[str, str, str, str], dict[str, list[Try]]] = defaultdict(
        lambda: defaultdict(list)
    )
    stages: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in found:
        cells[t.dag_id, t.ds, t.phase, t.run][t.stage].append(t)
        stages[t.dag_id, t.phase].add(t.stage)
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (dag_id, ds, phase), ordered in sorted(runs.items(), key=lambda kv: kv[0][1], reverse=True):
        table = out[dag_id].setdefault(phase, {"stages": sorted(stages[dag_id, phase]), "rows": []})
        row_cells = {}
        for stage, stage_tries in cells[dag_id, ds, phase, ordered[0]].items():
            stage_tries.sort(key=lambda t: t.number)
            row_cells[stage] = (stage_tries[-1], len(stage_tries))
        run_id = next(iter(row_cells.values()))[0].info.get("run_id") or ordered[0]
        table["rows"].append({"ds": ds, "run": run_id, "earlier": ordered[1:], "cells": row_cells})
    return {dag: dict(sorted(phases.items())) for dag, phases in sorted(out.items())}


def _name(kind: str, value: str) -> str:
    if not storage.NAME.match(value) or value in (".", ".."):
        raise Unknown(f"unknown {kind} {value!r}: not a name the archive uses")
    return value


def _folder(parent: Path, kind: str, value: str) -> Path:
    folder = parent / _name(kind, value)
    if not folder.is_dir():
        raise Unknown(f"unknown {kind} {value!r}: the archive has no reports for it")
    return folder


def day_folder(dag_id: str, ds: str, home: Path | None = None) -> Path:
    """Return the reports folder of a DAG's date, or raise :class:`Unknown` naming what is unknown."""
    folder = _folder(storage.reports_root(home), "DAG", dag_id)
    try:
        dt.date.fromisoformat(ds)
    except ValueError:
        raise Unknown(f"unknown date {ds!r}: a date is written YYYY-MM-DD") from None
    return _folder(folder, "date", ds)


def find(
    dag_id: str,
    ds: str,
    phase: str,
    run: str,
    stage: str,
    number: str,
    home: Path | None = None,
) -> Try:
    """Return one try, checking each name against the archive's layout (no traversal)."""
    folder = _folder(_folder(day_folder(dag_id, ds, home), "phase", phase), "run", run)
    if not STAGE.match(stage):
        raise Unknown(f"unknown stage {stage!r}: a stage is named NN-name, e.g. 30-score")
    if not number.isdigit() or int(number) < 1:
        raise Unknown(f"unknown try {number!r}: a try is a number from 1")
    sidecar = folder / storage.try_name(stage, int(number), storage.SIDECAR)
    root = storage.reports_root(home).resolve()
    if not sidecar.resolve().is_relative_to(root):
        raise Unknown(f"unknown stage {stage!r}")
    info = sidecars.read_sidecar(sidecar)
    if info is None:
        if not any(folder.glob(f"{stage}.try*")):
            raise Unknown(f"unknown stage {stage!r} in run {run} of {ds} ({phase})")
        raise Unknown(f"unknown try {number} of {stage} in run {run} of {ds} ({phase})")
    return Try(dag_id, ds, phase, run, stage, int(number), info, sidecar)


def of_task(dag_id: str, run_id: str, task_id: str, home: Path | None = None) -> list[Try]:
    """Return every try of one task instance, oldest first (empty if it archived none)."""
    root = storage.reports_root(home)
    folder = _folder(root, "DAG", dag_id)
    pattern = f"*/*/{storage.run_folder_name(run_id)}/*.try*{storage.SIDECAR}"
    found = (_cached(str(path), path.relative_to(root).parts[:4]) for path in folder.glob(pattern))
    mine = [
        t for t in found if t and (t.info.get("task_id"), t.info.get("run_id")) == (task_id, run_id)
    ]
    return sorted(mine, key=lambda t: t.number)
