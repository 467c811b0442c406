"""Every pipeline of the project as an Airflow DAG: one per folder of ``pipelines/``.

Each ``pipelines/<name>/pipeline.py`` declares its stage table, schedule and
timezone; :func:`stagebook.orchestration.factory.pipeline_dags` builds the DAGs.
A pipeline that cannot be built is an import error of this file naming its
folder and the mistake (``stagebook check`` shows it before a commit).
"""

from stagebook.orchestration.factory import pipeline_dags

globals().update(pipeline_dags())
