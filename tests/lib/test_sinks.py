import json

import pandas as pd

from stagebook import sinks

RECS = pd.DataFrame(
    {
        "user_id": ["u2", "u1", "u1", "u2"],
        "rank": [1, 2, 1, 2],
        "item_id": ["a", "c", "b", "d"],
        "score": [0.9, 0.4, 0.8, 0.3],
        "model_signature": "ffm.TH.201910241414_20191023",
    }
)


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


def test_publishing_a_date_again_replaces_it_and_leaves_no_temporary_file(tmp_path):
    sink = sinks.OutboxSink(tmp_path / "outbox" / "beta")
    first = sinks.format_records(RECS, ds="2019-10-23", phase="beta")
    sink.publish(first, ds="2019-10-23")
    second = first[:1]
    target = sink.publish(second, ds="2019-10-23")
    assert [json.loads(line) for line in target.read_text().splitlines()] == second
    assert sorted(p.name for p in target.parent.iterdir()) == ["ds=2019-10-23.jsonl"]
