import datetime as dt

import pandas as pd
import pytest

from stagebook import params
from weather import data
from weather.errors import NoObservations
from weather.params import DataParams

ANCHOR = dt.date(2020, 6, 30)


def test_the_anchor_date_shows_the_datasets_last_day():
    shown = data.replay(ANCHOR, ANCHOR - dt.timedelta(days=2), ANCHOR)
    assert list(shown["date"]) == [dt.date(2020, 6, 28), dt.date(2020, 6, 29), ANCHOR]
    assert list(shown["observed"]) == [
        dt.date(2015, 12, 29),
        dt.date(2015, 12, 30),
        dt.date(2015, 12, 31),
    ]
    # seattle-weather.csv: 2015/12/31,0.0,5.6,-2.1,3.5,sun
    last = shown.iloc[-1]
    assert (last["temp_max"], last["temp_min"], last["weather"]) == (5.6, -2.1, "sun")


def test_each_date_shows_the_day_as_far_before_the_last_as_it_is_before_the_anchor():
    date = dt.date(2019, 1, 1)
    assert data.original(ANCHOR, date) == dt.date(2015, 12, 31) - (ANCHOR - date)
    shown = data.replay(ANCHOR, date, date)
    raw = data.observations().set_index("observed").loc[data.original(ANCHOR, date)]
    assert shown["temp_max"].iloc[0] == raw["temp_max"]


def test_a_date_after_the_anchor_is_refused_in_one_line():
    with pytest.raises(NoObservations, match=r"2020-07-01: no observation after") as found:
        data.replay(ANCHOR, ANCHOR, ANCHOR + dt.timedelta(days=1))
    assert "\n" not in str(found.value)


def test_a_date_before_the_dataset_is_refused_in_one_line():
    first = data.first_date(ANCHOR)
    assert data.original(ANCHOR, first) == dt.date(2012, 1, 1)
    before = first - dt.timedelta(days=1)
    with pytest.raises(NoObservations, match=f"{before}: before the Seattle weather") as found:
        data.window(DataParams(anchor_date=ANCHOR, history_days=30), before)
    assert "\n" not in str(found.value)


def test_the_window_is_consecutive_days_ending_with_ds_cut_at_the_first_day():
    ds = dt.date(2015, 11, 30)
    frame = data.window(DataParams(anchor_date=dt.date(2015, 12, 31), history_days=400), ds)
    assert len(frame) == 400 and frame["date"].iloc[-1] == ds
    assert (pd.Series(frame["date"]).diff().dropna() == dt.timedelta(days=1)).all()
    early = data.window(
        DataParams(anchor_date=dt.date(2015, 12, 31), history_days=400), dt.date(2012, 2, 1)
    )
    assert early["date"].iloc[0] == dt.date(2012, 1, 1) and len(early) == 32


def test_land_writes_the_window_into_the_weather_data_area_and_read_returns_it(home):
    merged = params.load()
    paths = merged.paths(dt.date(2015, 11, 30), "common")
    with pytest.raises(NoObservations, match="run 00-observe for this date first"):
        data.read(paths)
    landed = data.land(merged.data, paths)
    assert paths.observations.is_relative_to(home / "data" / "weather")
    back = data.read(paths)
    assert list(back["date"]) == list(landed["date"])
    assert back["temp_max"].tolist() == landed["temp_max"].tolist()
    assert data.summary(back)["rows"] == merged.data.history_days


def test_the_latest_complete_date_is_yesterday_or_the_anchor_date():
    merged = params.load()
    anchor = merged.data.anchor_date
    assert merged.latest_complete_date(anchor + dt.timedelta(days=400)) == anchor
    assert merged.latest_complete_date(anchor) == anchor - dt.timedelta(days=1)
