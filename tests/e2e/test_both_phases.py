"""Both phases on tiny synthetic data: one real ``dag.test()`` run, one behaviour per test."""

import datetime as dt
import json

import pytest

from recsys import paths as datasets
from recsys import signature
from stagebook import notebook, records
from stagebook.orchestration.reviewing import links
from tests.support import DAG_ID, PIPELINE, TINY
from tests.support.runs import injected, outputs_text, reports, run_dag, xcom

DS = dt.date(2019, 11, 20)
STAGES = [("common", "00-input-tables")] + [
    (phase, stage) for phase in ("prod", "beta") for stage in notebook.stages()[1:]
]


@pytest.fixture(scope="module")
def run(airflow_db, home):
    return run_dag(DS, {"overrides": TINY})


def test_every_task_succeeds(run):
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}


@pytest.mark.parametrize(("phase", "stage"), STAGES)
def test_each_stage_is_archived_with_its_html_and_the_injected_date_and_phase(
    run, home, phase, stage
):
    archived = reports(home, DS, phase) / f"{stage}.try1.ipynb"
    assert archived.exists() and archived.with_suffix(".html").exists(), archived
    assert f'ds = "{DS}"' in injected(archived) and f'phase = "{phase}"' in injected(archived)
    header = f"ds {DS} · phase {phase} · try 1"
    assert header in outputs_text(archived)
    assert header in archived.with_suffix(".html").read_text()


@pytest.mark.parametrize("phase", ["prod", "beta"])
def test_the_model_signature_goes_from_record_to_xcom_to_the_next_stage(run, home, phase):
    trained = xcom(run.dag_run, f"{phase}.train", "model_signature")
    parsed = signature.parse(trained)
    assert (parsed["market"], parsed["ds"]) == ("TH", "20191120")
    train_report = reports(home, DS, phase) / "20-train.try1.ipynb"
    assert trained == records.read_records(train_report)["model_signature"]
    inference = reports(home, DS, phase) / "30-inference.try1.ipynb"
    assert f'model_signature = "{trained}"' in injected(inference)
    assert xcom(run.dag_run, f"{phase}.inference", "model_signature") == trained


@pytest.mark.parametrize("phase", ["prod", "beta"])
def test_the_report_link_and_the_losses_are_xcoms_of_train(run, home, phase):
    link = links.task_route(DAG_ID, run.dag_run.run_id, f"{phase}.train", 1)
    assert xcom(run.dag_run, f"{phase}.train", "_link_ReportLink") == link  # same-origin
    losses = xcom(run.dag_run, f"{phase}.train", "losses")
    assert len(losses) >= 1 and {"loss", "val_loss"} <= set(losses[0])


@pytest.mark.parametrize("phase", ["prod", "beta"])
def test_the_outbox_holds_one_ranked_record_per_user_from_the_trained_model(run, home, phase):
    trained = xcom(run.dag_run, f"{phase}.train", "model_signature")
    published = datasets.outbox_file(home / "data" / PIPELINE / "outbox" / phase, str(DS))
    lines = [json.loads(line) for line in published.read_text().splitlines()]
    assert lines and len({r["user_id"] for r in lines}) == len(lines)
    assert all(
        r["ds"] == str(DS) and r["phase"] == phase and r["model_signature"] == trained
        for r in lines
    )
    assert all(len(r["item_ids"]) == len(r["scores"]) > 0 for r in lines)
    assert all(r["scores"] == sorted(r["scores"], reverse=True) for r in lines)


def test_the_index_page_lists_the_reports(run, home):
    index = (home / "reports" / "index.html").read_text()
    assert "20-train.try1.html" in index and "00-input-tables.try1.html" in index
