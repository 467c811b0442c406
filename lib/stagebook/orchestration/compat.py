"""The only place where Stagebook reaches past Airflow's public interfaces.

Everything else uses ``airflow.sdk`` (and ``dag.test()``), the REST API v2,
documented configuration and logging, the plugin and listener interfaces and
documented provider modules. What follows has no public way in Airflow 3.3;
each item says why, and ``tests/lib/orchestration/test_compat.py`` pins it (a
signature and a behaviour), so that an Airflow upgrade that changes one fails
there, naming the item. ``tests/lib/test_airflow_imports.py`` holds every other
module to the public interfaces and this one to :data:`REACH_INS`.

Items:

1. :func:`each_task`: a hook around each task that ``dag.test()`` runs.
2. :func:`fail_run`, :func:`active_runs`, :func:`run_record`: run records
   of the metastore, read or settled outside a task and without a server.
3. :func:`asset_events`: an asset's events, read outside a task and without a server.
4. :func:`awaiting_input_sweep`: the scheduler's timeout of unanswered human-in-the-loop
   tasks, for ``dag.test()``, which runs no scheduler.
5. :func:`stored_connection`: a connection of the metastore, for the DAG callbacks
   that ``dag.test()`` runs outside any task.
6. :func:`execution_api`: ``dag.test()``'s in-process execution API, built ahead.
7. :func:`task_states`: the task states of a run, read by a deadline's callback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

# Each module imported below that is not a public interface, and why (the test holds it to this).
REACH_INS: dict[str, str] = {
    "airflow.models.dagrun": "item 2: a run's record, outside a task and without an API server",
    "airflow.models.asset": "item 3: an asset's events, outside a task and without an API server",
    "airflow.utils.session": "items 2 and 3: a metastore session outside a task",
    "airflow.settings": "item 2: drop the scoped session a stopped dag.test() left mid-transaction",
    "airflow.jobs.job": "item 4: the scheduler's job record its timeout sweep belongs to",
    "airflow.jobs.scheduler_job_runner": "item 4: the scheduler's sweep of unanswered HITL tasks",
    "airflow.models.connection": "item 5: a stored connection, outside a task, without a server",
    "airflow.sdk.execution_time.supervisor": "item 6: the cached factory of dag.test()'s execution API",
    "airflow.sdk.execution_time.task_runner": "item 7: task states, from a callback outside a task",
}

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


class RunRecord(NamedTuple):
    """What Stagebook reads of a run's record in the metastore."""

    run_id: str
    state: str
    run_type: str
    conf: dict[str, Any] | None
    data_interval_start: dt.datetime | None


@contextlib.contextmanager
def each_task(around: Callable[[Any, Callable[[], Any]], Any]) -> Iterator[None]:
    """Item 1: while the block runs, ``dag.test()`` runs each task as ``around(ti, run)``.

    ``around`` gets the task instance (its ``dag_id``, ``run_id``, ``task_id``,
    ``map_index``, ``try_number`` set for this try) and ``run``, which runs the
    task and returns its result; what ``around`` raises leaves ``dag.test()``
    if it is not an ``Exception`` (e.g. ``stopping.Interrupted``).

    Why no public way: ``dag.test()`` has no per-task hook. Listeners (the
    documented ``on_task_instance_running``/``_success``/``_failed``) run inside
    the task runner, after its first log lines and before its last (the task's
    log file would miss them), not at all for a task that defers (an approval),
    and swallow what they raise or, raising a ``BaseException``, cut the task
    runner's own finalization short: a stop asked during a task could not end
    the run between two tasks. ``dag.test()`` calls the module-level function
    ``airflow.sdk.definitions.dag._run_task(ti=, task=, run_triggerer=)`` once
    per try; this wraps it.
    """
    from unittest import mock

    from airflow.sdk.definitions import dag as sdk_dag

    run_task = sdk_dag._run_task

    def wrapped(*, ti: Any, task: Any, **kwargs: Any) -> Any:
        return around(ti, lambda: run_task(ti=ti, task=task, **kwargs))

    with mock.patch.object(sdk_dag, "_run_task", wrapped):  # restored however the block ends
        yield


def _record(run: Any) -> RunRecord:
    return RunRecord(
        run_id=run.run_id,
        state=str(run.state),
        run_type=str(run.run_type),
        conf=dict(run.conf) if run.conf else None,
        data_interval_start=run.data_interval_start,
    )


