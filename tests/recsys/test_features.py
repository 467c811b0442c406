"""Encoding events into feature indices."""

import pandas as pd

from recsys import features


def test_each_event_carries_its_day_as_an_ordinal_and_unknown_values_take_slot_0():
    events = pd.DataFrame(
        {
            "date": pd.to_datetime(["2019-11-20", "1969-12-31", "2024-02-29"]),
            "label": [1, 0, 1],
            "user_id": ["u1", "u2", "u9"],
        }
    )
    vocab = features.Vocabulary(("user_id",), (), {"user_id": ["u1", "u2"]})
    encoded = features.encode_events(events, vocab)
    assert encoded.day.tolist() == [d.toordinal() for d in events["date"]]
    assert encoded.x[:, 0].tolist() == [1, 2, 0]
    assert encoded.y.tolist() == [1.0, 0.0, 1.0]


def test_events_read_as_categories_give_the_same_vocabulary_and_encoding(tmp_path):
    from recsys import paths as datasets
    from recsys import tables

    events = pd.DataFrame(
        {
            "date": pd.to_datetime(["2019-11-19", "2019-11-20", "2019-11-20", "2019-11-20"]),
            "label": pd.Series([1, 0, 1, 0], dtype="int8"),
            "user_id": ["u1", "u2", "u1", "u3"],
            "age": [20, 30, 20, 40],  # not text: read as it is
            "ts": pd.to_datetime(["2019-11-19"] * 4),  # not asked for
        }
    )
    paths = datasets.paths(pd.Timestamp("2019-11-20").date(), "common", tmp_path)
    paths.table("events").parent.mkdir(parents=True)
    events.to_parquet(paths.table("events"), index=False)
    read = tables.read(paths, "events", ["user_id", "age", "date", "label"], categorical=True)
    assert list(read.columns) == ["user_id", "age", "date", "label"]
    assert isinstance(read["user_id"].dtype, pd.CategoricalDtype)
    assert read["age"].dtype.kind == "i"

    plain = tables.read(paths, "events")
    found = {}
    for name, frame in (("plain", plain), ("categorical", read)):
        vocab = features.build_vocabulary(frame, ("user_id", "age"), (), min_count=2)
        found[name] = (vocab.values, features.encode_events(frame, vocab).x.tolist())
    assert found["plain"] == found["categorical"]
    assert found["plain"][0] == {"user_id": ["u1"], "age": ["20"]}  # u2, u3, 30, 40: once only
