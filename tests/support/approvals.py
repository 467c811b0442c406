"""A real ``stagebook run`` that waits in ``prod.approve``, for the tests that answer it.

The run is a process of its own on the session's metastore: ``prod`` on a
collapsed day (``inference.mode: popular``) with a soft limit on the catalogue
coverage, so its gate asks and waits in ``awaiting_input``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from sqlalchemy import select

from tests.support import DAG_ID, TINY

DS = dt.date(2019, 11, 20)
OVERRIDES = {**TINY, "inference.mode": "popular"}
SOFT = {"validation.soft": {"min_catalogue_coverage": 0.9}, "validation.approval_timeout_s": 3600}
WAITS = ("awaiting_input",)  # a gate waiting for its answer


@dataclasses.dataclass
class Waiting:
    """The ``stagebook run`` process, and its run once ``prod.approve`` waits."""

    proc: subprocess.Popen
    out: Path
    run_id: str = ""

    def output(self) -> str:
        return self.out.read_text(errors="replace")[-5000:]


def gate_state(run_id: str, task_id: str = "prod.approve") -> str | None:
    """Return the state of the gate of ``run_id`` in the metastore."""
    with create_session() as session:
        state = session.scalar(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
            )
        )
    return None if state is None else str(state)


def _waits(run: Waiting, since: dt.datetime, deadline_s: float = 600) -> str:
    """Return the run id once ``prod.approve`` of a run started ``since`` waits for an answer."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            pytest.fail(f"stagebook run ended before prod.approve waited:\n{run.output()}")
        with create_session() as session:
            waiting = session.scalar(
                select(TaskInstance.run_id)
                .join(DagRun, DagRun.run_id == TaskInstance.run_id)
                .where(
                    TaskInstance.dag_id == DAG_ID,
                    TaskInstance.task_id == "prod.approve",
                    TaskInstance.state.in_(WAITS),
                    DagRun.start_date >= since,
                )
            )
        if waiting:
            return waiting
        time.sleep(1)
    pytest.fail(f"prod.approve did not wait within {deadline_s} s:\n{run.output()}")


def start(out: Path) -> Waiting:
    """Start ``stagebook run --phases prod`` of :data:`DS`; return it once its gate waits."""
    sets = [arg for key, value in OVERRIDES.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "run", "--ds", str(DS)]
    since = dt.datetime.now(dt.UTC)
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [*command, "--phases", "prod", *sets], stdout=sink, stderr=subprocess.STDOUT
        )
    run = Waiting(proc, out)
    run.run_id = _waits(run, since)
    return run
