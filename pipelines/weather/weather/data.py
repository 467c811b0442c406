"""The daily Seattle weather, replayed onto calendar dates, and landed one window per date.

The observations are the 1,461 days 2012-01-01 .. 2015-12-31 of ``seattle-weather.csv``
shipped inside the PyPI wheel ``vega-datasets==0.9.0`` (read from the installed
package, never downloaded): precipitation (mm), maximum and minimum temperature
(°C), wind (m/s) and a word for the weather. As MovieLens is replayed by the
recommendations, the calendar date ``data.anchor_date`` shows the dataset's
last day, and date ``d`` the observation of ``last - (anchor - d)``.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources

import pandas as pd

from stagebook import atomic
from weather.errors import NoObservations
from weather.params import DataParams
from weather.paths import WeatherPaths

PACKAGE = "vega_datasets"
CSV = "_data/seattle-weather.csv"
MEASURES = ["precipitation", "temp_max", "temp_min", "wind"]
COLUMNS = ["date", "observed", *MEASURES, "weather"]


@functools.cache
def observations() -> pd.DataFrame:
    """Return every observation of the dataset, one row per day of its own calendar, in order.

    Raises:
        NoObservations: the ``vega_datasets`` wheel is not installed.
    """
    try:
        source = importlib.resources.files(PACKAGE).joinpath(CSV)
        handle = source.open("rb")
    except (ModuleNotFoundError, FileNotFoundError):
        raise NoObservations(
            f"the Seattle weather comes from the PyPI wheel vega-datasets==0.9.0 ({PACKAGE}/{CSV}), "
            "which is not installed: run `make setup`"
        ) from None
    with handle:
        frame = pd.read_csv(handle)
    frame["observed"] = pd.to_datetime(frame.pop("date"), format="%Y/%m/%d").dt.date
    frame = frame[["observed", *MEASURES, "weather"]].sort_values("observed", ignore_index=True)
    span = (frame["observed"].iloc[-1] - frame["observed"].iloc[0]).days + 1
    if span != len(frame) or frame[MEASURES].isna().any().any():  # lags are shifts: no gap
        raise NoObservations(f"{PACKAGE}/{CSV}: days are missing or incomplete; reinstall it")
    return frame


def first_day() -> dt.date:
    """Return the dataset's first day (2012-01-01)."""
    return observations()["observed"].iloc[0]


def last_day() -> dt.date:
    """Return the dataset's last day (2015-12-31)."""
    return observations()["observed"].iloc[-1]


def first_date(anchor: dt.date) -> dt.date:
    """Return the calendar date that shows the dataset's first day, when ``anchor`` shows its last."""
    return anchor - (last_day() - first_day())


def original(anchor: dt.date, date: dt.date) -> dt.date:
    """Return the dataset's day that calendar ``date`` shows, when ``anchor`` shows its last."""
    return last_day() - (anchor - date)


def replay(anchor: dt.date, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Return the observations calendar dates ``start`` .. ``end`` show, one row per date.

    Raises:
        NoObservations: ``end`` is after ``anchor``, or ``start`` shows a day before
            the dataset's first; one line naming the date and what to do.
    """
    if end > anchor:
        raise NoObservations(
            f"{end}: no observation after data.anchor_date {anchor} (the Seattle weather "
            f"ends {last_day()}): run a date up to {anchor}, or move data.anchor_date"
        )
    if start < first_date(anchor):
        raise NoObservations(
            f"{start}: before the Seattle weather begins (with data.anchor_date {anchor}, the "
            f"first date is {first_date(anchor)}): run a later date, or move data.anchor_date"
        )
    frame = observations()
    shift = anchor - last_day()
    picked = frame[frame["observed"].between(start - shift, end - shift)].copy()
    picked.insert(0, "date", picked["observed"] + shift)
    return picked[COLUMNS].reset_index(drop=True)


def window(params: DataParams, ds: dt.date) -> pd.DataFrame:
    """Return the observations of the ``data.history_days`` dates that end with ``ds``.

    A window reaching before the dataset is cut at its first day; ``ds`` itself
    must be observed.
    """
    start = ds - dt.timedelta(days=params.history_days - 1)
    earliest = first_date(params.anchor_date)
    return replay(params.anchor_date, max(start, earliest) if ds >= earliest else ds, ds)


def land(params: DataParams, paths: WeatherPaths) -> pd.DataFrame:
    """Write the window that ends with ``paths.ds`` to its date's folder; return it."""
    frame = window(params, paths.ds)
    atomic.write_parquet(paths.observations, frame)
    return frame


def read(paths: WeatherPaths) -> pd.DataFrame:
    """Return the window landed for ``paths.ds``.

    Raises:
        NoObservations: nothing was landed for that date, naming the file.
    """
    if not paths.observations.exists():
        raise NoObservations(
            f"{paths.ds}: no observations at {paths.observations}: run 00-observe for this date first"
        )
    return pd.read_parquet(paths.observations)


def summary(frame: pd.DataFrame) -> dict[str, object]:
    """Return the window's size, dates and mean measures (the ``observations`` record)."""
    return {
        "rows": len(frame),
        "first": frame["date"].iloc[0].isoformat(),
        "last": frame["date"].iloc[-1].isoformat(),
        "observed_last": frame["observed"].iloc[-1].isoformat(),
        "mean_temp_max": round(float(frame["temp_max"].mean()), 3),
        "mean_temp_min": round(float(frame["temp_min"].mean()), 3),
        "rain_days": int((frame["precipitation"] > 0).sum()),
        "last_temp_max": float(frame["temp_max"].iloc[-1]),
    }
