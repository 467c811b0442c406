"""The arguments of the ``stagebook`` command: its subcommands, their options and help."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
from typing import Any

from stagebook import dates
from stagebook.errors import DateError
from stagebook.orchestration.commands import rest, serve


def versions() -> str:
    """Return what ``stagebook --version`` prints: Stagebook's, Airflow's and Python's versions."""

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
            return "unknown"

    airflow, python = version("apache-airflow"), platform.python_version()
    return f"stagebook {version('stagebook')} (Airflow {airflow}, Python {python})"


def ds_argument(value: str) -> Any:
    """Parse ``--ds`` for argparse, which then prints the date's own one-line error."""
    try:
        return dates.parse_ds(value, where="--ds")
    except DateError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--ds: ")) from None


def add_run(sub: Any, pipeline: dict[str, str]) -> None:
    """Add ``stagebook run`` to the subcommands ``sub``."""
    run = sub.add_parser("run", help="run a pipeline for one business date")
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--ds", type=ds_argument, help="YYYY-MM-DD")
    when.add_argument("--latest", action="store_true", help="the latest complete date with events")
    run.add_argument("--pipeline", "--dag", **pipeline)
    run.add_argument("--phases", help="comma-separated phases, e.g. beta,prod (default: params)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE"
    )
    run.add_argument(
        "--only",
        metavar="REGEX",
        help=r"run only the matching task ids, mark the others success (e.g. 'prod\.publish')",
    )
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run here with dag.test() even when an Airflow is served (no task logs in the UI)",
    )
    rest.add_arguments(run)


def parser() -> argparse.ArgumentParser:
    """Return the parser of the ``stagebook`` command."""
    main_parser = argparse.ArgumentParser(
        prog="stagebook",
        description="Machine-learning pipelines as parameterized notebooks, run by Airflow.",
    )
    main_parser.add_argument("--version", action="version", version=versions())
    sub = main_parser.add_subparsers(dest="command", required=True)
    pipeline = {
        "dest": "pipeline",
        "metavar": "NAME",
        "help": "the pipeline: its folder's name or DAG id (optional when there is only one)",
    }
    sub.add_parser("setup", help="create or upgrade the embedded Airflow database")
    sub.add_parser("env", help="print the environment of the embedded Airflow, for `eval`")
    checked = sub.add_parser("check", help="check pipelines, notebooks, params and DAGs")
    checked.add_argument("--pipeline", "--dag", **pipeline)
    served = sub.add_parser("serve", help="serve Airflow and the reports here until Ctrl-C")
    served.add_argument("--host", default="127.0.0.1", help="address of the api-server")
    served.add_argument("--port", type=int, default=8080, help="port of the api-server")
    served.add_argument(
        "--components",
        default=",".join(serve.COMPONENTS),
        help="comma-separated Airflow components to run (default: all four)",
    )
    date = {"type": ds_argument, "metavar": "YYYY-MM-DD"}
    approve = sub.add_parser("approve", help="answer a waiting approval (<phase>.approve)")
    approve.add_argument("run_id", help="the run, as the Airflow UI shows it")
    approve.add_argument("task_id", help="the approval task, e.g. prod.approve")
    approve.add_argument("--reject", action="store_true", help="reject: publish is skipped")
    approve.add_argument("--comment", default="", help="why (kept with the run)")
    approve.add_argument("--pipeline", "--dag", **pipeline)
    rest.add_arguments(approve)
    lineage = sub.add_parser("lineage", help="print a published batch's lineage")
    lineage.add_argument("--ds", required=True, **date)
    lineage.add_argument("--phase", required=True, help="e.g. prod")
    lineage.add_argument("--pipeline", "--dag", **pipeline)
    add_replay(sub, pipeline, date)
    add_run(sub, pipeline)
    add_warm(sub, pipeline)
    add_new(sub)
    return main_parser


def add_new(sub: Any) -> None:
    """Add ``stagebook new pipeline|stage`` and ``stagebook lab`` to the subcommands ``sub``."""
    new = sub.add_parser("new", help="write a new pipeline, or a new stage of one, that runs")
    kinds = new.add_subparsers(dest="what", required=True)
    made = kinds.add_parser("pipeline", help="a pipeline folder, its params, package and test")
    made.add_argument("name", help="a lowercase identifier, e.g. daily_sales")
    staged = kinds.add_parser("stage", help="a stage source and its row in the stage table")
    staged.add_argument("pipeline", help="the pipeline's folder name")
    staged.add_argument("name", help="NN-name, e.g. 20-summary")
    lab = sub.add_parser("lab", help="JupyterLab on the project: stage sources open as notebooks")
    lab.add_argument("--port", type=int, default=8888, help="port of JupyterLab (loopback)")


def add_warm(sub: Any, pipeline: dict[str, str]) -> None:
    """Add ``stagebook warm`` to the subcommands ``sub``."""
    warm = sub.add_parser(
        "warm", help="keep `stagebook run`'s start-up done: its runs start in about a second"
    )
    warm.add_argument("--pipeline", "--dag", **pipeline)
    warm.add_argument(
        "--idle-minutes", type=float, default=60.0, help="stop after this long without a run"
    )


def add_replay(sub: Any, pipeline: dict[str, str], date: dict[str, Any]) -> None:
    """Add ``stagebook replay`` to the subcommands ``sub``."""
    replayed = sub.add_parser("replay", help="write a try's notebook with its exact parameters")
    replayed.add_argument("run_id", nargs="?", help="the run, as the Airflow UI shows it")
    replayed.add_argument("task_id", nargs="?", help="the task, e.g. prod.train")
    replayed.add_argument("--ds", **date)
    replayed.add_argument("--phase", help="with --ds and --stage: that date's latest run")
    replayed.add_argument("--stage", help="e.g. 30-score")
    replayed.add_argument("--pipeline", "--dag", **pipeline)
    replayed.add_argument("--try", dest="try_number", type=int, help="default: the latest try")
    replayed.add_argument(
        "--until-failure",
        action="store_true",
        help="run it up to its failing cell, and keep the kernel for Jupyter",
    )
