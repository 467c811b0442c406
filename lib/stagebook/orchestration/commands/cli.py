"""The ``stagebook`` command: set up, check, run, serve, approve, trace and replay a pipeline.

Example::

    stagebook run --ds 2019-11-20 --phases beta --set train.epochs=2

The phases and overrides travel in the run's conf, which the DAG validates and
merges over the params files exactly as for a run triggered by hand
(:mod:`stagebook.orchestration.commands.localrun`).
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
from typing import Any

from stagebook import pipelines, settings
from stagebook.errors import ParamsError, PipelineError, StagebookError
from stagebook.orchestration.commands import (
    arguments,
    environment,
    lab,
    localrun,
    rest,
    serve,
    warmrun,
)
from stagebook.orchestration.commands.dags import load_dag
from stagebook.orchestration.commands.home import ensure_metastore, setup_airflow


def run_check(name: str | None) -> int:
    """``stagebook check``: print each problem with its file and cell or key; 1 if any."""
    environment.apply_airflow_environ()
    from stagebook.orchestration.commands import check

    found = check.problems(name)
    for problem in found:
        print(problem)
    print(f"stagebook check: {len(found)} problem(s)" if found else "stagebook check: no problem")
    return 1 if found else 0


def run_new(args: argparse.Namespace) -> int:
    """``stagebook new``: write a pipeline, or a stage of one, that runs as written."""
    from stagebook.orchestration.commands import scaffold

    if args.what == "pipeline":
        written, name = scaffold.new_pipeline(args.name), args.name
    else:
        written, name = scaffold.new_stage(args.pipeline, args.name), args.pipeline
    for path in written:
        print(f"stagebook: wrote {path}")
    print(
        f"stagebook: next, `stagebook check`, then `stagebook run --pipeline {name} --ds YYYY-MM-DD`"
    )
    return 0


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
    """``stagebook approve``: answer a waiting approval through Airflow's REST HITL endpoint."""
    from stagebook.orchestration.approving import answers

    airflow = rest.connect(
        args.url, token=args.token, username=args.username, password_file=args.password_file
    )
    if airflow is None:
        raise PipelineError(
            f"no served Airflow for {settings.home()}: start `stagebook serve` (or give --url, or "
            f"the connection {rest.CONN_ID}), then answer again"
        )
    dag_id = pipelines.get(args.pipeline).id if args.pipeline else _dag_of_run(airflow, args.run_id)
    answered = answers.answer(
        airflow, dag_id, args.run_id, args.task_id, approve=not args.reject, comment=args.comment
    )
    by = (answered.get("responded_by_user") or {}).get("name") or airflow.user or "you"
    verb = "rejected" if args.reject else "approved"
    print(f"stagebook: {verb} {args.task_id} in run {args.run_id} as {by}")
    return 0


def _dag_of_run(airflow: Any, run_id: str) -> str:
    """Return the DAG of ``run_id`` among the project's pipelines (one line if none or several)."""
    found = []
    for pipeline in pipelines.every():
        try:
            airflow.get(rest.path("dags", pipeline.id, "dagRuns", run_id))
        except rest.RestError as exc:
            if exc.status != 404:
                raise  # not "unknown here": a refused token, a server error, no answer
            continue
        found.append(pipeline.id)
    if len(found) != 1:
        where = "no pipeline has" if not found else f"{', '.join(found)} each have"
        raise PipelineError(f"run {run_id!r}: {where} it; name the pipeline with --pipeline")
    return found[0]


def run_lineage(args: argparse.Namespace) -> int:
    """``stagebook lineage``: print the chain from a published batch back to its raw partitions."""
    from stagebook.orchestration.commands import lineage

    ensure_metastore()
    dag = load_dag(args.pipeline)
    print(lineage.text(lineage.chain(dag, args.ds.isoformat(), args.phase)))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """``stagebook replay``: write a try's notebook with its exact parameters (and run it to its failure)."""
    environment.apply_airflow_environ()
    from stagebook.orchestration.commands import replay

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
        dag_ids=[pipelines.get(args.pipeline).id] if args.pipeline else None,
    )
    pipelines.enter(found.dag_id)  # its kernel, and the notebook opened in Jupyter, read it
    path = replay.write(found)
    stopped = replay.until_failure(path, found.dag_id) if args.until_failure else None
    print(replay.message(path, stopped))
    return 0


