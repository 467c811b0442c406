"""A bad run conf: an unknown phase, or an override of a key that does not exist."""

import datetime as dt

import pytest

from tests.support import DAG_ID, PIPELINE, TINY
from tests.support.runs import run_dag

UNKNOWN_PHASE_DS = dt.date(2019, 11, 18)
UNKNOWN_KEY_DS = dt.date(2019, 11, 17)


@pytest.fixture(scope="module")
def unknown_phase(airflow_db, home, module_channels_down):
    # Every notification channel is broken too: the states are those of the run alone.
    conf = {"phases": ["gamma"], "overrides": TINY}
    return run_dag(UNKNOWN_PHASE_DS, conf)


@pytest.fixture(scope="module")
def unknown_key(airflow_db, home):
    return run_dag(UNKNOWN_KEY_DS, {"overrides": {**TINY, "train.speed": 1}})


def test_finding_10_an_unknown_phase_fails_before_input_tables_does_any_work(unknown_phase, home):
    got = unknown_phase.states
    assert unknown_phase.state == "failed"
    assert got["input_tables"] == "failed" and got["select_phase"] == "upstream_failed"
    assert all(got[t] in {"upstream_failed", "None"} for t in got if "." in t)
    assert got["run_summary"] == "failed"
    assert (
        not (home / "data" / PIPELINE / "raw").exists() and not (home / "reports" / DAG_ID).exists()
    )


def test_the_unknown_phase_error_lists_the_known_ones(unknown_phase):
    assert "unknown phase(s) 'gamma'; known phases are beta, prod" in unknown_phase.out
    assert "(not retried" in unknown_phase.out


@pytest.mark.parametrize("channel", ["slack", "email", "webhook"])
def test_a_broken_channel_is_logged_by_name_and_changes_no_state(unknown_phase, channel):
    failed = unknown_phase.messages("stagebook.notify")
    for event in ("failure: recommendation_pipeline.input_tables", "summary: run of"):
        assert any(f"channel {channel} failed for '[stagebook] {event}" in m for m in failed)


def test_an_unknown_key_fails_the_first_task_before_any_kernel_starts(unknown_key, home):
    got = unknown_key.states
    assert unknown_key.state == "failed"
    assert got["input_tables"] == "failed" and got["select_phase"] == "upstream_failed"
    assert "unknown key 'train.speed'; known keys here: train.base_lr" in unknown_key.out
    assert not (home / "reports" / DAG_ID / str(UNKNOWN_KEY_DS)).exists()
