"""What ``stagebook run`` reads and settles in the embedded Airflow's metastore.

``dag.test()`` runs in this process, so the run it created is settled here when
the process stops it early (a signal, a full disk) or when a later command finds
it left ``running`` by a process that is gone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

ACTIVE = ("queued", "running")
UNFINISHED = (
    "running",
    "queued",
    "scheduled",
    "up_for_retry",
    "up_for_reschedule",
    "deferred",
    "awaiting_input",
)


def fail_run(dag_id: str, logical_date: dt.datetime) -> None:
    """Mark the run of ``dag_id`` at ``logical_date`` failed, with its unfinished tasks."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    settings.Session.remove()  # dag.test()'s session, which a stop may have left mid-transaction
    with create_session(scoped=False) as session:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        )
        if run is None or str(run.state) not in ACTIVE:
            return
        for ti in run.get_task_instances(session=session):
            if str(ti.state) in UNFINISHED:
                ti.set_state(TaskInstanceState.FAILED, session=session)
        run.set_state(DagRunState.FAILED)


def active_run(dag_id: str, ds: dt.date, timezone: str) -> Any | None:
    """Return the id of an active run of ``dag_id`` for business date ``ds``, or None."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from stagebook import dates

    with create_session(scoped=False) as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state.in_(ACTIVE))
        ).all()
        for run in runs:
            if dates.business_date_of(run.conf, run.data_interval_start, timezone) == ds:
                return run.run_id
    return None
