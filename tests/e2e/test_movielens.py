"""One phase on the real MovieLens-100k replay: one ``dag.test()`` run, one behaviour per test."""

import datetime as dt
import json

import pytest

from recsys import paths as datasets
from recsys import signature as signatures
from tests.support import PIPELINE
from tests.support.runs import reports, run_dag, xcom

DS = dt.date(2019, 11, 19)
CONF = {
    "phases": ["prod"],
    "overrides": {"data.anchor_date": "2019-11-19", "tables.train_days": 30},
}


@pytest.fixture(scope="module")
def run(airflow_db, home):
    return run_dag(DS, CONF)


def test_prod_succeeds_and_beta_is_skipped(run, home):
    got = run.states
    assert run.state == "success", got
    assert all(
        got[f"prod.{name}"] == "success"
        for name in ("features", "train", "inference", "validate", "publish")
    )
    assert all(state == "skipped" for task, state in got.items() if task.startswith("beta."))
    assert not reports(home, DS, "beta").exists()


def test_the_model_folder_and_the_outbox_carry_the_signature(run, home):
    signature = xcom(run.dag_run, "prod.train", "model_signature")
    assert signatures.parse(signature)["ds"] == "20191119"
    assert (home / "data" / PIPELINE / "models" / "prod" / signature / "signature.json").exists()
    lines = (
        datasets.outbox_file(home / "data" / PIPELINE / "outbox" / "prod", str(DS))
        .read_text()
        .splitlines()
    )
    first = json.loads(lines[0])
    assert first["model_signature"] == signature and first["ds"] == str(DS)
    assert len(lines) == xcom(run.dag_run, "prod.validate", "validation")["users"]


def test_the_model_beats_the_base_rate(run):
    metrics = xcom(run.dag_run, "prod.train", "metrics")
    assert metrics["test_logloss"] < metrics["base_rate_logloss"]


def test_each_try_says_where_its_time_went_and_how_much_memory_its_kernel_took(run, home):
    sidecars = sorted(reports(home, DS, "prod", run.dag_run).glob("*.try1.json"))
    assert [p.name.split(".")[0] for p in sidecars] == [
        "10-features",
        "20-train",
        "30-inference",
        "40-validate",
        "50-publish",
    ]
    for path in sidecars:
        info = json.loads(path.read_text())
        timings = info["timings"]
        operator = ("prepare", "notebook", "archive", "index")
        inside = ("kernel_start", "parameters", "first_cell", "other_cells")
        assert set(timings) == {*operator, *inside} and min(timings.values()) >= 0, timings
        assert sum(timings[k] for k in inside) <= timings["notebook"], timings  # papermill's share
        assert timings["notebook"] + timings["archive"] <= info["duration_s"] + 0.1, info
        assert 50 < info["kernel_peak_rss_mb"] < 8000, info["kernel_peak_rss_mb"]
