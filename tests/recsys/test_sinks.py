import json

import pandas as pd
import pytest
from redis.crc import key_slot

from recsys import paths as datasets
from recsys import redis_sink, sinks
from recsys.errors import SinkConfigError, SinkUnavailable
from tests.support import free_port
from tests.support.samples import RECS


def test_one_record_per_user_with_ranked_items():
    records = sinks.format_records(RECS, ds="2019-10-23", phase="beta")
    provenance = {
        "model_signature": "ffm.TH.201910241414_20191023",
        "ds": "2019-10-23",
        "phase": "beta",
    }
    assert records == [
        {"user_id": "u1", "item_ids": ["b", "c"], "scores": [0.8, 0.4], **provenance},
        {"user_id": "u2", "item_ids": ["a", "d"], "scores": [0.9, 0.3], **provenance},
    ]


DS, PHASE = "2019-10-23", "beta"
FIRST = sinks.format_records(RECS, ds=DS, phase=PHASE)
SECOND = sinks.format_records(RECS.assign(score=RECS["score"] / 2), ds=DS, phase=PHASE)


def test_publishing_a_date_again_replaces_it_and_leaves_no_temporary_file(tmp_path):
    sink = sinks.OutboxSink(tmp_path / "outbox" / PHASE)
    assert sink.publish(FIRST, ds=DS).action == "published"
    assert sink.publish(FIRST, ds=DS).action == "skipped"
    done = sink.publish(SECOND[:1], ds=DS)
    assert done.action == "replaced"
    target = sink.target(DS)
    assert done.target == str(target)
    assert [json.loads(line) for line in target.read_text().splitlines()] == SECOND[:1]
    assert target.parent.name == "ds=2019-10-23" and target.parent.is_symlink()
    shown = [p.name for p in sink.folder.iterdir() if not p.name.startswith(".")]
    assert shown == ["ds=2019-10-23"]
    assert not [p for p in sink.folder.iterdir() if ".tmp" in p.name or ".link-" in p.name]


def test_redis_settings_come_from_the_airflow_connection_as_json_or_uri():
    json_conn = '{"conn_type": "redis", "host": "10.0.0.5", "port": 6380, "password": "s3cret", '
    json_conn += '"extra": {"stream": "recs", "db": 2}}'
    uri_conn = "redis://:s3cret@10.0.0.5:6380/2?stream=recs"
    for value in (json_conn, uri_conn):
        got = redis_sink.RedisSettings.from_env("my_redis", {"AIRFLOW_CONN_MY_REDIS": value})
        assert (got.host, got.port, got.db, got.stream, got.password) == (
            "10.0.0.5",
            6380,
            2,
            "recs",
            "s3cret",
        )
        assert "s3cret" not in repr(got) and "s3cret" not in got.where


def test_a_missing_redis_connection_names_it_and_says_how_to_define_it():
    with pytest.raises(SinkConfigError, match="'my_redis'.*AIRFLOW_CONN_MY_REDIS is not set"):
        redis_sink.RedisSettings.from_env("my_redis", {})


def stream_sink(server, timeout_s=2.0):
    settings = redis_sink.RedisSettings("test_redis", host=server["host"], port=server["port"])
    return redis_sink.RedisStreamSink(settings, timeout_s)


def test_redis_publishes_once_per_date_and_phase_skips_a_repeat_and_replaces_a_change(redis_db):
    sink = stream_sink(redis_db)
    other = sinks.format_records(RECS, ds="2019-10-24", phase=PHASE)
    assert sink.publish(FIRST, ds=DS, phase=PHASE).action == "published"
    assert sink.publish(other, ds="2019-10-24", phase=PHASE).records == 2
    again = sink.publish(FIRST, ds=DS, phase=PHASE)
    assert (again.action, again.records, again.removed) == ("skipped", 2, 0)
    assert sink.entries(PHASE) == FIRST + other

    replaced = sink.publish(SECOND, ds=DS, phase=PHASE)
    assert (replaced.action, replaced.records, replaced.removed) == ("replaced", 2, 2)
    assert sink.entries(PHASE) == other + SECOND  # one copy of each date, the newest for DS
    entry = redis_db["client"].xrange(sink.stream(PHASE))[-1][1]
    assert (entry["ds"], entry["phase"], entry["user_id"]) == (DS, PHASE, "u2")
    assert sink.entries("prod") == []  # each phase has its own stream


def test_both_sinks_hold_one_copy_after_publishing_a_date_twice(redis_db, tmp_path):
    targets = [stream_sink(redis_db), sinks.OutboxSink(tmp_path / PHASE)]
    for records in (FIRST, FIRST, SECOND):
        sinks.publish(records, targets, ds=DS, phase=PHASE)
    assert targets[0].entries(PHASE) == SECOND
    lines = datasets.outbox_file(tmp_path / PHASE, DS).read_text().splitlines()
    assert [json.loads(line) for line in lines] == SECOND


