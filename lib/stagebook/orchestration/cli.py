"""``stagebook run``: run a pipeline for one date through Airflow (``dag.test()``).

Example::

    stagebook run --ds 2019-11-20 --phases beta --set train.epochs=2

The phases and overrides travel in the run's conf, which the DAG validates and
merges over the params files exactly as for a run triggered by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from stagebook import dates, params, settings, storage
from stagebook.errors import ParamsError, PipelineError, StagebookError
from stagebook.orchestration import environment, kernels, serve, tasklogs


def latest_complete_date(timezone: str, today: dt.date | None = None) -> dt.date:
    """Return the newest date a run can process today (in ``timezone``), as the params' schema says."""
    import pendulum

    today = today or pendulum.now(timezone).date()
    return params.load().latest_complete_date(today)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["train.epochs=2"]`` into ``{"train.epochs": 2}`` (values read as YAML scalars)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParamsError(f"--set {pair!r}: expected section.key=value, e.g. train.epochs=2")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run_conf(phases: str | None, overrides: list[str]) -> dict[str, Any]:
    """Return the run conf of a CLI run, validated like the DAG's ``select_phase`` does."""
    conf: dict[str, Any] = {}
    if phases:
        conf["phases"] = [p.strip() for p in phases.split(",") if p.strip()]
    if overrides:
        conf["overrides"] = parse_overrides(overrides)
    params.resolve_run_conf(conf)
    return conf


def migrate() -> None:
    """Create or upgrade the embedded Airflow's metadata database (idempotent)."""
    environment.apply_airflow_environ()
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def setup_airflow() -> None:
    """``stagebook setup``: migrate the metadata database and say where it is."""
    migrate()
    print(f"stagebook: Airflow metadata database ready in {os.environ['AIRFLOW_HOME']}")


def ensure_metastore() -> None:
    """Create the embedded Airflow's metastore when it does not exist yet, saying so in one line."""
    environment.apply_airflow_environ()
    from airflow import settings as airflow_settings
    from sqlalchemy import inspect

    if not inspect(airflow_settings.engine).has_table("dag"):
        migrate()
        print(f"stagebook: created the Airflow metastore in {os.environ['AIRFLOW_HOME']}")


def dag_ids() -> list[str]:
    """Return the ids of the DAGs in the dags folder."""
    environment.apply_airflow_environ()
    from airflow.dag_processing.dagbag import DagBag

    return sorted(DagBag(dag_folder=str(settings.dags_dir())).dags)


def load_dag(dag_id: str | None = None) -> Any:
    """Return the DAG ``dag_id`` of the dags folder, or its only pipeline when ``dag_id`` is None.

    A pipeline is a DAG that runs stage notebooks (an example consumer DAG is not one).
    """
    environment.apply_airflow_environ()
    from airflow.dag_processing.dagbag import DagBag

    from stagebook.orchestration.operators import StageNotebookOperator

    bag = DagBag(dag_folder=str(settings.dags_dir()))
    if bag.import_errors:
        raise PipelineError(
            "DAG import errors:\n" + "\n".join(f"{k}: {v}" for k, v in bag.import_errors.items())
        )
    pipelines = [
        d for d in bag.dags.values() if any(isinstance(t, StageNotebookOperator) for t in d.tasks)
    ]
    if dag_id is None and len(pipelines) == 1:
        return pipelines[0]
    if dag_id not in bag.dags:
        wanted = "several pipelines" if dag_id is None else f"no DAG {dag_id!r}"
        raise PipelineError(
            f"{settings.dags_dir()}: {wanted}; name one with --dag: {', '.join(sorted(bag.dags))}"
        )
    return bag.dags[dag_id]


