"""What Airflow imports: operators, notifications, the run summary and the CLI.

Kept light: a DAG file imports :mod:`stagebook.orchestration.operators` and
:mod:`stagebook.orchestration.callbacks` at parse time, so papermill, nbconvert,
pandas and the channels' providers are imported only when a task runs.
"""
