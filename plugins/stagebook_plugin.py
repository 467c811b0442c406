"""Stagebook in the Airflow UI: reports, trends, comparisons, the "Report" link, deadlines."""

from stagebook.orchestration.reviewing.plugin import StagebookPlugin

__all__ = ["StagebookPlugin"]  # Airflow loads the AirflowPlugin classes of this folder's modules
