"""Running the real DAG in a test, and reading back what a run left: states, XComs, reports."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from stagebook import storage
from tests.support import DAG_ID


@dataclasses.dataclass
class Run:
    """A finished ``dag.test()`` run, with what it printed and logged."""

    dag_run: Any
    out: str = ""
    logs: list[logging.LogRecord] = dataclasses.field(default_factory=list)

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    @property
    def states(self) -> dict[str, str]:
        return states(self.dag_run)

    def messages(self, logger: str) -> list[str]:
        return [r.getMessage() for r in self.logs if r.name == logger]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured() -> Iterator[Run]:
    """Capture file descriptors 1 and 2 and every log record while the block runs.

    For module-scoped runs, where pytest's ``capfd`` and ``caplog`` (per test) cannot reach.
    """
    result = Run(None)
    keep = _Keep()
    logging.getLogger().addHandler(keep)
    saved = [os.dup(1), os.dup(2)]
    streams = sys.stdout, sys.stderr
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)  # what kernels and other processes write
        os.dup2(sink.fileno(), 2)
        text = open(sink.fileno(), "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stdout = sys.stderr = text  # what this process writes, past pytest's own capture
        try:
            yield result
        finally:
            text.flush()
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            logging.getLogger().removeHandler(keep)
            sink.seek(0)
            result.out = sink.read().decode(errors="replace")
            result.logs = keep.records


def run_dag(ds, conf, only=None) -> Run:
    """Run the real DAG through ``dag.test()`` for business date ``ds``, capturing its output."""
    from stagebook.orchestration.commands import localrun

    with captured() as run:
        run.dag_run = localrun.run_dag(ds, conf, only=only)
    return run


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run, task_id, key):
    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        ).one()
        return XComModel.deserialize_value(row)


def xcom_or_none(run, task_id, key):
    """Return an XCom, or None if the task pushed none under ``key``."""
    try:
        return xcom(run, task_id, key)
    except NoResultFound:
        return None


def reports(home: Path, ds, phase, run=None) -> Path:
    """Return the report folder of ``run`` (a DagRun), or of the latest run of the date and phase."""
    if run is not None:
        return storage.report_folder(DAG_ID, ds, phase, run.run_id, home)
    folder = storage.report_day(DAG_ID, ds, home) / phase
    runs = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime) if folder.exists() else []
    return runs[-1] if runs else folder / "no-run"


def injected(path):
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    return "".join(cell["source"])


def outputs_text(path):
    nb = json.loads(path.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)


def what(message):
    return message["event"], message["task"], message["try"]
