"""Encoding events into feature indices."""

import pandas as pd

from stagebook.recsys import features


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
