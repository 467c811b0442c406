import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from recsys import inference
from recsys import paths as datasets
from stagebook.errors import MissingInputError

USERS = pd.DataFrame({"user_id": ["u1", "u2", "u3"]})
ITEMS = pd.DataFrame({"item_id": ["a", "b", "c", "d"]})


def test_the_popular_fallback_gives_everyone_the_most_clicked_items():
    events = pd.DataFrame({"item_id": ["a", "b", "b", "c", "c", "c"], "label": [1, 1, 1, 1, 1, 0]})
    recs = inference.popular(events, USERS, top_k=2)
    assert recs["user_id"].tolist() == ["u1", "u1", "u2", "u2", "u3", "u3"]
    assert recs["item_id"].tolist() == ["b", "c"] * 3  # b and c: 2 clicks each; a: 1
    assert recs["rank"].tolist() == [1, 2] * 3
    assert recs["score"].tolist() == [1.0, 1.0] * 3


def test_scored_blocks_become_one_row_per_user_and_rank_without_the_missing_slots():
    blocks = [
        (np.array([0, 1]), np.array([[2, 0], [3, 1]]), np.array([[2.0, 0.0], [1.0, -np.inf]])),
        (np.array([2]), np.array([[1, 3]]), np.array([[0.5, -1.0]])),
    ]
    recs = inference.table(blocks, USERS, ITEMS)
    assert recs[["user_id", "rank", "item_id"]].values.tolist() == [
        ["u1", 1, "c"],
        ["u1", 2, "a"],
        ["u2", 1, "d"],
        ["u3", 1, "b"],
        ["u3", 2, "d"],
    ]
    expected = 1 / (1 + np.exp(-np.array([2.0, 0.0, 1.0, 0.5, -1.0])))
    np.testing.assert_allclose(recs["score"], expected.astype(np.float32), rtol=1e-6)


def test_seen_pairs_become_row_indices_of_users_and_items():
    seen = pd.DataFrame({"user_id": ["u3", "u1"], "item_id": ["a", "d"]})
    assert inference.exclusions(USERS, ITEMS, seen).tolist() == [[2, 0], [0, 3]]


def test_recommendations_round_trip_and_a_missing_date_names_the_stage_to_run(tmp_path):
    paths = datasets.paths(dt.date(2019, 11, 20), "prod", tmp_path)
    with pytest.raises(MissingInputError, match="run 30-inference for 2019-11-20 \\(prod\\)"):
        inference.read(paths)
    recs = inference.popular(pd.DataFrame({"item_id": ["a"], "label": [1]}), USERS, 1)
    inference.write(recs, paths)
    again, digest = inference.read(paths)
    pd.testing.assert_frame_equal(again, recs)
    assert (
        digest
        == hashlib.sha256(
            datasets.File.RECOMMENDATIONS.of(paths.recommendations).read_bytes()
        ).hexdigest()
    )
    assert inference.summary(recs)["users"] == 3
