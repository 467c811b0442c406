"""The one DAG factory: a pipeline's declaration in, its Airflow DAG out.

```
<stages, phase "common"> ─► select_phase ─┬─► <phase>.<phase stage> ─► ... ─┬─► run_summary
                                          └─► <phase>.<phase stage> ─► ... ─┘
```

Without ``phase_stages`` there is no branch: the common stages, then the run
summary. Reading the params files here (a few kB of YAML) makes a malformed
``common.yaml`` an import error that names the file and the key, before any run
starts; a malformed phase file must not take the other phases down: its tasks
are built from ``common.yaml`` and fail at once, naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, BaseOperator, CronDataIntervalTimetable, TaskGroup, chain

from stagebook import params, pipelines, settings
from stagebook.declaration import Gate, Pipeline, Stage
from stagebook.errors import ParamsError, PipelineError
from stagebook.orchestration.execution.operators import (
    RunSummaryOperator,
    SelectPhaseOperator,
    StageNotebookOperator,
)
from stagebook.orchestration.notifying import callbacks


def _value(merged: params.Params, key: str, task: str) -> Any:
    """Return the params value a declaration names, or a one-line error naming both."""
    try:
        return params.value(merged, key)
    except ParamsError:
        pipeline = settings.pipeline_name()
        raise PipelineError(
            f"{pipelines.folder(pipeline) / settings.DECLARATION}: task {task!r} names params key "
            f"{key!r}, which {settings.params_dir(pipeline)}/common.yaml does not have"
        ) from None


def stage_task(stage: Stage, phase: str, merged: params.Params, **kwargs: Any) -> BaseOperator:
    """Return the task of ``stage`` for ``phase``, with its retries and connection ids from ``merged``."""
    group = "" if phase == "common" else f"{phase}."
    kwargs.setdefault("retries", merged.pipeline.retries)
    kwargs.setdefault("retry_delay", dt.timedelta(seconds=merged.pipeline.retry_delay_s))
    if stage.task in merged.pipeline.queues:  # else Airflow's [operators] default_queue
        kwargs.setdefault("queue", merged.pipeline.queues[stage.task])
    return StageNotebookOperator(
        task_id=stage.task,
        stage=stage.notebook,
        phase=phase,
        records=stage.records,
        pull={name: f"{group}{task}" for name, task in stage.pulls.items()},
        connections=[_value(merged, key, stage.task) for key in stage.connections],
        figure=stage.figure,
        optional=stage.optional,
        outlets=[Asset(stage.outlet.format(phase=phase))] if stage.outlet else [],
        lineage=stage.lineage,
        trends=stage.trends,
        summary=stage.summary,
        **kwargs,
    )


def gate_task(gate: Gate, phase: str, merged: params.Params) -> BaseOperator:
    """Return the approval task of ``gate`` for ``phase``."""
    from stagebook.orchestration.approving.approval import ApprovalGate

    group = "" if phase == "common" else f"{phase}."
    return ApprovalGate(
        task_id=gate.task,
        phase=phase,
        checks_task=f"{group}{gate.checks.task}",
        checks_stage=gate.checks.notebook,
        timeout_s=_value(merged, gate.timeout, gate.task),
        timeout_key=gate.timeout,
        # fixed when the DAG is parsed, from the params files: a run's conf cannot change them
        assigned_users=[
            {"id": str(name), "name": str(name)}
            for name in (_value(merged, gate.approvers, gate.task) if gate.approvers else ())
        ]
        or None,
        **{k: v for k, v in (("subject", gate.subject), ("what", gate.what)) if v},
    )


def tasks_of(
    stages: Sequence[Stage | Gate], phase: str, merged: params.Params
) -> list[BaseOperator]:
    """Return the tasks of ``stages`` for ``phase``, chained one after the other."""
    tasks = [
        gate_task(s, phase, merged) if isinstance(s, Gate) else stage_task(s, phase, merged)
        for s in stages
    ]
    chain(*tasks)
    return tasks


def _dag(pipeline: Pipeline, common: params.Params) -> DAG:
    from stagebook.orchestration.notifying.deadline import publish_by

    deadline = None
    if pipeline.publish_by:
        time, days = pipeline.publish_by
        deadline = publish_by(time, timezone=pipeline.timezone, days_after_ds=days)
    schedule = pipeline.schedule and CronDataIntervalTimetable(
        pipeline.schedule, timezone=pipeline.timezone
    )
    return DAG(
        dag_id=pipeline.id,
        # dags/pipelines.py puts each DAG in its globals; one left half-built by a
        # mistake must not register itself beside the stand-in of its pipeline
        auto_register=False,
        doc_md=pipeline.description,
        schedule=schedule or None,
        start_date=pendulum.parse(pipeline.start, tz=pipeline.timezone),
        catchup=False,
        max_active_runs=pipeline.max_active_runs,
        dagrun_timeout=dt.timedelta(hours=pipeline.run_timeout_h),
        deadline=deadline,
        # Plain functions: notifier objects fail as DAG callbacks inside dag.test(). DAG
        # callbacks are best effort in Airflow, so run_summary also reports every run.
        on_success_callback=callbacks.on_dag_success,
        on_failure_callback=callbacks.on_dag_failure,
        tags=list(dict.fromkeys(["stagebook", *pipeline.tags])),
        default_args={
            "owner": "stagebook",
            "retries": common.pipeline.retries,
            "retry_delay": dt.timedelta(seconds=common.pipeline.retry_delay_s),
            **callbacks.task_callbacks(),  # success, failure, retry; each switchable in params
        },
    )


def pipeline_dag(pipeline: Pipeline) -> DAG:
    """Return the DAG of ``pipeline``: its stages, its phases' branch, its run summary."""
    folder = settings.params_dir(pipeline.name)
    with settings.using(pipeline.name):
        common = params.load(folder=folder)
        phases = params.known_phases(folder)
        if pipeline.phase_stages and not phases:
            raise PipelineError(
                f"{pipeline.folder}: declares phase_stages but {folder} has no phase file; "
                "add params/<phase>.yaml, or move the stages into stages"
            )
        with _dag(pipeline, common) as dag:
            last = tasks_of(pipeline.stages, "common", common)[-1]
            ends = [last]
            if pipeline.phase_stages:
                branch = SelectPhaseOperator(
                    task_id="select_phase", first_task=pipeline.phase_stages[0].task
                )
                last >> branch
                ends = []
                for phase in phases:
                    with TaskGroup(group_id=phase):
                        merged = params.load_or_common(phase, folder)
                        tasks = tasks_of(pipeline.phase_stages, phase, merged)
                    branch >> tasks[0]
                    ends.append(tasks[-1])
            ends >> RunSummaryOperator(task_id="run_summary")
    return dag


