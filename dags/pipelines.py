"""Every pipeline of the project as an Airflow DAG: one per folder of ``pipelines/``.

Each ``pipelines/<name>/pipeline.py`` declares its stage table, schedule and
timezone; :func:`stagebook.orchestration.factory.pipeline_dags` builds the DAGs.
A pipeline that cannot be built does not take the others down: a stand-in DAG of
its folder's name, tagged ``broken`` and never scheduled, says why in one line
(``stagebook check`` shows it before a commit).
"""

from stagebook.orchestration.factory import pipeline_dags

globals().update(pipeline_dags())
