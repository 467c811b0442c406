"""``stagebook run``: one date of a pipeline through Airflow in this process (``dag.test()``).

The run is a manual one at the present moment, as a trigger from the UI is,
with ``ds`` in its conf. Around ``dag.test()`` it holds the date's run lock
(:mod:`stagebook.orchestration.execution.runlock`: a second run of the date is refused),
handles TERM and INT as a stop (:mod:`stagebook.orchestration.execution.stopping`), and
turns what can stop a run from outside (a signal, a metastore that cannot be
written) into one line and an exit code: 0 success, 1 a failed run, 2 bad
input, 128 + the signal for a stopped run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from typing import Any

from stagebook import params, pipelines, runconf, settings, storage
from stagebook.errors import ParamsError, PipelineError, StagebookError
from stagebook.orchestration.execution import kernels, runlock, stopping, tasklogs

DUPLICATE_DAG = "UNIQUE constraint failed: dag"  # two first runs on a new home serialize one DAG
TRIES_ON_A_NEW_HOME = 3


def latest_complete_date(timezone: str, today: dt.date | None = None) -> dt.date:
    """Return the newest date a run can process today (in ``timezone``), as the params' schema says."""
    import pendulum

    today = today or pendulum.now(timezone).date()
    return params.load().latest_complete_date(today)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["train.epochs=2"]`` into ``{"train.epochs": 2}`` (values read as YAML scalars)."""
    return dict(runconf.parse_override(pair) for pair in pairs)


def run_conf(phases: str | None, overrides: list[str]) -> dict[str, Any]:
    """Return the run conf of a CLI run, validated like the DAG's ``select_phase`` does."""
    conf: dict[str, Any] = {}
    if phases:
        conf["phases"] = [p.strip() for p in phases.split(",") if p.strip()]
    if overrides:
        conf["overrides"] = parse_overrides(overrides)
    params.resolve_run_conf(conf)
    return conf


def skip_pattern(dag: Any, only: str | None) -> str | None:
    """Return ``dag.test()``'s pattern of tasks to mark success for ``--only``; refuse a bad one."""
    if only is None:
        return None
    try:
        wanted = re.compile(only)
    except re.error as exc:
        raise ParamsError(f"--only {only!r} is not a regular expression ({exc})") from None
    if not any(wanted.fullmatch(task_id) for task_id in dag.task_ids):
        raise ParamsError(
            f"--only {only!r} matches no task of {dag.dag_id}; its tasks: {', '.join(dag.task_ids)}"
        )
    return f"(?!(?:{only})$).*"


def channel_connections() -> dict[str, str]:
    """Return ``AIRFLOW_CONN_<ID>`` -> JSON of the metastore's notification connections.

    ``dag.test()`` runs the DAG's callbacks in this process, where Airflow's task
    SDK reads connections from the environment only; the CLI, not the task code,
    reads the metastore, for the connections of the channels that params enable.
    """
    from stagebook.orchestration import compat

    wanted = set()
    for phase in [None, *params.known_phases()]:
        config = params.load_or_common(phase).notifications
        for channel in config.channels:
            conn_id = getattr(config, f"{channel}_conn_id", None)
            if conn_id and settings.connection_variable(conn_id) not in os.environ:
                wanted.add(conn_id)
    found = {}
    for conn_id in sorted(wanted):
        stored = compat.stored_connection(conn_id)
        if stored is not None:  # else the channel's own send names what is missing
            found[settings.connection_variable(conn_id)] = stored
    return found


