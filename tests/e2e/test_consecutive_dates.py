"""Consecutive nightly runs: the drift baseline grows, each date is published once to both sinks.

In its own file so that, run in parallel, this longest test starts first.
"""

import datetime as dt
import json

from tests.conftest import TINY
from tests.e2e.helpers import outputs_text, reports, states, xcom, xcom_or_none


def test_eight_dates_publish_once_to_both_sinks_and_a_collapsed_ninth_is_stopped(
    run_pipeline, home, redis_connection, capfd
):
    first = dt.date(2019, 11, 5)
    days = [first + dt.timedelta(days=n) for n in range(8)]
    overrides = {**TINY, "data.anchor_date": "2019-11-30", "publish.sinks": ["outbox", "redis"]}
    conf = {"phases": ["prod"], "overrides": overrides}
    for number, ds in enumerate(days):
        run = run_pipeline(ds, conf)
        assert str(run.state) == "success", (ds, states(run))
        checks = xcom(run, "prod.validate", "validation")
        assert checks["drift_days"] == min(number, 7)  # the baseline grows to a week
        assert (number == 0) == (checks["kl_divergence"] is None)
        assert {p["sink"]: p["action"] for p in xcom(run, "prod.publish", "published")} == {
            "redis": "published",
            "outbox": "published",
        }

    # Everyone gets the same few items: the distribution collapses and validate stops it.
    bad = first + dt.timedelta(days=8)
    collapsed = {**overrides, "inference.mode": "popular"}
    run = run_pipeline(bad, {"phases": ["prod"], "overrides": collapsed})
    got = states(run)
    assert got["prod.validate"] == "failed" and got["prod.publish"] == "upstream_failed"
    assert xcom_or_none(run, "prod.validate", "validation") is None  # a failed notebook pushes none
    report = reports(home, bad, "prod") / "40-validate.try1.ipynb"
    assert report.exists() and report.with_suffix(".html").exists()
    text = outputs_text(report)
    assert "ValidationFailed" in text and "js_distance = " in text
    assert "(not retried" in capfd.readouterr().out
    assert_both_sinks_hold_each_date_once(home, redis_connection, days)

    # Publish again for a published date, alone: each sink still holds one copy.
    run = run_pipeline(days[-1], conf, only=r"prod\.publish")
    assert states(run)["prod.publish"] == "success"
    assert {p["sink"]: p["action"] for p in xcom(run, "prod.publish", "published")} == {
        "redis": "skipped",
        "outbox": "skipped",
    }
    assert_both_sinks_hold_each_date_once(home, redis_connection, days)


def assert_both_sinks_hold_each_date_once(home, server, days):
    outbox = {}
    for path in sorted((home / "outbox" / "prod").iterdir()):
        outbox[path.name] = [json.loads(line) for line in path.read_text().splitlines()]
    assert list(outbox) == [f"ds={d}.jsonl" for d in days]
    entries = server["client"].xrange("stagebook:test:prod")
    streamed = [json.loads(fields["record"]) for _, fields in entries]
    assert streamed == [r for lines in outbox.values() for r in lines]  # same records, in order
    keys = [(r["ds"], r["user_id"]) for r in streamed]
    assert len(keys) == len(set(keys)) > 0
