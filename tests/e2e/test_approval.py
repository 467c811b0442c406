"""Soft and hard limits: a reviewer approves or rejects a day; publish emits lineage assets.

One module, two runs of both phases on collapsed days (``inference.mode:
popular`` recommends the same few items to everyone, so the catalogue coverage
is low). ``prod`` has a soft limit on it only: its approve task waits, and a
reviewer (``editor``) answers through the REST HITL endpoint of a real
api-server on the same metastore, from another thread (approve on the first
date, reject on the second). ``beta`` has it as a hard limit: its
validate fails and nothing waits.
"""

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from airflow.models.asset import AssetDagRunQueue
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from sqlalchemy import select
from sqlalchemy.orm import configure_mappers

from recsys import paths as datasets
from stagebook.errors import ApprovalError
from stagebook.orchestration.approving import answers
from stagebook.orchestration.commands import cli, dags, lineage, rest
from tests.support import DAG_ID, PIPELINE, TINY
from tests.support.runs import run_dag, xcom
from tests.support.servers import served

APPROVED, REJECTED = dt.date(2019, 11, 19), dt.date(2019, 11, 20)
CONF = {"phases": ["prod", "beta"], "overrides": {**TINY, "inference.mode": "popular"}}
CONSUMER = "recommendations_consumer"
REVIEWER = "editor"  # a user who may edit the DAG (the pipeline names no approvers)


def _airflow(*args):
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def setup(airflow_db, home, module_params):
    folder = module_params(
        {"validation.soft": {"min_catalogue_coverage": 0.9}, "validation.approval_timeout_s": 900}
    )
    beta = yaml.safe_load((folder / "beta.yaml").read_text()) or {}
    beta["validation"] = {"min_catalogue_coverage": 0.9}  # a hard limit in beta
    (folder / "beta.yaml").write_text(yaml.safe_dump(beta))
    _airflow("dags", "reserialize")  # the consumer DAG in the metastore, to be unpaused
    _airflow("dags", "unpause", CONSUMER)
    # What the reviewer's thread imports is imported here first: two threads importing
    # Airflow's models at once can deadlock on the import lock.
    dags.load_dag()
    configure_mappers()
    return folder


@pytest.fixture(scope="module")
def reviewer(setup):
    """The reviewer's session on a real api-server on the module's metastore."""
    with served("api-server") as server:
        yield rest.login(server.base, REVIEWER, server.passwords()[REVIEWER])


class Reviewer(threading.Thread):
    """Waits until ``prod.approve`` of a run waits, reads what it asks, then answers it."""

    def __init__(self, airflow: rest.Airflow, approve: bool, comment: str) -> None:
        super().__init__(daemon=True)
        self.airflow, self.approve, self.comment = airflow, approve, comment
        self.asked: dict = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                with create_session() as session:
                    waiting = session.scalars(
                        select(TaskInstance).where(
                            TaskInstance.dag_id == DAG_ID,
                            TaskInstance.task_id == "prod.approve",
                            TaskInstance.state == "awaiting_input",
                        )
                    ).first()
                    run_id = waiting.run_id if waiting else None
                if run_id:
                    break
                time.sleep(1)
            else:
                raise TimeoutError("prod.approve never waited")
            path = rest.path(
                "dags",
                DAG_ID,
                "dagRuns",
                run_id,
                "taskInstances",
                "prod.approve",
                "-1",
                "hitlDetails",
            )
            self.asked = {"run_id": run_id, **self.airflow.get(path)}
            answers.answer(
                self.airflow,
                DAG_ID,
                run_id,
                "prod.approve",
                approve=self.approve,
                comment=self.comment,
            )
        except BaseException as exc:  # reported by the test that reads it
            self.error = exc


def _reviewed(airflow, ds, approve, comment):
    reviewer = Reviewer(airflow, approve, comment)
    reviewer.start()
    run = run_dag(ds, CONF)
    reviewer.join(60)
    assert reviewer.error is None, reviewer.error
    return run, reviewer.asked


@pytest.fixture(scope="module")
def approved(setup, reviewer):
    return _reviewed(reviewer, APPROVED, True, "a quiet Tuesday: fine")


@pytest.fixture(scope="module")
def rejected(approved, reviewer):
    return _reviewed(reviewer, REJECTED, False, "too narrow")


def test_a_soft_breach_waits_and_asks_with_each_check_the_report_and_the_last_publication(
    approved, rejected
):
    run, asked = approved
    assert asked["subject"].startswith(f"Publish the prod recommendations of {APPROVED}?")
    body = asked["body"]
    assert (
        "| catalogue_coverage |" in body
        and ">= 0.9 (validation.soft.min_catalogue_coverage)" in body
    )
    assert f"/stagebook/tasks/{DAG_ID}/" in body and "prod.validate" in body
    assert "none published" in body  # the first date: nothing earlier was published
    assert f"last published ({APPROVED})" in rejected[1]["body"]


