"""Where a report is read: the Stagebook app's routes in the Airflow UI, and the "Report" link.

The app (``stagebook.orchestration.reviewing.web``) is mounted at ``/stagebook/`` on the
api-server. Inside the UI a link is relative (same-origin); in a message it is
absolute, built from Airflow's ``[api] base_url``; without one, a message links
the archived file itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink

from stagebook import reports

PREFIX = "/stagebook"


def task_route(dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
    """Return the app's page of one task instance: its latest try (or ``try_number``), and the others."""
    path = f"{PREFIX}/tasks/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/{quote(task_id, safe='')}"
    return f"{path}?try={int(try_number)}" if try_number else path


def index_route() -> str:
    """Return the app's index: a date x stage matrix per DAG and phase."""
    return f"{PREFIX}/"


def base_url() -> str | None:
    """Return Airflow's ``[api] base_url`` without its trailing slash, or None if unset."""
    from airflow.sdk import conf

    base = conf.get("api", "base_url", fallback=None)
    return base.rstrip("/") if base else None


def absolute(route: str, archived: Path | None = None) -> str | None:
    """Return the absolute URL of an app ``route`` for a message, else the archived file's URL."""
    base = base_url()
    if base:
        return f"{base}{route}"
    return reports.url(archived) if archived is not None else None


class ReportLink(BaseOperatorLink):
    """The operator extra link "Report": the try's report, inside the Airflow UI (same origin)."""

    name = "Report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        """Return the app's page of the task instance, at the try that just ran."""
        return task_route(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.try_number)