def run_dag(
    ds: dt.date,
    conf: dict[str, Any],
    *,
    only: str | None = None,
    dag: Any = None,
    logical_date: dt.datetime | None = None,
) -> Any:
    r"""Run the pipeline for business date ``ds`` with ``dag.test()``; return the run.

    The run is a manual one at ``logical_date`` (default: now), as a trigger from
    the UI is, with ``ds`` in its conf: it never takes the logical date of a
    scheduled run (``dag.test()`` would clear that run's tasks, and the scheduler
    would then never create it), and its start and end are its real ones. Each
    task's log is written where the UI reads it.

    ``only``: a regex of task ids to run; every other task is marked success
    without running (to re-run one stage, e.g. ``prod\.publish``).
    """
    from airflow.sdk import timezone

    from stagebook.orchestration.approving import approval
    from stagebook.orchestration.commands import dags
    from stagebook.orchestration.execution import warmup
    from stagebook.orchestration.notifying import deadline

    dag = dag or dags.load_dag()
    skip = skip_pattern(dag, only)
    logical_date = logical_date or timezone.utcnow()
    # A spare kernel needs its task to run, which --only does not promise.
    warm = kernels.warming(dag.roots, dag.dag_id, enabled=only is None)
    # No scheduler runs under dag.test(): its sweep of unanswered approvals runs beside it.
    # Deadlines are a served scheduler's: dag.test() neither keeps them nor survives one.
    untimed = deadline.untimed(dag)
    with settings.environ(channel_connections()), tasklogs.written(), warm, untimed:
        with approval.timeouts(dag):
            warmup.warm()  # while the spare kernels start: the first task does not build it
            for attempt in range(1, TRIES_ON_A_NEW_HOME + 1):
                try:
                    return dag.test(
                        logical_date=logical_date,
                        run_after=logical_date,
                        run_conf={**conf, "ds": ds.isoformat()},
                        mark_success_pattern=skip,
                    )
                except Exception as exc:  # another first run serialized this DAG at the same moment
                    if DUPLICATE_DAG not in str(exc) or attempt == TRIES_ON_A_NEW_HOME:
                        raise
                    time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def run_id_of(logical_date: dt.datetime) -> str:
    """Return the id ``dag.test()`` gives a manual run at ``logical_date`` (run after it too)."""
    return f"manual__{logical_date.isoformat()}"


def summary(run: Any, ds: dt.date) -> str:
    """Return the states of the run's tasks and where their reports are."""
    lines = [f"run {run.run_id}: {run.state} (ds {ds})"]
    tis = sorted(run.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date))
    for ti in tis:
        took = f"{ti.duration:7.1f} s" if ti.duration is not None else "      -"
        lines.append(f"  {ti.task_id:<18} {ti.state!s:<16} tries {ti.try_number}  {took}")
    if run.start_date and run.end_date:
        took = (run.end_date - run.start_date).total_seconds()
        lines.append(f"  {'total':<18} {'':<16} {'':<8}  {took:7.1f} s")
    lines.append(f"reports: {storage.report_day(run.dag_id, ds)}")
    lines.append(f"logs:    {tasklogs.run_folder(run)}")
    lines.append(f"index:   {storage.index_page()}")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> int:
    """``stagebook run``: run one date, print its summary; return the exit code."""
    from stagebook.orchestration.commands import dags, home
    from stagebook.orchestration.execution import metastore

    try:
        pipelines.enter(pipelines.get(args.pipeline).id)  # its params validate the conf
        conf = run_conf(args.phases, args.overrides)
        home.ensure_metastore()  # before anything imports Airflow
        dag = dags.load_dag(args.pipeline)
        skip_pattern(dag, args.only)
        ds = latest_complete_date(dag.timezone.name) if args.latest else args.ds
    except StagebookError as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    from airflow.sdk import timezone
    from sqlalchemy.exc import OperationalError

    logical_date = timezone.utcnow()
    print(f"stagebook: running {dag.dag_id} for {ds} with conf {conf}", flush=True)
    try:
        with runlock.held(dag.dag_id, ds, run_id_of(logical_date), logical_date) as claim:
            if active := metastore.active_run(dag.dag_id, ds, dag.timezone.name):
                raise PipelineError(
                    f"{dag.dag_id} already has an active run for {ds} ({active}): wait for it "
                    "to end, or mark it failed in the Airflow UI"
                )
            with stopping.handling():
                dag_run = run_dag(ds, conf, only=args.only, dag=dag, logical_date=logical_date)
    except PipelineError as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    except stopping.Interrupted as exc:
        settled = "marked failed" if claim.settled else "left for the next command to settle"
        print(f"stagebook: {exc}: run {run_id_of(logical_date)} {settled}", file=sys.stderr)
        return 128 + exc.signum
    except OperationalError as exc:
        where = os.environ.get("AIRFLOW_HOME", "the Airflow home")
        print(
            f"stagebook: the Airflow metastore in {where} could not be written "
            f"({str(exc.orig).splitlines()[0]}): free space there, then run again",
            file=sys.stderr,
        )
        return 1
    print(summary(dag_run, ds))
    return 0 if str(dag_run.state) == "success" else 1
