import datetime as dt

import pandas as pd
import pytest

from weather import backtest, data, model
from weather.errors import NoObservations
from weather.params import MIN_TRAIN_ROWS, DataParams

ANCHOR = dt.date(2015, 12, 31)
DS = dt.date(2015, 11, 30)


def window(days=300):
    return data.window(DataParams(anchor_date=ANCHOR, history_days=days), DS)


def test_summary_numbers_by_hand():
    errors = pd.DataFrame({"error_model": [1.0, -2.0, 0.0], "error_naive": [2.0, -2.0, 2.0]})
    assert backtest.summary(errors) == {
        "mae_model": 1.0,
        "mae_naive": 2.0,
        "skill": 0.5,
        "bias_model": round(-1 / 3, 4),
        "days": 3,
    }


def test_the_backtest_covers_the_windows_last_days_and_persistence_is_the_day_before():
    frame = window()
    errors = backtest.run(frame, lags=2, alpha=1.0, days=30)
    assert len(errors) == 30
    assert list(errors["date"]) == list(frame["date"].iloc[-30:])
    assert list(errors["actual"]) == list(frame["temp_max"].iloc[-30:])
    assert list(errors["naive"]) == list(frame["temp_max"].iloc[-31:-1])
    assert (errors["error_model"] == errors["model"] - errors["actual"]).all()


def test_each_day_is_forecast_by_a_model_fitted_only_on_what_was_known_the_day_before():
    frame = window()
    errors = backtest.run(frame, lags=2, alpha=1.0, days=30)
    rows = model.complete(model.design(frame, 2))
    first = len(rows) - 30
    by_hand = model.fit(rows.iloc[:first], 2, 1.0)
    assert errors["model"].iloc[0] == pytest.approx(
        model.predict(by_hand, rows.iloc[[first]], 2)[0]
    )
    # what happens on ds cannot change any forecast made before it
    changed = frame.copy()
    changed.loc[changed.index[-1], "temp_max"] += 30.0
    again = backtest.run(changed, lags=2, alpha=1.0, days=30)
    assert again["model"].tolist() == errors["model"].tolist()
    assert again["actual"].iloc[-1] == errors["actual"].iloc[-1] + 30.0


def test_a_window_too_short_for_the_backtest_is_refused_in_one_line():
    frame = window(days=MIN_TRAIN_ROWS + 20)
    with pytest.raises(NoObservations, match="too few for a 30-day backtest") as found:
        backtest.run(frame, lags=2, alpha=1.0, days=30)
    assert "\n" not in str(found.value)


def test_a_saved_backtest_is_read_back_for_its_model_only(home):
    from stagebook import params
    from stagebook.errors import MissingInputError

    paths = params.load().paths(DS, "common")
    errors = backtest.run(window(), lags=2, alpha=1.0, days=30)
    with pytest.raises(MissingInputError, match="run 20-backtest for this date first"):
        backtest.read(paths, "ridge-a")
    backtest.save(paths, errors, backtest.summary(errors), "ridge-a")
    back, numbers = backtest.read(paths, "ridge-a")
    assert numbers["model_id"] == "ridge-a" and numbers["days"] == 30
    assert back["model"].tolist() == errors["model"].tolist()
    with pytest.raises(MissingInputError, match="tested model ridge-a, not ridge-b"):
        backtest.read(paths, "ridge-b")
