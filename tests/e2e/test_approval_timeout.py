"""An approval nobody answers within ``validation.approval_timeout_s`` is a rejection.

One run of ``prod`` on a collapsed day (``inference.mode: popular``) with a
soft limit on the catalogue coverage and a timeout of 1 s, through
``stagebook run``'s own path (``dag.test()``). Nobody answers: the scheduler's
sweep of unanswered requests (``SchedulerJobRunner.check_awaiting_input_timeouts``),
which ``stagebook run`` runs beside the run, records the gate's default answer
and resumes it, every second here instead of every 15 s.
"""

import datetime as dt

import pytest
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from sqlalchemy import select

from recsys import paths as datasets
from tests.support import DAG_ID, PIPELINE, TINY
from tests.support.runs import run_dag, xcom

DS = dt.date(2019, 11, 20)
CONF = {"phases": ["prod"], "overrides": {**TINY, "inference.mode": "popular"}}
TIMEOUT_S = 1


@pytest.fixture(scope="module")
def unanswered(airflow_db, module_env, module_params):
    module_params(
        {
            "validation.soft": {"min_catalogue_coverage": 0.9},
            "validation.approval_timeout_s": TIMEOUT_S,
        }
    )
    module_env[0].setenv("AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL", "1")
    return run_dag(DS, CONF)


def test_an_unanswered_approval_skips_publish(unanswered, home):
    assert unanswered.states["prod.validate"] == "success", unanswered.out[-3000:]
    assert unanswered.states["prod.approve"] == "success"
    assert unanswered.states["prod.publish"] == "skipped"
    assert not datasets.outbox_file(home / "data" / PIPELINE / "outbox" / "prod", str(DS)).exists()


def test_airflow_recorded_the_default_answer_by_nobody_after_waiting(unanswered):
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == unanswered.dag_run.run_id,
                TaskInstance.task_id == "prod.approve",
            )
        ).one()
        detail = session.scalars(select(HITLDetail).where(HITLDetail.ti_id == ti.id)).one()
        assert detail.chosen_options == ["Reject"] and detail.responded_by is None
        waited = (detail.responded_at - detail.created_at).total_seconds()
    assert waited >= TIMEOUT_S  # it really waited for an answer, then timed out


def test_the_approval_record_says_it_timed_out(unanswered):
    decided = xcom(unanswered.dag_run, "prod.approve", "approval")
    assert decided["decision"] == "rejected" and decided["timed_out"] is True
    assert decided["by"] is None and decided["timeout_s"] == TIMEOUT_S


def test_the_run_summary_says_nobody_answered_and_publish_was_skipped(unanswered):
    summary = next(m for m in unanswered.messages("stagebook.notify") if "summary: run of" in m)
    assert (
        f"- prod.approve: success (rejected: nobody answered within {TIMEOUT_S} s "
        "(validation.approval_timeout_s); publish skipped)" in summary
    )
    assert "- prod.publish: skipped" in summary
