import datetime as dt

import numpy as np
import pytest

from stagebook import params
from stagebook.errors import MissingInputError
from weather import backtest, data, model
from weather.params import DataParams

ANCHOR = dt.date(2015, 12, 31)


def window(ds, days=400):
    return data.window(DataParams(anchor_date=ANCHOR, history_days=days), ds)


def test_a_days_features_are_it_and_the_days_before_and_its_target_is_the_next():
    frame = window(dt.date(2015, 3, 10), days=30)
    rows = model.design(frame, lags=3)
    t = 10
    assert rows["temp_max_lag1"][t] == frame["temp_max"][t]
    assert rows["temp_max_lag3"][t] == frame["temp_max"][t - 2]
    assert rows["precipitation_lag2"][t] == frame["precipitation"][t - 1]
    assert rows["target"][t] == frame["temp_max"][t + 1]
    tomorrow = (frame["date"][t] + dt.timedelta(days=1)).timetuple().tm_yday
    assert rows["doy_sin"][t] == pytest.approx(np.sin(2 * np.pi * tomorrow / model.YEAR_DAYS))
    assert len(model.complete(rows)) == len(frame) - 2 - 1  # two days lack lags, one a target


@pytest.mark.parametrize("ds", ["2015-03-15", "2015-07-01", "2015-11-30", "2015-12-31"])
def test_the_model_beats_persistence_on_the_real_data(ds):
    merged = params.load()
    frame = data.window(merged.data, dt.date.fromisoformat(ds))
    errors = backtest.run(frame, merged.train.lags, merged.train.alpha, merged.backtest.days)
    numbers = backtest.summary(errors)
    assert numbers["mae_model"] < numbers["mae_naive"]
    assert numbers["skill"] > merged.validation.min_skill


def test_the_same_window_gives_the_same_model_id_and_another_window_another():
    first, info = model.train(window(dt.date(2015, 11, 30)), lags=2, alpha=1.0)
    again, _ = model.train(window(dt.date(2015, 11, 30)), lags=2, alpha=1.0)
    other, _ = model.train(window(dt.date(2015, 12, 1)), lags=2, alpha=1.0)
    assert model.model_id(first) == model.model_id(again) == info["id"]
    assert model.model_id(other) != info["id"]
    assert info["features"] == model.feature_names(2) and info["train_rows"] == 400 - 2


def test_a_saved_model_loads_by_its_id_and_refuses_another(tmp_path):
    frame = window(dt.date(2015, 11, 30))
    fitted, info = model.train(frame, lags=2, alpha=1.0)
    with pytest.raises(MissingInputError, match="run 10-train for this date first"):
        model.load(tmp_path / "models")
    model.save(fitted, info, tmp_path / "models")
    loaded, back = model.load(tmp_path / "models", info["id"])
    assert back == info
    assert model.forecast(loaded, frame, 2) == model.forecast(fitted, frame, 2)
    assert model.forecast(loaded, frame, 2)[0] == dt.date(2015, 12, 1)
    with pytest.raises(MissingInputError, match="not ridge-000000000000 that train recorded"):
        model.load(tmp_path / "models", "ridge-000000000000")