def run_command(args: argparse.Namespace) -> int:
    """``stagebook run``: on the served Airflow of this home (or ``--url``) if any, else in-process."""
    from stagebook.orchestration.commands import remoterun

    if (code := warm_run(args)) is not None:
        return code
    airflow = None
    if args.only and not args.in_process and (args.url or rest.served(scheduled=True)):
        raise ParamsError(
            "--only marks the other tasks success, which only an in-process run does: "
            "give --in-process (with no scheduler serving this home)"
        )
    if args.in_process and (here := rest.served(scheduled=True)):
        raise PipelineError(
            f"--in-process: the scheduler served on {here['url']} would run this run's tasks too; "
            "stop that stagebook serve first, or run without --in-process"
        )
    if not args.in_process:
        airflow = rest.connect(
            args.url,
            token=args.token,
            username=args.username,
            password_file=args.password_file,
            scheduled=True,
            owner_may_fall_back=True,
        )
    if airflow is None:
        return localrun.command(args)
    if args.only:
        raise ParamsError(
            f"--only marks the other tasks success, which only an in-process run does; "
            f"{airflow.base} serves this home: stop it, then run with --in-process"
        )
    pipeline = pipelines.get(args.pipeline)
    pipelines.enter(pipeline.id)  # its params validate the conf here, before the trigger
    conf = localrun.run_conf(args.phases, args.overrides)
    ds = localrun.latest_complete_date(pipeline.timezone) if args.latest else args.ds
    from stagebook.orchestration.execution import kernels

    kernels.close()  # a warm child's spares: the served Airflow's workers run the stages
    return remoterun.run(airflow, pipeline.id, ds, conf, sys.stdout)


def run_warm(args: argparse.Namespace) -> int:
    """``stagebook warm``: keep this home's runs of a pipeline warm until stopped or idle."""
    from stagebook.orchestration.commands import warm

    ensure_metastore()
    return warm.serve(args.pipeline, args.idle_minutes)


def warm_run(args: argparse.Namespace) -> int | None:
    """Hand ``stagebook run`` to the warm process of its pipeline; None where none takes it."""
    if not warmrun.folder().is_dir():  # never warm here: no pipeline survey
        return None
    try:
        pipeline_id = pipelines.get(args.pipeline).id
    except StagebookError:  # the run says it, where it is typed
        return None
    return warmrun.delegate(args.argv, pipeline_id)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stagebook`` command."""
    try:  # before anything imports airflow: it fixes its home on first import (~/airflow)
        environment.apply_airflow_environ()
    except StagebookError as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    args = arguments.parser().parse_args(argv)
    if args.command == "env":
        for key, value in environment.airflow_environ().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if args.command == "setup":
        setup_airflow()
        return 0
    if args.command == "check":
        return run_check(args.pipeline)
    if args.command == "serve":
        return run_serve(args.host, args.port, args.components)
    args.argv = sys.argv[1:] if argv is None else argv  # what `stagebook warm` is handed
    commands = {
        "approve": run_approve,
        "lab": lambda args: lab.lab(args.port),
        "lineage": run_lineage,
        "new": run_new,
        "replay": run_replay,
        "run": run_command,
        "warm": run_warm,
    }
    try:
        return commands[args.command](args)
    except StagebookError as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # at a password prompt, or before a run started
        print("stagebook: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``stagebook`` process: :func:`main`, then exit without collecting what it built.

    At exit Python collects every cycle still alive; after a run, the graph of
    Airflow's execution API and its routers took 1.2 to 1.9 s of it. Frozen, it
    is left to the process's end, as every other object is; exit handlers still
    run.
    """
    try:
        code = main()
    finally:
        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