def test_open_sinks_writes_redis_before_the_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_R", '{"conn_type": "redis", "host": "127.0.0.1"}')
    opened = sinks.open_sinks(["outbox", "redis"], outbox=tmp_path, redis_conn_id="r", timeout_s=1)
    assert [s.name for s in opened] == ["redis", "outbox"]


def test_unreachable_redis_fails_within_the_timeout_and_leaves_the_outbox_as_it_was(
    tmp_path, silent_port
):
    outbox = sinks.OutboxSink(tmp_path / PHASE)
    outbox.publish(FIRST, ds=DS)
    before = outbox.target(DS).read_text()
    closed = free_port()
    for port, cause in ((closed, "ConnectionError"), (silent_port, "TimeoutError")):
        sink = stream_sink({"host": "127.0.0.1", "port": port}, timeout_s=0.5)
        with pytest.raises(SinkUnavailable) as caught:
            sinks.publish(SECOND, [sink, outbox], ds=DS, phase=PHASE)
        message = str(caught.value)
        assert f"'test_redis' at redis://127.0.0.1:{port}/0" in message
        assert cause in message and "timeout 0.5 s" in message
        assert "Nothing was published to any sink" in message
        assert outbox.target(DS).read_text() == before
        shown = [p.name for p in outbox.folder.iterdir() if not p.name.startswith(".")]
        assert shown == [f"ds={DS}"]


def test_finding_8_150k_users_in_chunks_with_a_short_timeout_end_equal_in_both_sinks(
    redis_db, tmp_path
):
    users = pd.DataFrame({"user_id": [f"u{n}" for n in range(150_000)]})
    recs = users.assign(
        rank=1, item_id="a", score=0.5, model_signature="ffm.TH.201910241414_20191023"
    )
    first = sinks.format_records(recs, ds=DS, phase=PHASE)
    targets = [stream_sink(redis_db, timeout_s=1.0), sinks.OutboxSink(tmp_path / PHASE)]
    done = sinks.publish(first, targets, ds=DS, phase=PHASE)
    assert [d.action for d in done] == ["published", "published"]
    second = sinks.format_records(recs.assign(item_id="b"), ds=DS, phase=PHASE)
    done = sinks.publish(second, targets, ds=DS, phase=PHASE)
    assert [(d.action, d.removed) for d in done] == [("replaced", 150_000), ("replaced", 0)]
    lines = targets[1].target(DS).read_text().splitlines()
    assert targets[0].entries(PHASE) == [json.loads(line) for line in lines] == second


def test_finding_8_a_try_that_died_half_way_is_cleaned_up_by_the_next(redis_db):
    sink = stream_sink(redis_db)
    sink.publish(FIRST, ds=DS, phase=PHASE)
    sink._add(SECOND, DS, PHASE)  # a try that added its entries, then died before committing
    assert len(sink.entries(PHASE)) == 4
    assert sink.publish(SECOND, ds=DS, phase=PHASE).action == "replaced"
    assert sink.entries(PHASE) == SECOND


def test_finding_8_the_keys_of_a_date_share_one_cluster_slot(redis_db):
    sink = stream_sink(redis_db)
    keys = [sink.stream(PHASE)] + [sink.key(k, DS, PHASE) for k in ("published", "ids", "pending")]
    assert all(key.startswith("{stagebook:recommendations:beta}") for key in keys)
    assert len({key_slot(key.encode()) for key in keys}) == 1


def test_finding_8_a_refusal_from_redis_is_a_clear_error(redis_db):
    sink = stream_sink(redis_db)
    redis_db["client"].set(sink.stream(PHASE), "not a stream")  # WRONGTYPE for XADD
    with pytest.raises(
        SinkUnavailable, match="refused the publication of 2019-10-23 \\(beta\\): WRONGTYPE"
    ):
        sink.publish(FIRST, ds=DS, phase=PHASE)


def test_the_publications_metadata_goes_beside_the_outbox_and_into_the_redis_marker(
    redis_db, tmp_path
):
    meta = {"approval": {"decision": "approved", "by": "rita", "comment": "ok"}}
    redis, outbox = stream_sink(redis_db), sinks.OutboxSink(tmp_path / PHASE)
    sinks.publish(FIRST, [redis, outbox], ds=DS, phase=PHASE, meta=meta)
    kept = json.loads(datasets.outbox_meta(outbox.target(DS)).read_text())
    assert kept == {"digest": sinks.digest(FIRST), **meta}
    marker = redis_db["client"].hget(redis.marker(DS, PHASE), "meta")
    assert json.loads(marker) == meta
