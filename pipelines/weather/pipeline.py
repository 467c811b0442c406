"""The daily Seattle weather forecast: tomorrow's maximum temperature, one stage notebook per task.

# weather

Each task runs one stage notebook through papermill; every executed notebook
is archived, with its HTML rendering, under
`reports/weather/<ds>/common/<run>/<NN-stage>.try<N>.ipynb`.

```
observe ─► train ─► backtest ─► validate ─► approve ─► publish ─► run_summary
```

- Data: the daily Seattle weather 2012-01-01 .. 2015-12-31 shipped inside the
  PyPI wheel `vega-datasets==0.9.0`, replayed so that `data.anchor_date` shows
  its last day; `observe` lands the trailing `data.history_days` ending with ds.
- `train` fits a ridge regression on the last `train.lags` days (temperatures,
  precipitation) and the season; `backtest` forecasts each of the window's last
  `backtest.days` days with a model fitted before it, against persistence
  (tomorrow as warm as today).
- `validate` fails when the model does not beat persistence
  (`validation.min_skill`) or errs too much (`validation.max_mae`, °C); `approve`
  waits for a reviewer (Required actions in the UI) only when soft limits alone
  were breached (`validation.soft`); Reject, or no answer within
  `validation.approval_timeout_s`, skips `publish`.
- `publish` writes tomorrow's forecast to `outbox/ds=<ds>/` in the pipeline's data
  area, once per date, and updates the asset `stagebook://weather/forecast`.

- Runs daily at 06:00 America/Los_Angeles for the previous day (data-interval
  semantics); publishes by 08:00 the same morning, else it is notified once.
- One phase only (`common`): parameters come from `params/common.yaml` of this
  pipeline's folder, `pipelines/weather/`; a run's conf may override `data`,
  `train` and `backtest`, e.g. `{"overrides": {"backtest.days": 60}}`.
"""

from __future__ import annotations

from stagebook.declaration import Gate, Metric, Pipeline, Stage

# The stage table: each notebook, what it records, and what it pulls.
VALIDATE = Stage(
    "validate",
    "30-validate",
    records=("validation", "checks", "approved_digest", "soft_breaches"),
    pulls={"model_id": "train"},
    figure=("skill", "validation.skill"),
    trends=(
        Metric("skill against persistence", "validation.skill", ("validation.min_skill", "min")),
        Metric("backtest MAE (°C)", "validation.mae_model", ("validation.max_mae", "max")),
        Metric("forecast temp_max (°C)", "validation.forecast_temp_max"),
    ),
    summary=(
        ("skill", "validation.skill"),
        ("MAE (°C)", "validation.mae_model"),
        ("forecast (°C)", "validation.forecast_temp_max"),
    ),
)

PIPELINE = Pipeline(
    schedule="0 6 * * *",  # data intervals: the 06:00 run forecasts from the day before
    timezone="America/Los_Angeles",
    start="2015-06-01",
    tags=("weather",),
    publish_by=("08:00", 1),  # the morning after ds: the forecast of ds + 1 is read then
    stages=(
        Stage(
            "observe",
            "00-observe",
            records=("observations",),
            figure=("temp_max (°C)", "observations.last_temp_max"),
            trends=(
                Metric("temp_max on ds (°C)", "observations.last_temp_max"),
                Metric("mean temp_max of the window (°C)", "observations.mean_temp_max"),
            ),
            summary=(
                ("days", "observations.rows"),
                ("temp_max on ds (°C)", "observations.last_temp_max"),
                ("observed day", "observations.observed_last"),
            ),
        ),
        Stage(
            "train",
            "10-train",
            records=("model", "model_id"),
            figure=("in-sample MAE", "model.mae_in_sample"),
            trends=(Metric("in-sample MAE (°C)", "model.mae_in_sample"),),
            summary=(
                ("model", "model_id"),
                ("train rows", "model.train_rows"),
                ("in-sample MAE (°C)", "model.mae_in_sample"),
            ),
        ),
        Stage(
            "backtest",
            "20-backtest",
            records=("backtest",),
            pulls={"model_id": "train"},
            figure=("MAE", "backtest.mae_model"),
            trends=(
                Metric("MAE (°C)", "backtest.mae_model", ("validation.max_mae", "max")),
                Metric("persistence MAE (°C)", "backtest.mae_naive"),
                Metric("skill", "backtest.skill", ("validation.min_skill", "min")),
            ),
            summary=(
                ("MAE (°C)", "backtest.mae_model"),
                ("persistence MAE (°C)", "backtest.mae_naive"),
                ("skill", "backtest.skill"),
                ("days", "backtest.days"),
            ),
        ),
        VALIDATE,
        Gate(
            "approve",
            checks=VALIDATE,
            timeout="validation.approval_timeout_s",
            approvers="validation.approvers",
            subject="Publish the weather forecast of {ds}?",
            what="this forecast",
        ),
        Stage(
            "publish",
            "40-publish",
            records=("published", "forecast", "model_id"),
            pulls={"approval": "approve"},
            optional=("approval",),  # a re-run of publish alone: the gate did not run
            figure=("forecast (°C)", "forecast.temp_max"),
            outlet="stagebook://weather/forecast",
            lineage=("model_id", "published", "approval"),
            trends=(Metric("forecast temp_max (°C)", "forecast.temp_max"),),
            summary=(
                ("date", "forecast.date"),
                ("forecast (°C)", "forecast.temp_max"),
                ("persistence (°C)", "forecast.naive_temp_max"),
                ("digest", "published.digest"),
            ),
        ),
    ),
)
