"""What the example consumer receives: the newest published batch, checked against the outbox."""

import datetime as dt
from collections import namedtuple

import pytest

from recsys import lineage
from recsys.paths import paths
from recsys.sinks import OutboxSink, digest
from stagebook.errors import LineageError

Event = namedtuple("Event", "extra")  # what a consumer task reads of an asset event
DS = "2019-11-20"
RECORDS = [{"user_id": "u1", "items": ["i1", "i2"]}]


def _published(home):
    outbox = paths(dt.date(2019, 11, 20), "prod", home).outbox
    OutboxSink(outbox).publish(RECORDS, ds=DS, phase="prod")


def test_a_batch_is_verified_when_the_outbox_holds_its_digest(home):
    _published(home)
    extra = {"ds": DS, "phase": "prod", "sinks": ["outbox"], "published_digest": digest(RECORDS)}
    older = Event({**extra, "ds": "2019-11-19"})
    assert lineage.received([older, Event(extra)]) == {**extra, "verified": True}
    other = {**extra, "published_digest": "another"}
    assert lineage.received([Event(other)])["verified"] is False


def test_a_batch_not_sent_to_the_outbox_is_not_verified(home):
    extra = {"ds": DS, "phase": "prod", "sinks": ["redis"], "published_digest": "d"}
    assert lineage.received([Event(extra)])["verified"] is None


def test_no_event_yet_is_one_line_saying_there_is_nothing_to_consume():
    with pytest.raises(LineageError, match="^no event of the recommendations asset yet"):
        lineage.received([])