def test_an_approval_lets_publish_run_and_is_kept_in_the_outbox_metadata(approved, home):
    run, _ = approved
    assert run.states["prod.approve"] == "success" and run.states["prod.publish"] == "success"
    decided = xcom(run.dag_run, "prod.approve", "approval")
    assert decided["decision"] == "approved" and decided["by"] == REVIEWER
    meta = datasets.outbox_meta(
        datasets.outbox_file(home / "data" / PIPELINE / "outbox" / "prod", str(APPROVED))
    )
    kept = json.loads(meta.read_text())["approval"]
    assert (kept["by"], kept["comment"], kept["at"]) == (
        REVIEWER,
        "a quiet Tuesday: fine",
        decided["at"],
    )


def test_a_rejection_skips_publish(rejected, home):
    run, _ = rejected
    assert run.states["prod.approve"] == "success" and run.states["prod.publish"] == "skipped"
    assert not datasets.outbox_file(
        home / "data" / PIPELINE / "outbox" / "prod", str(REJECTED)
    ).exists()


def test_a_hard_breach_fails_validate_and_does_not_wait(approved):
    run, _ = approved
    assert run.states["beta.validate"] == "failed"
    assert run.states["beta.approve"] == "upstream_failed"
    assert run.states["beta.publish"] == "upstream_failed"


@pytest.mark.parametrize(
    ("which", "said"),
    [
        ("approved", "- prod.approve: success (approved by editor at "),
        ("rejected", "- prod.approve: success (rejected by editor at "),
    ],
)
def test_the_run_summary_says_who_decided(request, which, said):
    run, _ = request.getfixturevalue(which)
    summary = next(m for m in run.messages("stagebook.notify") if "summary: run of" in m)
    assert said in summary
    if which == "rejected":
        assert '"too narrow"; publish skipped' in summary and "- prod.publish: skipped" in summary


def test_the_approve_tasks_notification_says_publish_was_skipped(rejected):
    run, _ = rejected
    sent = [
        m
        for m in run.messages("stagebook.notify")
        if "success: recommendation_pipeline.prod.approve" in m
    ]
    assert len(sent) == 1 and "note: rejected by editor at" in sent[0]
    assert "publish skipped" in sent[0]


def test_answering_a_run_that_no_longer_waits_names_it(approved, reviewer):
    run, _ = approved
    with pytest.raises(
        ApprovalError, match=re.escape(f"prod.approve in run '{run.dag_run.run_id}' is not waiting")
    ):
        answers.answer(reviewer, DAG_ID, run.dag_run.run_id, "prod.approve", approve=True)
    with pytest.raises(ApprovalError, match="unknown run 'no-such-run'"):
        answers.answer(reviewer, DAG_ID, "no-such-run", "prod.approve", approve=True)


# --- lineage: the assets the approved run's publish and train updated ----------------------


def test_publish_and_train_emit_asset_events_with_their_lineage(approved):
    run, _ = approved
    batch = lineage.events("stagebook://recommendations/prod")[0].extra
    signature = xcom(run.dag_run, "prod.train", "model_signature")
    assert batch["ds"] == str(APPROVED) and batch["model_signature"] == signature
    assert batch["published_digest"] == xcom(run.dag_run, "prod.publish", "published_digest")
    assert batch["sinks"] == ["outbox"] and batch["report_url"]
    assert batch["approval"]["decision"] == "approved"
    model = next(
        s.extra
        for s in lineage.events("stagebook://models/prod")
        if s.extra["model_signature"] == signature
    )
    assert set(model["data_window"]) == {"first", "last"} and "test_auc" in model["metrics"]


def test_the_example_consumer_is_queued_by_the_event_and_receives_the_batch(approved, rejected):
    with create_session() as session:
        queued = session.scalars(
            select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == CONSUMER)
        ).all()
    assert queued, "publishing did not queue a run of the consumer"
    consumer = dags.load_dag(CONSUMER)
    run = consumer.test()
    assert str(run.state) == "success"
    with create_session() as session:
        from airflow.models.xcom import XComModel

        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == CONSUMER,
                XComModel.run_id == run.run_id,
                XComModel.key == "return_value",
            )
        ).one()
        got = XComModel.deserialize_value(row)
    assert got["ds"] == str(APPROVED) and got["verified"] is True


def test_stagebook_lineage_prints_the_chain_for_a_published_date(approved, capsys):
    run, _ = approved
    assert cli.main(["lineage", "--ds", str(APPROVED), "--phase", "prod"]) == 0
    out = capsys.readouterr().out
    signature = xcom(run.dag_run, "prod.train", "model_signature")
    batch, model, tables = (
        out.index("published batch stagebook://recommendations/prod"),
        out.index("stagebook://models/prod"),
        out.index("stagebook://tables"),
    )
    assert batch < model < tables
    assert f"model_signature: {signature}" in out
    assert f"run {run.dag_run.run_id}, try 1" in out  # the training run, with its report
    assert "table_rows: events" in out and "raw_partitions (5):" in out
    assert "date=2019-11-19" in out


def test_stagebook_lineage_of_an_unpublished_date_names_it(rejected, capsys):
    assert cli.main(["lineage", "--ds", str(REJECTED), "--phase", "prod"]) == 2
    err = capsys.readouterr().err
    assert f"no published batch of prod for {REJECTED}" in err and str(APPROVED) in err
