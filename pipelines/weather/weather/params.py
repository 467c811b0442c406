"""The params schema of the weather pipeline: ``schema:`` in ``params/common.yaml``.

Every default is in ``params/common.yaml``, with its comment; this model only
validates (types, bounds, and that the window holds the backtest and its lags).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from stagebook import limits
from stagebook.params import Params, Section
from weather import paths as datasets

MIN_TRAIN_ROWS = 60  # the fewest days a model is fitted on, in the backtest's first fold too


class DataParams(Section):
    """Which observations a date sees."""

    anchor_date: dt.date
    history_days: int = Field(ge=30, le=1461)


class TrainParams(Section):
    """The ridge regression that forecasts tomorrow's maximum temperature."""

    lags: int = Field(ge=1, le=30)
    alpha: float = Field(gt=0, le=1e6)


class BacktestParams(Section):
    """The rolling-origin backtest against persistence."""

    days: int = Field(ge=1, le=365)


class SoftLimits(limits.SoftLimits):
    """``validation.soft``: the skill and the error past which a reviewer decides (each optional)."""

    min_skill: float | None = Field(default=None, ge=-10, le=1)
    max_mae: float | None = Field(default=None, gt=0, le=50)


class ValidationParams(limits.Limits):
    """Thresholds of the gate: hard limits fail validate, soft ones wait for approval."""

    min_skill: float = Field(ge=-10, le=1)
    max_mae: float = Field(gt=0, le=50)
    soft: SoftLimits = SoftLimits()


class WeatherParams(Params):
    """All parameters of the weather pipeline (one phase: ``common``)."""

    data: DataParams
    train: TrainParams
    backtest: BacktestParams
    validation: ValidationParams

    @field_validator("backtest")
    @classmethod
    def _window_holds_the_backtest(
        cls, backtest: BacktestParams, info: ValidationInfo
    ) -> BacktestParams:
        data, train = info.data.get("data"), info.data.get("train")
        if data is None or train is None:
            return backtest  # their own errors are reported
        needed = backtest.days + train.lags + MIN_TRAIN_ROWS
        if data.history_days < needed:
            raise ValueError(
                f"days = {backtest.days} does not fit data.history_days = {data.history_days}: "
                f"with {train.lags} lags and {MIN_TRAIN_ROWS} days to fit on, the window needs "
                f"at least {needed} days; lower backtest.days or raise data.history_days"
            )
        return backtest

    def latest_complete_date(self, today: dt.date) -> dt.date:
        """Return yesterday, or ``data.anchor_date`` (the dataset's last day) if that is earlier."""
        return min(super().latest_complete_date(today), self.data.anchor_date)

    def paths(self, ds: dt.date, phase: str, home: Path | None = None) -> datasets.WeatherPaths:
        """Return the pipeline's paths for ``ds``: its datasets, by name."""
        return datasets.paths(ds, phase, home)
