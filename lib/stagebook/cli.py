"""``stagebook run``: run the pipeline for one date through Airflow (``dag.test()``).

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

from stagebook import dates, params, settings
from stagebook.errors import ParamsError


def latest_complete_date(today: dt.date | None = None) -> dt.date:
    """Return the newest date that is over (yesterday in the DAG's timezone) and has source events."""
    import pendulum

    today = today or pendulum.now(dates.TIMEZONE).date()
    return min(today - dt.timedelta(days=1), params.load().data.anchor_date)


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


def setup_airflow() -> None:
    """Create or upgrade the embedded Airflow's metadata database (idempotent)."""
    settings.apply_airflow_environ()
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    print(f"stagebook: Airflow metadata database ready in {os.environ['AIRFLOW_HOME']}")


def run_dag(ds: dt.date, conf: dict[str, Any], *, only: str | None = None) -> Any:
    r"""Run ``recommendation_pipeline`` for business date ``ds`` with ``dag.test()``; return the run.

    ``only``: a regex of task ids to run; every other task is marked success
    without running (to re-run one stage, e.g. ``prod\.publish``).
    """
    settings.apply_airflow_environ()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(
            "DAG import errors:\n" + "\n".join(f"{k}: {v}" for k, v in bag.import_errors.items())
        )
    dag = bag.get_dag(settings.DAG_ID)
    skip = None if only is None else f"(?!(?:{only})$).*"
    return dag.test(
        logical_date=dates.logical_date_for(ds), run_conf=conf, mark_success_pattern=skip
    )


def summary(run: Any, ds: dt.date) -> str:
    """Return the states of the run's tasks and where their reports are."""
    lines = [f"run {run.run_id}: {run.state} (ds {ds})"]
    tis = sorted(run.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date))
    for ti in tis:
        took = f"{ti.duration:7.1f} s" if ti.duration is not None else "      -"
        lines.append(f"  {ti.task_id:<18} {ti.state!s:<16} tries {ti.try_number}  {took}")
    spans = [(ti.start_date, ti.end_date) for ti in tis if ti.start_date and ti.end_date]
    if spans:  # dag.test() dates the run itself at its logical date, so time the tasks
        took = max(e for _, e in spans) - min(s for s, _ in spans)
        lines.append(f"  {'total':<18} {'':<16} {'':<8}  {took.total_seconds():7.1f} s")
    folder = settings.home() / "reports" / settings.DAG_ID / ds.isoformat()
    lines.append(f"reports: {folder}")
    lines.append(f"index:   {settings.home() / 'reports' / 'index.html'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stagebook`` command."""
    parser = argparse.ArgumentParser(prog="stagebook", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create or upgrade the embedded Airflow database")
    sub.add_parser("env", help="print the environment of the embedded Airflow, for `eval`")
    run = sub.add_parser("run", help="run the pipeline for one business date")
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--ds", type=lambda v: dates.parse_ds(v, where="--ds"), help="YYYY-MM-DD")
    when.add_argument("--latest", action="store_true", help="the latest complete date with events")
    run.add_argument("--phases", help="comma-separated phases, e.g. beta,prod (default: params)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE"
    )
    run.add_argument(
        "--only",
        metavar="REGEX",
        help=r"run only the matching task ids, mark the others success (e.g. 'prod\.publish')",
    )
    args = parser.parse_args(argv)
    if args.command == "env":
        for key, value in settings.airflow_environ().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if args.command == "setup":
        setup_airflow()
        return 0

    try:
        conf = run_conf(args.phases, args.overrides)
    except ParamsError as exc:
        print(f"stagebook: {exc}", file=sys.stderr)
        return 2
    ds = latest_complete_date() if args.latest else args.ds
    print(f"stagebook: running {settings.DAG_ID} for {ds} with conf {conf}", flush=True)
    dag_run = run_dag(ds, conf, only=args.only)
    print(summary(dag_run, ds))
    return 0 if str(dag_run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
