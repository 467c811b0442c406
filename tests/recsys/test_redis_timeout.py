"""What ``publish.timeout_s`` bounds when a real Redis stops taking writes halfway through."""

import threading
import time

import pandas as pd
import pytest

from recsys import redis_sink, sinks
from recsys.errors import SinkUnavailable

DS, PHASE = "2019-10-23", "beta"
PAUSE_S = 10


def many_records(users: int) -> list[dict]:
    recs = pd.DataFrame({"user_id": [f"u{n}" for n in range(users)]})
    recs = recs.assign(rank=1, item_id="a", score=0.5, model_signature="ffm.TH.x_20191023")
    return sinks.format_records(recs, ds=DS, phase=PHASE)


def pause_writes_once_entries_are_added(client, pending: str) -> threading.Thread:
    """Pause writes (``CLIENT PAUSE``, from a second client) once the first chunk is listed."""

    def pause() -> None:
        deadline = time.monotonic() + 30
        while not client.exists(pending) and time.monotonic() < deadline:
            time.sleep(0.001)
        client.execute_command("CLIENT", "PAUSE", PAUSE_S * 1000, "WRITE")

    thread = threading.Thread(target=pause, daemon=True)
    thread.start()
    return thread


def test_a_redis_that_pauses_writes_fails_publish_within_its_timeout(redis_db):
    client = redis_db["client"]
    settings = redis_sink.RedisSettings("test_redis", host=redis_db["host"], port=redis_db["port"])
    sink = redis_sink.RedisStreamSink(settings, timeout_s=0.5)
    records = many_records(20 * redis_sink.CHUNK)
    pauser = pause_writes_once_entries_are_added(client, sink.key("pending", DS, PHASE))
    started = time.monotonic()
    try:
        with pytest.raises(SinkUnavailable) as caught:
            sink.publish(records, ds=DS, phase=PHASE)
        failed_after = time.monotonic() - started
        pauser.join(5)
        assert 0 < client.xlen(sink.stream(PHASE)) < len(records)  # it stopped halfway
        assert not client.exists(sink.marker(DS, PHASE))  # and committed nothing
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    message = str(caught.value)
    assert "\n" not in message
    assert "gave TimeoutError" in message and "(timeout 0.5 s)" in message
    assert "did not commit them" in message
    assert failed_after < PAUSE_S  # it did not wait for Redis to take writes again
    done = sink.publish(records, ds=DS, phase=PHASE)  # the next try: exactly one copy
    assert (done.action, done.records) == ("published", len(records))
    assert sink.entries(PHASE) == records