def fail_run(dag_id: str, logical_date: dt.datetime) -> None:
    """Item 2: mark the run of ``dag_id`` at ``logical_date`` failed, with its unfinished tasks.

    Why no public way: ``stagebook run`` runs ``dag.test()`` in its own process,
    with no API server (the REST API's ``PATCH dagRuns`` needs one); the run a
    stop interrupted, or a process that is gone left ``running``, is settled
    here. Does nothing if the run is not queued or running.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DagRunState, TaskInstanceState
    from airflow.utils.session import create_session
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


def active_runs(dag_id: str) -> list[RunRecord]:
    """Item 2: return the queued and running runs of ``dag_id``.

    Why no public way: ``stagebook run`` refuses a second run of a date before
    starting ``dag.test()``, in a process without an API server.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session(scoped=False) as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state.in_(ACTIVE))
        ).all()
        return [_record(run) for run in runs]


def run_record(session: Any, dag_id: str, run_id: str) -> RunRecord | None:
    """Item 2: return the record of run ``run_id`` of ``dag_id`` through Airflow's ``session``.

    Why no public way: a custom deadline reference's ``_evaluate_with`` gets only
    the scheduler's session and the run's ids (Airflow's own docstring of
    ``deadline_reference`` says to import Core's models there); the run's conf and
    data interval are in the metastore only.
    """
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    return None if run is None else _record(run)


def asset_events(uri: str) -> list[tuple[str | None, dict[str, Any], dt.datetime]]:
    """Item 3: return ``(source task id, extra, timestamp)`` of each event of asset ``uri``, newest first.

    Why no public way: ``airflow.sdk`` reads asset events inside a running task
    only (``inlet_events``), and the REST API's ``GET assets/events`` needs an
    API server, which ``stagebook lineage`` does not have on one machine.
    """
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session(scoped=False) as session:
        rows = session.execute(
            select(AssetEvent.source_task_id, AssetEvent.extra, AssetEvent.timestamp)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        ).all()
    return [(task, dict(extra or {}), when) for task, extra, when in rows]


def awaiting_input_sweep() -> Callable[[], None]:
    """Item 4: return the scheduler's sweep that answers HITL tasks left unanswered past their timeout.

    The sweep records each such task's default answer (an approval gate's
    Reject), by nobody, and resumes the task. Why no public way: in Airflow 3.3
    a waiting human-in-the-loop task's ``response_timeout`` is enforced by this
    sweep of the scheduler alone (the standard provider's ``HITLOperator``
    says so), and ``dag.test()`` runs no scheduler. The provider's older path,
    deferring to ``HITLTrigger``, cannot run there either: the trigger's reads
    of its answer (``GetHITLDetailResponse``) are a triggerer's request, which
    ``dag.test()``'s in-process supervisor does not answer.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    return SchedulerJobRunner(Job()).check_awaiting_input_timeouts  # never started or stored


def stored_connection(conn_id: str) -> str | None:
    """Item 5: return connection ``conn_id`` as JSON, from the environment or the metastore (None: none).

    Why no public way: ``dag.test()`` runs a DAG's callbacks in the calling
    process, outside any task, where ``airflow.sdk.Connection.get`` reads the
    environment and the execution API only, never the metastore (checked on 3.3:
    a connection added with ``airflow connections add`` is not found there), and
    the REST API needs a server. The documented ``airflow connections get`` would
    cost a process of about 3 s per connection.
    """
    from airflow.models.connection import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get_connection_from_secrets(conn_id).as_json()
    except AirflowNotFoundException:
        return None


def execution_api(*, serving: bool = True) -> None:
    """Item 6: build ``dag.test()``'s in-process execution API and answer one request with it.

    Done before the run's first task (:mod:`stagebook.orchestration.execution.warmup`),
    so that the first stage does not pay about 3 s of it. Airflow has no public way
    to build it ahead: ``dag.test()`` takes it from
    ``airflow.sdk.execution_time.supervisor.in_process_api_server()``, a private,
    cached factory, and builds Cadwyn's versioned routers on the app's first
    request. This is the one place Stagebook calls it. What it builds is the very
    instance ``dag.test()`` then uses: the factory caches it.

    ``serving=False`` builds the app and its routers only, with one request through
    FastAPI's test client, without the app's lifespan and leaving no thread behind:
    for the warm process (:mod:`stagebook.orchestration.commands.warm`), which forks
    its runs, each of which then starts the API's own loop (a thread does not
    survive a fork, and the lifespan runs once per app).
    """
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    api = in_process_api_server()
    if not serving:
        from fastapi.testclient import TestClient

        TestClient(api.app).get("/health")  # no `with`: no lifespan, the client's thread ends
        return
    # Not closed: closing the client would close the transport dag.test() goes on using.
    client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid")
    client.get("/health")


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    """Item 7: return ``{task_id: state}`` of run ``run_id``, from a deadline's callback.

    Why no public way: a deadline's callback runs in the triggerer, outside any
    task, with no ``ti`` in its context; the Task SDK reads a run's task states
    through ``RuntimeTaskInstance.get_task_states`` (what ``context["ti"]``
    offers inside a task), and the REST API needs a user's credentials, which
    the triggerer does not hold.
    """
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    found = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
    return dict(found.get(run_id, {}))
