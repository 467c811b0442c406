import datetime as dt

import numpy as np
import pytest

from recsys import data, metrics, tables
from recsys import paths as datasets
from stagebook import params
from stagebook.errors import MissingInputError

DAY = dt.date(2019, 11, 20)


def synthetic(**changes):
    return params.load().data.model_copy(update={"source": "synthetic", **changes})


def test_synthetic_is_deterministic_per_seed_and_date():
    p = synthetic(events_per_day=500)
    a, b = data.events_for(p, DAY), data.events_for(p, DAY)
    assert a.equals(b)
    assert not a.equals(data.events_for(p, DAY - dt.timedelta(days=1)))
    assert not a.equals(data.events_for(synthetic(events_per_day=500, seed=8), DAY))
    assert len(a) == 500
    assert set(data.source("synthetic").fields) <= set(a.columns)


def test_synthetic_popularity_is_skewed_and_the_hidden_model_beats_the_base_rate():
    p = synthetic(events_per_day=20000)
    day = data.events_for(p, DAY)
    counts = day["item_id"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() > 0.4 * len(
        day
    )  # top 10% of items: >40% of events
    world = data._world(p.seed, p.n_users, p.n_items)
    users = day["user_id"].str[1:].astype(int).to_numpy()
    items = day["item_id"].str[1:].astype(int).to_numpy()
    prob = 1 / (1 + np.exp(-data.click_logit(world, users, items)))
    y = day["label"].to_numpy()
    assert metrics.logloss(y, prob) < metrics.base_rate_logloss(y, y) - 0.03


def test_movielens_replay_ends_on_the_anchor_date():
    p = params.load().data.model_copy(update={"source": "movielens100k", "anchor_date": DAY})
    last = data.events_for(p, DAY)
    assert len(last) == 536  # ratings of 1998-04-22, the dataset's last day
    assert (last["date"] == DAY).all()
    assert last["ts"].dt.date.eq(DAY).all()
    assert data.events_for(p, DAY + dt.timedelta(days=1)).empty
    assert set(last["label"]) <= {0, 1}
    assert set(data.source("movielens100k").fields) <= set(last.columns)
    events = data.movielens_events()
    assert len(events) == 100_000
    assert abs(events["label"].mean() - 0.55375) < 1e-9  # share of ratings >= 4


def test_land_writes_partitions_and_reports_missing_dates(tmp_path):
    p = synthetic(events_per_day=100, anchor_date=DAY)
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    assert data.land(p, days, tmp_path) == [DAY + dt.timedelta(days=1)]
    key = data.source_key(p)
    assert datasets.paths(DAY, "common", tmp_path).raw_events_file(key).exists()
    paths = datasets.paths(DAY, "common", tmp_path)
    built = tables.build(
        [paths.on(d).raw_events_file(key) for d in days[:2]], data.source("synthetic"), paths, 1
    )
    events, users, items, seen = (
        tables.read(paths, n) for n in ("events", "users", "items", "seen")
    )
    assert len(events) == 200 and events["ts"].is_monotonic_increasing
    assert users["user_id"].is_unique and items["item_id"].is_unique
    assert len(seen) == len(events[["user_id", "item_id"]].drop_duplicates())
    assert built.rows == {
        "events": 200,
        "users": len(users),
        "items": len(items),
        "seen": len(seen),
    }
    assert built.daily["events"].tolist() == [100, 100]
    assert str(events["date"].dtype).startswith("datetime64")  # as the tables have always had it


def test_land_window_refuses_a_date_the_source_has_no_events_for(tmp_path):
    p = synthetic(events_per_day=100, anchor_date=DAY)
    later = DAY + dt.timedelta(days=1)
    paths = datasets.paths(later, "common", tmp_path)
    with pytest.raises(MissingInputError, match=f"no raw events for {later} at .*date={later}"):
        data.land_window(p, paths, [DAY, later])
    files, missing = data.land_window(p, paths.on(DAY), [DAY - dt.timedelta(days=1), DAY])
    assert missing == [] and [f.parent.name for f in files] == [
        "date=2019-11-19",
        "date=2019-11-20",
    ]


def test_finding_10_too_few_events_to_train_fail_at_input_tables_with_a_count(tmp_path):
    p = synthetic(events_per_day=100, anchor_date=DAY)
    paths = datasets.paths(DAY, "common", tmp_path)
    files, _ = data.land_window(p, paths, [DAY - dt.timedelta(days=1), DAY])
    tables.build(files, data.source("synthetic"), paths, 200)  # exactly enough
    written = tables.read(paths, "events")
    with pytest.raises(MissingInputError, match="only 200 events in the window ending 2019-11-20"):
        tables.build(files, data.source("synthetic"), paths, 201)
    assert tables.read(paths, "events").equals(written)  # the refused build wrote nothing


def test_finding_4_a_synthetic_run_does_not_change_what_a_default_run_reads(tmp_path):
    paths = datasets.paths(DAY, "common", tmp_path)
    window = [DAY - dt.timedelta(days=1), DAY]
    files, _ = data.land_window(synthetic(events_per_day=100), paths, window)
    tables.build(files, data.source("synthetic"), paths, 1)
    assert tables.read(paths, "events")["user_id"].str.startswith("u").all()
    default = params.load().data  # MovieLens, after the synthetic run landed the same dates
    files, _ = data.land_window(default, paths, window)
    tables.build(files, data.source("movielens100k"), paths, 1)
    events = tables.read(paths, "events")
    assert len(events) > 0 and not events["user_id"].str.startswith("u").any()
    assert len(events) == sum(len(data.events_for(default, d)) for d in window)


def test_the_source_key_changes_with_the_settings_that_change_the_events():
    base = synthetic()
    assert data.source_key(base) != data.source_key(base.model_copy(update={"seed": 8}))
    assert data.source_key(base) == data.source_key(synthetic())
    movielens = params.load().data
    assert data.source_key(movielens) == data.source_key(movielens.model_copy(update={"seed": 8}))
    assert data.source_key(movielens).startswith("movielens100k-")
