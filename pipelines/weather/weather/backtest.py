"""The rolling-origin backtest: each of the window's last days forecast as it would have been.

For each of the last ``backtest.days`` days ``d`` of the window, a model with the
same settings is fitted on the days whose target was known on ``d - 1`` and
forecasts ``d``; the naive forecast (persistence) says ``d`` is as warm as
``d - 1``. ``skill = 1 - mae_model / mae_naive``: above 0 the model beats it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd

from stagebook import atomic
from stagebook.errors import MissingInputError
from weather import model
from weather.errors import NoObservations
from weather.params import MIN_TRAIN_ROWS
from weather.paths import File, WeatherPaths


def run(frame: pd.DataFrame, lags: int, alpha: float, days: int) -> pd.DataFrame:
    """Return one row per backtested day: its forecasts by the model and by persistence.

    Columns: ``origin`` (the day the forecast is made), ``date`` (the day forecast),
    ``actual``, ``model``, ``naive``, and the signed errors ``error_model``, ``error_naive``.

    Raises:
        NoObservations: the window is too short to fit the first fold on.
    """
    rows = model.complete(model.design(frame, lags))
    first = len(rows) - days
    if first < MIN_TRAIN_ROWS:
        raise NoObservations(
            f"{frame['date'].iloc[-1]}: the window holds {len(rows)} complete days, too few for a "
            f"{days}-day backtest on at least {MIN_TRAIN_ROWS} days: run a later date, or lower "
            "backtest.days"
        )
    found = []
    for at in range(first, len(rows)):
        fitted = model.fit(rows.iloc[:at], lags, alpha)
        found.append(float(model.predict(fitted, rows.iloc[[at]], lags)[0]))
    tested = rows.iloc[first:]
    out = pd.DataFrame(
        {
            "origin": tested["date"].to_numpy(),
            "date": [d + dt.timedelta(days=1) for d in tested["date"]],
            "actual": tested["target"].to_numpy(),
            "model": found,
            "naive": tested[f"{model.TARGET}_lag1"].to_numpy(),
        }
    )
    out["error_model"] = out["model"] - out["actual"]
    out["error_naive"] = out["naive"] - out["actual"]
    return out


def summary(errors: pd.DataFrame) -> dict[str, Any]:
    """Return the backtest's numbers: both MAEs, the skill, the model's bias, how many days."""
    mae_model = float(np.mean(np.abs(errors["error_model"])))
    mae_naive = float(np.mean(np.abs(errors["error_naive"])))
    return {
        "mae_model": round(mae_model, 4),
        "mae_naive": round(mae_naive, 4),
        # persistence without error (a constant temperature) leaves no room for skill
        "skill": round(1 - mae_model / mae_naive, 4) if mae_naive > 0 else None,
        "bias_model": round(float(np.mean(errors["error_model"])), 4),
        "days": len(errors),
    }


def save(paths: WeatherPaths, errors: pd.DataFrame, numbers: dict[str, Any], model_id: str) -> None:
    """Write the backtest of ``paths.ds``: its errors by day and its numbers, both at once."""
    with atomic.replacing(paths.backtest) as folder:
        errors.to_parquet(File.ERRORS.of(folder), index=False)
        File.BACKTEST.of(folder).write_text(json.dumps({**numbers, "model_id": model_id}) + "\n")


def read(paths: WeatherPaths, model_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the backtest of ``paths.ds``: its errors by day, and its numbers.

    Raises:
        MissingInputError: none was written, or it tested another model than ``model_id``.
    """
    numbers_file = File.BACKTEST.of(paths.backtest)
    if not numbers_file.exists():
        raise MissingInputError(
            f"{paths.ds}: no backtest at {paths.backtest}: run 20-backtest for this date first"
        )
    numbers = json.loads(numbers_file.read_text())
    if model_id != "latest" and numbers.get("model_id") != model_id:
        raise MissingInputError(
            f"{numbers_file} tested model {numbers.get('model_id')}, not {model_id}: run "
            "20-backtest for this date again"
        )
    return pd.read_parquet(File.ERRORS.of(paths.backtest)), numbers
