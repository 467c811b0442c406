"""A malformed ``beta.yaml``: prod runs, beta's first task fails at once naming the file and key."""

import datetime as dt

import pytest

from tests.support import TINY
from tests.support.runs import run_dag

DS = dt.date(2019, 11, 15)


@pytest.fixture(scope="module")
def run(airflow_db, home, module_params):
    folder = module_params({})
    (folder / "beta.yaml").write_text("train:\n  k: many\n")
    # Up to the first stage of each phase: what prod needs to show it still runs.
    only = r"input_tables|select_phase|(prod|beta)\.features"
    return run_dag(DS, {"overrides": TINY}, only=only), folder


def test_finding_10_a_malformed_beta_yaml_does_not_take_prod_down(run):
    result, folder = run
    got = result.states
    assert got["input_tables"] == "success" and got["select_phase"] == "success"
    assert got["prod.features"] == "success"
    assert got["beta.features"] == "failed" and got["beta.train"] == "upstream_failed"
    beta = next(t for t in result.dag_run.get_task_instances() if t.task_id == "beta.features")
    assert beta.try_number == 1  # not retried: another try cannot fix a params file
    assert f"{folder / 'beta.yaml'}: train.k" in result.out
