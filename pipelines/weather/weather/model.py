"""Tomorrow's maximum temperature from the last days: features, fit, forecast, and the saved model.

A forecast made on day ``t`` (once ``t`` is observed) is for ``t + 1``. Its
features are the last ``lags`` days of maximum and minimum temperature and
precipitation (lag 1 is ``t`` itself) and the day of the year of ``t + 1`` as a
sine and a cosine; a ridge regression on standardised features maps them to
``temp_max`` of ``t + 1``. The window's days are consecutive, so a lag is a shift.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from stagebook import atomic
from stagebook.errors import MissingInputError
from weather.paths import File

TARGET = "temp_max"
LAGGED = ("temp_max", "temp_min", "precipitation")
YEAR_DAYS = 365.25


def feature_names(lags: int) -> list[str]:
    """Return the model's features: each lagged measure's lags, then the season."""
    return [f"{m}_lag{k}" for m in LAGGED for k in range(1, lags + 1)] + ["doy_sin", "doy_cos"]


def design(frame: pd.DataFrame, lags: int) -> pd.DataFrame:
    """Return one row per day of ``frame`` (its ``date``): the features, and ``target`` (tomorrow).

    The first ``lags - 1`` days lack lags and the last day its target (NaN there).
    """
    columns = {f"{m}_lag{k}": frame[m].shift(k - 1) for m in LAGGED for k in range(1, lags + 1)}
    tomorrow = pd.to_datetime(frame["date"]) + pd.Timedelta(days=1)
    angle = 2 * np.pi * tomorrow.dt.day_of_year / YEAR_DAYS
    columns |= {"doy_sin": np.sin(angle), "doy_cos": np.cos(angle)}
    out = pd.DataFrame(columns)
    out.insert(0, "date", frame["date"])
    out["target"] = frame[TARGET].shift(-1)
    return out.reset_index(drop=True)


def complete(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of a design that have every lag and a target: what a model fits on."""
    return rows.dropna().reset_index(drop=True)


def fit(rows: pd.DataFrame, lags: int, alpha: float) -> Pipeline:
    """Return a ridge regression (``alpha``) fitted on the complete ``rows`` of a design."""
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    return model.fit(rows[feature_names(lags)].to_numpy(), rows["target"].to_numpy())


def predict(model: Pipeline, rows: pd.DataFrame, lags: int) -> np.ndarray:
    """Return the model's forecast of tomorrow's ``temp_max`` for each row of a design."""
    return model.predict(rows[feature_names(lags)].to_numpy())


def model_id(model: Pipeline) -> str:
    """Return the model's id: ``ridge-`` and a digest of its fitted numbers (same fit, same id)."""
    scaler, ridge = model.named_steps["standardscaler"], model.named_steps["ridge"]
    digest = hashlib.sha256()
    for part in (scaler.mean_, scaler.scale_, ridge.coef_, np.atleast_1d(ridge.intercept_)):
        digest.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return f"ridge-{digest.hexdigest()[:12]}"


def train(frame: pd.DataFrame, lags: int, alpha: float) -> tuple[Pipeline, dict[str, Any]]:
    """Fit the model on every complete day of ``frame``; return it and its description.

    The description is the ``model`` record: id, features, rows, in-sample MAE, settings.
    """
    rows = complete(design(frame, lags))
    model = fit(rows, lags, alpha)
    mae = float(np.mean(np.abs(predict(model, rows, lags) - rows["target"].to_numpy())))
    info = {
        "id": model_id(model),
        "features": feature_names(lags),
        "lags": lags,
        "alpha": alpha,
        "train_rows": len(rows),
        "first": rows["date"].iloc[0].isoformat(),
        "last": rows["date"].iloc[-1].isoformat(),
        "mae_in_sample": round(mae, 4),
    }
    return model, info


def save(model: Pipeline, info: dict[str, Any], folder: Path) -> None:
    """Write the model and its description to ``folder``, both at once."""
    with atomic.replacing(folder) as version:
        joblib.dump(model, File.MODEL.of(version))
        File.MODEL_INFO.of(version).write_text(json.dumps(info, indent=2) + "\n")


def load(folder: Path, expected_id: str | None = None) -> tuple[Pipeline, dict[str, Any]]:
    """Return the model saved in ``folder`` and its description.

    Raises:
        MissingInputError: no model there, or not the one ``expected_id`` names.
    """
    if not File.MODEL_INFO.of(folder).exists():
        raise MissingInputError(f"no model at {folder}: run 10-train for this date first")
    info = json.loads(File.MODEL_INFO.of(folder).read_text())
    if expected_id not in (None, "latest", info["id"]):
        raise MissingInputError(
            f"{folder} holds model {info['id']}, not {expected_id} that train recorded in this "
            "run: another train ran for this date since; run 10-train and what follows again"
        )
    return joblib.load(File.MODEL.of(folder)), info


def forecast(model: Pipeline, frame: pd.DataFrame, lags: int) -> tuple[dt.date, float]:
    """Return the date after ``frame``'s last day and the model's ``temp_max`` for it."""
    last = design(frame, lags).iloc[[-1]]
    return last["date"].iloc[0] + dt.timedelta(days=1), float(predict(model, last, lags)[0])
