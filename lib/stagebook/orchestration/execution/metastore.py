"""What ``stagebook run`` reads and settles in the embedded Airflow's metastore.

``dag.test()`` runs in this process, so the run it created is settled here when
the process stops it early (a signal, a full disk) or when a later command finds
it left ``running`` by a process that is gone. No API server runs beside it, so
both go through :mod:`stagebook.orchestration.compat` (item 2).
"""

from __future__ import annotations

import datetime as dt

from stagebook.orchestration import compat


def fail_run(dag_id: str, logical_date: dt.datetime) -> None:
    """Mark the run of ``dag_id`` at ``logical_date`` failed, with its unfinished tasks."""
    compat.fail_run(dag_id, logical_date)


def active_run(dag_id: str, ds: dt.date, timezone: str) -> str | None:
    """Return the id of an active run of ``dag_id`` for business date ``ds``, or None."""
    from stagebook import dates

    for run in compat.active_runs(dag_id):
        if dates.business_date_of(run.conf, run.data_interval_start, timezone) == ds:
            return run.run_id
    return None
