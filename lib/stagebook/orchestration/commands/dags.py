"""The DAGs of the project's dags folder, as the CLI loads them."""

from __future__ import annotations

from typing import Any

from stagebook import pipelines, settings
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import environment


def dag_ids() -> list[str]:
    """Return the ids of the DAGs in the dags folder."""
    environment.apply_airflow_environ()
    from airflow.dag_processing.dagbag import DagBag

    return sorted(DagBag(dag_folder=str(settings.dags_dir())).dags)


def load_dag(name: str | None = None) -> Any:
    """Return the DAG of pipeline ``name`` (its folder's name or its DAG id), made current.

    ``name`` None: the project's only pipeline. Another DAG of the dags folder (an
    example consumer) is found by its id too.
    """
    environment.apply_airflow_environ()
    from airflow.dag_processing.dagbag import DagBag

    from stagebook.orchestration.factory import BROKEN

    bag = DagBag(dag_folder=str(settings.dags_dir()))
    if bag.import_errors:  # the last line of each: the error itself, not Airflow's traceback
        raise PipelineError(
            "; ".join(
                f"{path}: DAG import error: {error.strip().splitlines()[-1]}"
                for path, error in sorted(bag.import_errors.items())
            )
        )
    if name in bag.dags and pipelines.enter(name) is None:
        return bag.dags[name]
    pipeline = pipelines.get(name)
    if pipeline.id not in bag.dags:
        raise PipelineError(
            f"{settings.dags_dir()}: no DAG {pipeline.id!r} of pipeline {pipeline.name}: "
            "its files must call stagebook.orchestration.factory.pipeline_dags()"
        )
    dag = bag.dags[pipeline.id]
    if BROKEN in dag.tags:  # a stand-in: the pipeline could not be built
        raise PipelineError(dag.description)
    pipelines.enter(pipeline.id)
    return dag
