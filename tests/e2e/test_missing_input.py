"""A date without raw events: the first stage fails for good, is archived, and every channel says so."""

import datetime as dt

import pytest

from recsys.data import source_key
from stagebook import params
from stagebook.orchestration.reviewing import links
from tests.support import DAG_ID, PIPELINE, TINY
from tests.support.receivers import messages
from tests.support.runs import outputs_text, reports, run_dag, what, xcom

DS = dt.date(2019, 11, 21)  # the source's events end on the anchor date, 2019-11-20
OVERRIDES = {**TINY, "data.anchor_date": "2019-11-20"}


@pytest.fixture(scope="module")
def run(airflow_db, home, module_receivers):
    return run_dag(DS, {"overrides": OVERRIDES})


@pytest.fixture(scope="module")
def archived(run, home):
    return reports(home, DS, "common") / "00-input-tables.try1.ipynb"


def test_input_tables_fails_and_nothing_after_it_runs(run):
    got = run.states
    assert run.state == "failed"
    assert got["input_tables"] == "failed" and got["run_summary"] == "failed"
    assert all(
        got[t] in {"upstream_failed", "None"} for t in got if "." in t or t == "select_phase"
    )


def test_the_missing_input_is_not_retried_and_its_notebook_is_archived(run, home, archived):
    tries = sorted(p.name for p in reports(home, DS, "common").glob("*.ipynb"))
    assert tries == ["00-input-tables.try1.ipynb"]
    assert archived.with_suffix(".html").exists()
    link = xcom(run.dag_run, "input_tables", "_link_ReportLink")
    assert link == links.task_route(DAG_ID, run.dag_run.run_id, "input_tables", 1)


def test_the_error_names_the_missing_partition_in_the_report_and_the_log(run, home, archived):
    partition = (
        home
        / "data"
        / PIPELINE
        / "raw"
        / "events"
        / source_key(params.load(overrides=OVERRIDES).data)
        / f"date={DS}"
    )
    assert "MissingInputError" in outputs_text(archived)
    assert f"no raw events for {DS} at {partition}" in outputs_text(archived)
    assert f"no raw events for {DS}" in run.out


def test_nothing_is_published(run, home):
    assert not (home / "data" / PIPELINE / "outbox").exists()


def test_each_channel_gets_the_stage_failure_the_run_failure_and_the_summary(
    run, archived, module_receivers
):
    http, smtp = module_receivers
    expected = [("failure", "input_tables", 1), ("failure", None, None), ("summary", None, None)]
    for channel, received in messages(http, smtp).items():
        assert sorted(map(what, received), key=str) == sorted(expected, key=str), channel
        failure = next(m for m in received if m["task"] == "input_tables")
        assert failure["report"] == archived.with_suffix(".html").resolve()
        assert "MissingInputError" in failure["text"] and "retries left: 0" in failure["text"]
        summary = next(m for m in received if m["event"] == "summary")
        assert "input_tables: failed, tries 1" in summary["text"]
        assert "prod.train: upstream_failed, tries 0" in summary["text"]
        for m in received:
            assert m["ds"] == str(DS) and m["report"].exists(), (channel, m)