def channel_connections() -> dict[str, str]:
    """Return ``AIRFLOW_CONN_<ID>`` -> JSON of the metastore's notification connections.

    ``dag.test()`` runs the DAG's callbacks in this process, where Airflow's task
    SDK reads connections from the environment only; the CLI, not the task code,
    reads the metastore, for the connections of the channels that params enable.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    wanted = set()
    for phase in [None, *params.known_phases()]:
        config = params.load_or_common(phase).notifications
        for channel in config.channels:
            conn_id = getattr(config, f"{channel}_conn_id", None)
            if conn_id and settings.connection_variable(conn_id) not in os.environ:
                wanted.add(conn_id)
    found = {}
    for conn_id in sorted(wanted):
        try:
            stored = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            continue  # the channel's own send names what is missing
        found[settings.connection_variable(conn_id)] = stored.as_json()
    return found


def run_dag(ds: dt.date, conf: dict[str, Any], *, only: str | None = None, dag: Any = None) -> Any:
    r"""Run the pipeline for business date ``ds`` with ``dag.test()``; return the run.

    The run is a manual one at the present moment, as a trigger from the UI is,
    with ``ds`` in its conf: it never takes the logical date of a scheduled run
    (``dag.test()`` would clear that run's tasks, and the scheduler would then
    never create it), and its start and end are its real ones. Each task's log
    is written where the UI reads it.

    ``only``: a regex of task ids to run; every other task is marked success
    without running (to re-run one stage, e.g. ``prod\.publish``).
    """
    from airflow.sdk import timezone

    from stagebook.orchestration import approval

    dag = dag or load_dag()
    skip = None if only is None else f"(?!(?:{only})$).*"
    # A spare kernel needs its task to run, which --only does not promise.
    warm = kernels.warming(dag.roots, dag.dag_id, enabled=only is None)
    # No scheduler runs under dag.test(): its sweep of unanswered approvals runs beside it.
    with settings.environ(channel_connections()), tasklogs.written(), warm, approval.timeouts(dag):
        return dag.test(
            logical_date=timezone.utcnow(),
            run_conf={**conf, "ds": ds.isoformat()},
            mark_success_pattern=skip,
        )


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


def run_check() -> int:
    """``stagebook check``: print each problem with its file and cell or key; 1 if any."""
    environment.apply_airflow_environ()
    from stagebook.orchestration import check

    found = check.problems()
    for problem in found:
        print(problem)
    print(f"stagebook check: {len(found)} problem(s)" if found else "stagebook check: no problem")
    return 1 if found else 0


def run_serve(host: str, port: int, components: str) -> int:
    """``stagebook serve``: run the embedded Airflow and the reports app until stopped."""
    wanted = [c.strip() for c in components.split(",") if c.strip()]
    unknown = sorted(set(wanted) - set(serve.COMPONENTS))
    if unknown or not wanted:
        print(
            f"stagebook: --components: choose among {', '.join(serve.COMPONENTS)}", file=sys.stderr
        )
        return 2
    try:
        return serve.serve(host, port, wanted)
    except serve.AlreadyServing as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 1


def run_approve(args: argparse.Namespace) -> int:
    """``stagebook approve``: answer a waiting approval through Airflow's HITL API."""
    from stagebook.orchestration import approval

    ensure_metastore()
    dag = load_dag(args.dag)
    approval.answer(
        dag.dag_id,
        args.run_id,
        args.task_id,
        approve=not args.reject,
        comment=args.comment,
        user=args.user,
    )
    verb = "rejected" if args.reject else "approved"
    print(f"stagebook: {verb} {args.task_id} in run {args.run_id} as {args.user}")
    return 0


def run_lineage(args: argparse.Namespace) -> int:
    """``stagebook lineage``: print the chain from a published batch back to its raw partitions."""
    from stagebook.orchestration import lineage

    ensure_metastore()
    dag = load_dag(args.dag)
    print(lineage.text(lineage.chain(dag, args.ds.isoformat(), args.phase)))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """``stagebook replay``: write a try's notebook with its exact parameters (and run it to its failure)."""
    environment.apply_airflow_environ()
    from stagebook.orchestration import replay

    if args.run_id is None and None in (args.ds, args.phase, args.stage):
        raise ParamsError("stagebook replay: give RUN_ID TASK_ID, or --ds, --phase and --stage")
    if args.run_id is not None and args.task_id is None:
        raise ParamsError("stagebook replay: give the task id after the run id, e.g. prod.train")
    found = replay.find(
        args.run_id,
        args.task_id,
        ds=args.ds.isoformat() if args.ds else None,
        phase=args.phase,
        stage=args.stage,
        try_number=args.try_number,
    )
    path = replay.write(found)
    stopped = replay.until_failure(path, found.dag_id) if args.until_failure else None
    print(replay.message(path, stopped))
    return 0