BROKEN = "broken"  # the tag of a stand-in; its description is the problem


def stand_in_dag(dag_id: str, problem: str) -> DAG:
    """Return the DAG that stands in for a pipeline that cannot be built: never scheduled.

    Its page says what is wrong, in one line, and its only task fails with it, so
    that the pipeline is seen broken in the UI while the others run on.
    """
    from airflow.sdk import task

    with DAG(
        dag_id=dag_id,
        description=problem,
        doc_md=f"**This pipeline cannot be built:** {problem}\n\n"
        "Fix it (`stagebook check` names the problem); the other pipelines run on.",
        schedule=None,
        start_date=pendulum.datetime(2019, 1, 1, tz="UTC"),
        catchup=False,
        tags=["stagebook", BROKEN],
        auto_register=False,
    ) as dag:

        @task(task_id="cannot_be_built", retries=0)
        def cannot_be_built() -> None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(problem)

        cannot_be_built()
    return dag


def pipeline_dags() -> dict[str, DAG]:
    """Return the DAG of every pipeline of the project, by DAG id (what ``dags/`` loads).

    One pipeline that cannot be built does not take the others down (Airflow
    would mark every DAG of the loader's file stale): a stand-in of its folder's
    name (:func:`stand_in_dag`) shows its problem; ``stagebook check`` and
    ``stagebook run`` refuse it in one line.
    """
    dags = {}
    for folder, found in pipelines.survey():
        if isinstance(found, PipelineError):
            dag = stand_in_dag(folder.name, str(found))
        else:
            try:
                dag = pipeline_dag(found)
            except Exception as exc:  # its params, phases or schedule: named, never a traceback
                problem = " ".join(str(exc).split()) or type(exc).__name__
                named = problem if str(found.folder) in problem else f"{found.folder}: {problem}"
                dag = stand_in_dag(found.id, named)
        dags.setdefault(dag.dag_id, dag)
    return dags
