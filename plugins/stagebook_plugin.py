"""Registers Stagebook's operator extra link "Report" with Airflow's UI."""

from airflow.plugins_manager import AirflowPlugin

from stagebook.orchestration.links import ReportLink


class StagebookPlugin(AirflowPlugin):
    """The "Report" link on every stage task: the HTML rendering of its archived notebook."""

    name = "stagebook"
    operator_extra_links = [ReportLink()]
