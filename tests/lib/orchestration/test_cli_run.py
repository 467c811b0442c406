"""Finding 5: a CLI run is a manual run of its own, timed and logged like a scheduled one."""

import datetime as dt
import os
import subprocess
import sys

from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dag import DagModel
from airflow.models.dagrun import DagRun
from airflow.sdk import timezone
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session
from airflow.utils.types import DagRunType
from sqlalchemy import select

from stagebook import dates
from tests.support import DAG_ID, TINY

DS = dt.date(2019, 11, 20)
TIMEZONE = "Asia/Tokyo"  # the recommendation DAG's


def _cli_run(*args):
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "run", "--ds", str(DS)]
    command += ["--phases", "prod", *sets, *args]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _log_text(ti) -> str:
    """The task's log, read as the UI's log endpoint reads it."""
    stream, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
    return "\n".join(str(getattr(line, "event", line)) for line in stream)


def _scheduler_creates_the_run_at(logical_date) -> DagRun | None:
    """Let the scheduler's own code create the scheduled run whose interval starts at ``logical_date``."""
    with create_session() as session:
        model = session.get(DagModel, DAG_ID)
        model.next_dagrun = model.next_dagrun_data_interval_start = logical_date
        model.next_dagrun_data_interval_end = model.next_dagrun_create_after = (
            logical_date + dt.timedelta(days=1)
        )
        model.is_paused = False
        SchedulerJobRunner(job=Job())._create_dag_runs([model], session)
    with create_session() as session:
        return session.scalars(
            select(DagRun).where(
                DagRun.dag_id == DAG_ID,
                DagRun.logical_date == logical_date,
                DagRun.run_type == DagRunType.SCHEDULED,
            )
        ).one_or_none()


def test_finding_5_a_cli_run_is_manual_timed_logged_and_leaves_the_schedule_alone(airflow_db, home):
    before = timezone.utcnow()
    result = _cli_run("--only", "input_tables")
    after = timezone.utcnow()

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc())
        ).first()
        assert run.conf["ds"] == str(DS)
        assert run.run_type == DagRunType.MANUAL
        # its real start and end, not a start at the logical date 2563 days before
        assert before <= run.start_date <= run.end_date <= after
        ti = run.get_task_instance("input_tables", session=session)
        log = _log_text(ti)
    assert "Stage 00-input-tables, common, ds 2019-11-20, try 1" in log
    assert "cell 2/" in log and "started: import" in log  # each cell's progress, same task
    assert "logs:    " in result.stdout

    # The slot the CLI used to take: the scheduled run that starts the day after DS.
    slot = dates.logical_date_for(DS, TIMEZONE, hour=10)  # the DAG's schedule: 10:00 Tokyo
    assert run.logical_date != slot
    scheduled = _scheduler_creates_the_run_at(slot)
    assert scheduled is not None, "the scheduler skipped the scheduled run of that date"
    started = {"data_interval_start": scheduled.data_interval_start}
    assert dates.run_business_date(started, TIMEZONE) == DS + dt.timedelta(days=1)
