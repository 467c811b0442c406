"""The nightly recommendation pipeline: one stage notebook per task.

# recommendation_pipeline

Each task runs one stage notebook through
papermill; every executed notebook is archived, with its HTML rendering, under
`reports/recommendation_pipeline/<ds>/<phase>/<NN-stage>.try<N>.ipynb`.

```
input_tables ─► select_phase ─┬─► prod.features ─► prod.train ─► prod.inference ─► prod.validate ─► prod.publish ─┬─► run_summary
                              └─► beta.features ─► beta.train ─► beta.inference ─► beta.validate ─► beta.publish ─┘
```

Every task notifies on success, failure and retry (`notifications:` in params
chooses events and channels); `run_summary` (trigger rule `all_done`) sends one
summary per run and fails when a stage failed.

- Runs daily at 10:00 Asia/Tokyo for the previous day (data-interval semantics):
  the run at 2019-11-21 10:00 JST processes the business date 2019-11-20.
- Run conf: `{"phases": ["beta"], "overrides": {"train.epochs": 2}, "ds": "2019-11-20"}`,
  all optional. Phases default to `pipeline.phases` in `params/common.yaml`.
- Parameters come from `params/common.yaml` merged with `params/<phase>.yaml`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup

from stagebook import notify, params, settings
from stagebook.notify import RunSummaryOperator
from stagebook.operators import SelectPhaseOperator, StageNotebookOperator

TIMEZONE = "Asia/Tokyo"
SCHEDULE = CronDataIntervalTimetable("0 10 * * *", timezone=TIMEZONE)
START = pendulum.datetime(2019, 11, 1, tz=TIMEZONE)
PHASE_STAGES = (
    ("features", "10-features"),
    ("train", "20-train"),
    ("inference", "30-inference"),
    ("validate", "40-validate"),
    ("publish", "50-publish"),
)
SIGNATURE_USERS = {"inference", "validate"}  # publish reads it from the recommendations

# Reading the params files here (a few kB of YAML) makes a malformed file an
# import error that names the file and the key, before any run starts.
PHASES = params.known_phases()
PIPELINE = params.load().pipeline
PHASE_PARAMS = {phase: params.load(phase) for phase in PHASES}


with DAG(
    dag_id=settings.DAG_ID,
    doc_md=__doc__,
    schedule=SCHEDULE,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    # Plain functions: notifier objects fail as DAG callbacks inside dag.test(). DAG
    # callbacks are best effort in Airflow, so run_summary also reports every run.
    on_success_callback=notify.on_dag_success,
    on_failure_callback=notify.on_dag_failure,
    tags=["stagebook", "recommendation", "ffm"],
    default_args={
        "owner": "stagebook",
        "retries": PIPELINE.retries,
        "retry_delay": timedelta(seconds=PIPELINE.retry_delay_s),
        **notify.task_callbacks(),  # success, failure, retry; each switchable in params
    },
) as dag:
    input_tables = StageNotebookOperator(task_id="input_tables", stage="00-input-tables")
    branch = SelectPhaseOperator(task_id="select_phase")
    input_tables >> branch
    stages = [("input_tables", "common", "00-input-tables"), ("select_phase", "common", "")]
    last = []
    for phase in PHASES:
        with TaskGroup(group_id=phase):
            previous = branch
            for name, stage in PHASE_STAGES:
                current = StageNotebookOperator(
                    task_id=name,
                    stage=stage,
                    phase=phase,
                    pull={"model_signature": f"{phase}.train"} if name in SIGNATURE_USERS else None,
                    connections=[PHASE_PARAMS[phase].publish.redis_conn_id]
                    if name == "publish"
                    else (),
                )
                previous >> current
                previous = current
                stages.append((current.task_id, phase, stage))
        last.append(previous)
    last >> RunSummaryOperator(
        task_id="run_summary",
        stages=stages,
        on_success_callback=None,  # the summary is its own message
        on_failure_callback=None,
        on_retry_callback=None,
    )
