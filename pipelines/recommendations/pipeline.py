"""The nightly recommendation pipeline: one stage notebook per task.

# recommendation_pipeline

Each task runs one stage notebook through papermill; every executed notebook
is archived, with its HTML rendering, under
`reports/recommendation_pipeline/<ds>/<phase>/<run>/<NN-stage>.try<N>.ipynb`.

```
input_tables ─► select_phase ─┬─► prod.features ─► prod.train ─► prod.inference ─► prod.validate ─► prod.approve ─► prod.publish ─┬─► run_summary
                              └─► beta.features ─► beta.train ─► beta.inference ─► beta.validate ─► beta.approve ─► beta.publish ─┘
```

Every task notifies on success, failure and retry (`notifications:` in params
chooses events and channels); `run_summary` (trigger rule `all_done`) sends one
summary per run and fails when a stage failed.

- `<phase>.approve` waits for a reviewer (Required actions in the UI) only when
  validation breached soft limits alone (`validation.soft`); Reject, or no answer
  within `validation.approval_timeout_s`, skips `<phase>.publish`.
- Assets: `input_tables` updates `stagebook://tables`, `<phase>.train`
  `stagebook://models/<phase>`, `<phase>.publish` `stagebook://recommendations/<phase>`;
  each event's extra holds its lineage (`stagebook lineage --ds D --phase P`).

- Runs daily at 10:00 Asia/Tokyo for the previous day (data-interval semantics):
  the run at 2019-11-21 10:00 JST processes the business date 2019-11-20.
- Publishes by 11:00 Asia/Tokyo on the day after ds: a phase that has not
  published by then is notified once, with what it still waits for (a deadline
  alert, evaluated by the served scheduler).
- Run conf: `{"phases": ["beta"], "overrides": {"train.epochs": 2}, "ds": "2019-11-20"}`,
  all optional. Phases default to `pipeline.phases` in `params/common.yaml`.
- Parameters come from `params/common.yaml` merged with `params/<phase>.yaml`
  (this pipeline's folder, `pipelines/recommendations/`).
"""

from __future__ import annotations

from stagebook.declaration import Gate, Metric, Pipeline, Stage

# The stage table: each notebook, what it records, what it pulls, which connections it may use.
INPUT_TABLES = Stage(
    "input_tables",
    "00-input-tables",
    records=("table_rows", "raw_partitions"),
    connections=("tables.spark_conn_id",),  # used when tables.engine is spark
    figure=("events", "table_rows.events"),
    outlet="stagebook://tables",
    lineage=("table_rows", "raw_partitions"),
    trends=(
        Metric("events in the window", "table_rows.events"),
        Metric("users", "table_rows.users"),
        Metric("items", "table_rows.items"),
    ),
    summary=(
        ("events in the window", "table_rows.events"),
        ("users", "table_rows.users"),
        ("items", "table_rows.items"),
    ),
)
VALIDATE = Stage(
    "validate",
    "40-validate",
    records=("validation", "checks", "approved_digest", "soft_breaches"),
    pulls={"model_signature": "train"},
    figure=("KL", "validation.kl_divergence"),
    trends=(
        Metric("KL divergence", "validation.kl_divergence", ("validation.max_kl", "max")),
        Metric("JS distance", "validation.js_distance", ("validation.max_js", "max")),
        Metric(
            "user coverage", "validation.user_coverage", ("validation.min_user_coverage", "min")
        ),
        Metric(
            "catalogue coverage",
            "validation.catalogue_coverage",
            ("validation.min_catalogue_coverage", "min"),
        ),
        Metric("score mean", "validation.score_mean"),
    ),
    summary=(
        ("KL divergence", "validation.kl_divergence"),
        ("JS distance", "validation.js_distance"),
        ("user coverage", "validation.user_coverage"),
        ("catalogue coverage", "validation.catalogue_coverage"),
        ("score mean", "validation.score_mean"),
    ),
)
PHASE_STAGES = (
    Stage(
        "features",
        "10-features",
        records=("vocabulary_sizes",),
        figure=("items", "vocabulary_sizes.item_id"),
        summary=(("items", "vocabulary_sizes.item_id"), ("users", "vocabulary_sizes.user_id")),
    ),
    Stage(
        "train",
        "20-train",
        records=("losses", "metrics", "model_signature", "data_window"),
        figure=("test AUC", "metrics.test_auc"),
        outlet="stagebook://models/{phase}",
        lineage=("model_signature", "data_window", "metrics"),
        trends=(
            Metric("test AUC", "metrics.test_auc"),
            Metric("test logloss", "metrics.test_logloss"),
            Metric("base-rate logloss", "metrics.base_rate_logloss"),
            Metric("epochs", "metrics.epochs"),
            Metric("learning rate", "metrics.learning_rate"),
            Metric("train tries", "tries"),
        ),
        summary=(  # the losses per epoch are the report's plot
            ("test AUC", "metrics.test_auc"),
            ("test logloss", "metrics.test_logloss"),
            ("base-rate logloss", "metrics.base_rate_logloss"),
            ("epochs", "metrics.epochs"),
            ("learning rate", "metrics.learning_rate"),
            ("model", "model_signature"),
        ),
    ),
    Stage(
        "inference",
        "30-inference",
        records=("model_signature", "inference"),
        pulls={"model_signature": "train"},
        figure=("users", "inference.users"),
        summary=(
            ("users", "inference.users"),
            ("items", "inference.items"),
            ("rows", "inference.rows"),
            ("score mean", "inference.score_mean"),
        ),
    ),
    VALIDATE,
    Gate(
        "approve",
        checks=VALIDATE,
        timeout="validation.approval_timeout_s",
        approvers="validation.approvers",
        subject="Publish the {phase} recommendations of {ds}?",
        what="these recommendations",
    ),
    Stage(
        "publish",
        "50-publish",
        records=("published", "model_signature", "published_digest", "sinks"),
        pulls={"approval": "approve"},
        optional=("approval",),  # a re-run of publish alone: the gate did not run
        connections=("publish.redis_conn_id",),
        figure=("published", "published.0.records"),
        outlet="stagebook://recommendations/{phase}",
        lineage=("model_signature", "published_digest", "sinks", "approval"),
        trends=(Metric("published records", "published.0.records"),),
        summary=(
            ("published records", "published.0.records"),
            ("sink", "published.0.sink"),
            ("model", "model_signature"),
        ),
    ),
)

PIPELINE = Pipeline(
    dag_id="recommendation_pipeline",
    schedule="0 10 * * *",
    timezone="Asia/Tokyo",
    start="2019-11-01",
    stages=(INPUT_TABLES,),
    phase_stages=PHASE_STAGES,
    # Someone depends on the recommendations of ds by this time (the scheduler checks it).
    publish_by=("11:00", 1),
    tags=("recommendation", "ffm"),
)
