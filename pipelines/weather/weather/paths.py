"""The weather pipeline's datasets: declared here, built by :mod:`stagebook.storage`.

Under the pipeline's data area (:attr:`stagebook.storage.Paths.data`), one folder
per date, each written whole (:func:`stagebook.atomic.replacing`) or file by file
(:mod:`stagebook.atomic`):

```
observations/ds=YYYY-MM-DD/observations.parquet   the trailing window ending with ds
models/ds=YYYY-MM-DD/model.joblib, model.json      the model fitted on that window
backtest/ds=YYYY-MM-DD/errors.parquet, backtest.json
validated/ds=YYYY-MM-DD/approved.json              the digest of the forecast that passed
outbox/ds=YYYY-MM-DD/forecast.jsonl, meta.json     published once, never replaced
```

A stage gets these as ``ctx.paths``: :meth:`WeatherParams.paths
<weather.params.WeatherParams.paths>` returns a :class:`WeatherPaths`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from stagebook import storage


class File(storage.File):
    """A file of one of the pipeline's folders, by its fixed name: ``File.MODEL.of(folder)``."""

    OBSERVATIONS = "observations.parquet"
    MODEL = "model.joblib"  # of a models folder, and below
    MODEL_INFO = "model.json"
    ERRORS = "errors.parquet"  # of a backtest folder, and below
    BACKTEST = "backtest.json"
    APPROVAL = "approved.json"  # of a validated folder
    FORECAST = "forecast.jsonl"  # of an outbox date folder, and below
    META = "meta.json"


class WeatherPaths(storage.Paths):
    """The weather pipeline's paths of one date (its one phase is ``common``)."""

    @property
    def observations(self) -> Path:
        """Return the observations of the window that ends with ds."""
        return File.OBSERVATIONS.of(self.dated("observations"))

    @property
    def model(self) -> Path:
        """Return the folder of the model fitted for ds."""
        return self.dated("models")

    @property
    def backtest(self) -> Path:
        """Return the folder of the backtest of ds: its errors by day and its summary."""
        return self.dated("backtest")

    @property
    def validated(self) -> Path:
        """Return what validation passed for ds: kept apart from what it checks."""
        return self.dated("validated")

    @property
    def outbox(self) -> Path:
        """Return the outbox folder of ds: the published forecast and its metadata."""
        return self.dated("outbox")


def paths(ds: dt.date, phase: str, home: Path | None = None) -> WeatherPaths:
    """Return the pipeline's paths for ``ds`` and ``phase`` (``home``: default the archive's).

    Built from the framework's :func:`stagebook.storage.paths`, every field copied,
    so the data area is the one the framework chooses for the current pipeline.
    """
    base = storage.paths(ds, phase, home)
    return WeatherPaths(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
