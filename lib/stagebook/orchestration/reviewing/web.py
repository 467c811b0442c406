"""The Stagebook app inside the Airflow UI, mounted at ``/stagebook/`` by the plugin.

Routes (every one needs an authenticated Airflow user; those naming a DAG need
read access to it, and the index lists only the DAGs the user may read):

- ``/`` the index: a date x stage matrix per DAG and phase, the latest run of each
  date, with each try's state, tries and key figure, and links to earlier runs;
- ``/days/{dag_id}/{ds}`` every run of one date;
- ``/reports/{dag_id}/{ds}/{phase}/{run}/{stage}/{try}`` the sanitized report of one
  try (a running try shows the notebook so far), served sandboxed, scripts blocked;
- ``/tasks/{dag_id}/{run_id}/{task_id}`` the "Report" tab of a task instance: its
  latest try (or ``?try=N``) and links to the others;
- ``/trends/{dag_id}`` each stage's declared metrics and its duration by date, prod
  and beta on the same axes, for the last ``?days=`` dates (default 90), the dates a
  stage's code changed marked and listed; also the DAG's "Trends" tab;
- ``/compare?dag_id=…&a=<run>&b=<run>`` two runs, stage by stage: whether its code
  changed (and the diff of its code cells), the injected parameters and merged
  params that differ, the metric deltas, both reports side by side. Without ``a``, ``b`` is compared with the previous date's latest run;
  without either, the latest date with the one before.

An unknown name gets a 404 page that says what is unknown and links to the index.

This module makes the app; its pages are in :mod:`~stagebook.orchestration.reviewing.web_reports`
(the index, days, reports and tasks) and :mod:`~stagebook.orchestration.reviewing.web_trends`
(trends and compare), one router each, and what they share (frame, headers, links, access
dependencies) is in :mod:`~stagebook.orchestration.reviewing.web_page`.
"""

from __future__ import annotations

import html

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from stagebook.orchestration.reviewing import review, web_page, web_reports, web_trends
from stagebook.orchestration.reviewing.web_page import AUTHENTICATED, READS_DAG, readable_dags

# Tests and benchmarks override these dependencies on the app made here.
__all__ = ["AUTHENTICATED", "READS_DAG", "create_app", "readable_dags"]


async def unknown(request: Request, exc: Exception) -> HTMLResponse:
    """Return the 404 page: what is unknown (a :class:`review.Unknown`), a link to the index."""
    root = web_page.root(request)
    body = f"<p>{html.escape(str(exc))}.</p><p>{web_page.link(root, 'Back to the index')}</p>"
    return web_page.page("Not found", body, 404, root)


def anything_else(path: str) -> HTMLResponse:
    """Answer any path no page matched with the 404 page."""
    raise review.Unknown(f"unknown page {'/' + path!r}")


def create_app() -> FastAPI:
    """Return the app; Airflow mounts it at ``/stagebook``."""
    app = FastAPI(
        title="Stagebook",
        dependencies=[Depends(AUTHENTICATED)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_exception_handler(review.Unknown, unknown)
    app.include_router(web_reports.router)
    app.include_router(web_trends.router)
    app.add_api_route("/{path:path}", anything_else, methods=["GET"])  # last: after every page
    return app