def parser() -> argparse.ArgumentParser:
    """Return the parser of the ``stagebook`` command."""
    main_parser = argparse.ArgumentParser(prog="stagebook", description=__doc__.split("\n")[0])
    sub = main_parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create or upgrade the embedded Airflow database")
    sub.add_parser("env", help="print the environment of the embedded Airflow, for `eval`")
    sub.add_parser("check", help="check notebooks, params and DAGs before the scheduler does")
    served = sub.add_parser("serve", help="serve Airflow and the reports here until Ctrl-C")
    served.add_argument("--host", default="127.0.0.1", help="address of the api-server")
    served.add_argument("--port", type=int, default=8080, help="port of the api-server")
    served.add_argument(
        "--components",
        default=",".join(serve.COMPONENTS),
        help="comma-separated Airflow components to run (default: all four)",
    )
    date = {"type": lambda v: dates.parse_ds(v, where="--ds"), "metavar": "YYYY-MM-DD"}
    approve = sub.add_parser("approve", help="answer a waiting approval (<phase>.approve)")
    approve.add_argument("run_id", help="the run, as the Airflow UI shows it")
    approve.add_argument("task_id", help="the approval task, e.g. prod.approve")
    approve.add_argument("--reject", action="store_true", help="reject: publish is skipped")
    approve.add_argument("--comment", default="", help="why (kept with the run)")
    approve.add_argument("--user", default=os.environ.get("USER") or "admin", help="who answers")
    approve.add_argument("--dag", help="the DAG (default: the only pipeline in dags/)")
    lineage = sub.add_parser("lineage", help="print a published batch's lineage")
    lineage.add_argument("--ds", required=True, **date)
    lineage.add_argument("--phase", required=True, help="e.g. prod")
    lineage.add_argument("--dag", help="the DAG (default: the only pipeline in dags/)")
    replayed = sub.add_parser("replay", help="write a try's notebook with its exact parameters")
    replayed.add_argument("run_id", nargs="?", help="the run, as the Airflow UI shows it")
    replayed.add_argument("task_id", nargs="?", help="the task, e.g. prod.train")
    replayed.add_argument("--ds", **date)
    replayed.add_argument("--phase", help="with --ds and --stage: that date's latest run")
    replayed.add_argument("--stage", help="e.g. 20-train")
    replayed.add_argument("--try", dest="try_number", type=int, help="default: the latest try")
    replayed.add_argument(
        "--until-failure",
        action="store_true",
        help="run it up to its failing cell, and keep the kernel for Jupyter",
    )
    run = sub.add_parser("run", help="run the pipeline for one business date")
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--ds", type=lambda v: dates.parse_ds(v, where="--ds"), help="YYYY-MM-DD")
    when.add_argument("--latest", action="store_true", help="the latest complete date with events")
    run.add_argument("--dag", help="the DAG to run (default: the only DAG in dags/)")
    run.add_argument("--phases", help="comma-separated phases, e.g. beta,prod (default: params)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE"
    )
    run.add_argument(
        "--only",
        metavar="REGEX",
        help=r"run only the matching task ids, mark the others success (e.g. 'prod\.publish')",
    )
    return main_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stagebook`` command."""
    args = parser().parse_args(argv)
    if args.command == "env":
        for key, value in environment.airflow_environ().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if args.command == "setup":
        setup_airflow()
        return 0
    if args.command == "check":
        return run_check()
    if args.command == "serve":
        return run_serve(args.host, args.port, args.components)
    commands = {"approve": run_approve, "lineage": run_lineage, "replay": run_replay}
    if args.command in commands:
        try:
            return commands[args.command](args)
        except StagebookError as exc:
            print(f"stagebook: {exc}", file=sys.stderr)
            return 2
    try:
        conf = run_conf(args.phases, args.overrides)
        ensure_metastore()
        dag = load_dag(args.dag)
    except (ParamsError, PipelineError) as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    ds = latest_complete_date(dag.timezone.name) if args.latest else args.ds
    print(f"stagebook: running {dag.dag_id} for {ds} with conf {conf}", flush=True)
    dag_run = run_dag(ds, conf, only=args.only, dag=dag)
    print(summary(dag_run, ds))
    return 0 if str(dag_run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
