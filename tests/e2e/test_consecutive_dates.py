"""Consecutive nightly runs: the drift baseline grows, each date is published once to both sinks.

Marked ``longest``: run in parallel, this module starts first.
"""

import datetime as dt
import json

import pytest

from recsys import paths as datasets
from recsys import sinks
from tests.support import PIPELINE, TINY
from tests.support.runs import outputs_text, reports, run_dag, xcom, xcom_or_none
from tests.support.servers import connection_env

FIRST = dt.date(2019, 11, 5)
DAYS = [FIRST + dt.timedelta(days=n) for n in range(8)]
COLLAPSED = FIRST + dt.timedelta(days=8)
OVERRIDES = {**TINY, "data.anchor_date": "2019-11-30"}
CONF = {"phases": ["prod"], "overrides": OVERRIDES}
STREAM = "{stagebook:test:prod}"  # the stream key is its own hash tag

pytestmark = pytest.mark.longest


@pytest.fixture(scope="module")
def redis(module_env, module_params, redis_server):
    """The session's Redis, emptied, as the Airflow connection ``stagebook_redis``, a sink in params."""
    patch, _ = module_env
    module_params({"publish.sinks": ["outbox", "redis"]})
    redis_server["client"].flushdb()
    env = connection_env(
        "stagebook_redis",
        conn_type="redis",
        host=redis_server["host"],
        port=redis_server["port"],
        extra={"stream": "stagebook:test", "db": 0},
    )
    for name, value in env.items():
        patch.setenv(name, value)
    return redis_server


@pytest.fixture(scope="module")
def nightly(airflow_db, home, redis):
    """Eight consecutive dates, each run as its own night."""
    return [run_dag(ds, CONF) for ds in DAYS]


@pytest.fixture(scope="module")
def collapsed(nightly):
    """A ninth night where everyone gets the same few items: the distribution collapses."""
    return run_dag(
        COLLAPSED, {"phases": ["prod"], "overrides": {**OVERRIDES, "inference.mode": "popular"}}
    )


@pytest.fixture(scope="module")
def republished(collapsed):
    """Publish the last good date again, alone."""
    return run_dag(DAYS[-1], CONF, only=r"prod\.publish")


def test_each_night_succeeds_and_publishes_to_both_sinks(nightly):
    for ds, run in zip(DAYS, nightly, strict=True):
        assert run.state == "success", (ds, run.states)
        published = xcom(run.dag_run, "prod.publish", "published")
        assert {p["sink"]: p["action"] for p in published} == {
            "redis": "published",
            "outbox": "published",
        }


def test_the_drift_baseline_grows_to_a_week(nightly):
    for number, run in enumerate(nightly):
        checks = xcom(run.dag_run, "prod.validate", "validation")
        assert checks["drift_days"] == min(number, 7)
        assert (number == 0) == (checks["kl_divergence"] is None)


def test_a_collapsed_night_fails_validation_and_is_not_retried(collapsed, home):
    got = collapsed.states
    assert got["prod.validate"] == "failed" and got["prod.publish"] == "upstream_failed"
    assert xcom_or_none(collapsed.dag_run, "prod.validate", "validation") is None
    report = reports(home, COLLAPSED, "prod") / "40-validate.try1.ipynb"
    assert report.exists() and report.with_suffix(".html").exists()
    text = outputs_text(report)
    assert "ValidationFailed" in text and "js_distance = " in text
    assert "(not retried" in collapsed.out


def test_both_sinks_hold_each_good_date_once(collapsed, home, redis):
    assert_both_sinks_hold_each_date_once(home, redis)


def test_publishing_a_date_again_is_skipped_by_both_sinks(republished, home, redis):
    assert republished.states["prod.publish"] == "success"
    published = xcom(republished.dag_run, "prod.publish", "published")
    assert {p["sink"]: p["action"] for p in published} == {"redis": "skipped", "outbox": "skipped"}
    assert_both_sinks_hold_each_date_once(home, redis)


def assert_both_sinks_hold_each_date_once(home, server):
    outbox = {}
    for path in sorted((home / "data" / PIPELINE / "outbox" / "prod").glob("ds=*/records.jsonl")):
        outbox[path.parent.name] = [json.loads(line) for line in path.read_text().splitlines()]
        meta = json.loads(datasets.outbox_meta(path).read_text())
        assert meta["digest"] == sinks.digest(outbox[path.parent.name])  # of this very publication
    assert list(outbox) == [f"ds={d}" for d in DAYS]
    streamed = [json.loads(fields["record"]) for _, fields in server["client"].xrange(STREAM)]
    assert streamed == [r for lines in outbox.values() for r in lines]  # same records, in order
    keys = [(r["ds"], r["user_id"]) for r in streamed]
    assert len(keys) == len(set(keys)) > 0
