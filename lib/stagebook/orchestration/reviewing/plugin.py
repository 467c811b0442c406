"""The Airflow plugin of Stagebook: the app at ``/stagebook/``, its views, the "Report" link, deadlines.

A project's ``plugins/stagebook_plugin.py`` (``stagebook new`` writes it) imports it for Airflow.
"""

from airflow.plugins_manager import AirflowPlugin

from stagebook.orchestration.notifying.deadline import PublishBy
from stagebook.orchestration.reviewing import lazy
from stagebook.orchestration.reviewing.links import PREFIX, ReportLink


class StagebookPlugin(AirflowPlugin):
    """The reports of every stage, where reviewers work: inside the Airflow UI."""

    name = "stagebook"
    operator_extra_links = [ReportLink()]
    deadline_references = [PublishBy]  # a pipeline's "publish by" deadline, read by the scheduler
    fastapi_apps = [lazy.app_spec()]  # built on its first request: most processes serve none
    external_views = [
        {
            "name": "Stagebook",
            "href": f"{PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "stagebook",
        },
        {
            "name": "Trends",
            "href": f"{PREFIX}/trends/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "stagebook-trends",
        },
        {
            "name": "Report",
            "href": f"{PREFIX}/tasks/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}",
            "destination": "task_instance",
            "url_route": "stagebook-report",
        },
    ]
