"""Archived tries made by hand, as the operator leaves them: notebook, HTML and sidecar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import nbformat

from stagebook import reports, sidecars, storage

DAG = "dag_a"


def archived_try(
    home: Path,
    *,
    dag_id: str = DAG,
    ds: str = "2019-11-20",
    phase: str = "prod",
    run_id: str = "scheduled__2019-11-21T01:00:00+00:00",
    stage: str = "20-train",
    number: int = 1,
    state: str = "success",
    started: str = "2019-11-21T01:00:00+00:00",
    figure: dict[str, Any] | None = None,
    markdown: str = "# Loss per epoch",
    records: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    duration_s: float | None = None,
) -> Path:
    """Write one try's notebook (rendered unless running) and its sidecar; return the notebook."""
    notebook = storage.report_path(
        dag_id, dt.date.fromisoformat(ds), phase, run_id, stage, number, home
    )
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)]
    nbformat.write(nb, notebook)
    if state != "running":
        reports.render_html(notebook)
    task = stage.split("-", 1)[1].replace("-", "_")
    sidecars.write_sidecar(
        notebook,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task if phase == "common" else f"{phase}.{task}",
        stage=stage,
        phase=phase,
        ds=ds,
        try_number=number,
        state=state,
        started=started,
        figure=figure,
        records=records or {},
        duration_s=duration_s,
        parameters={
            "ds": ds,
            "phase": phase,
            "run_id": run_id,
            "try_number": number,
            "overrides": overrides or {},
        },
    )
    return notebook


def app_client(readable: set[str] | None = None):
    """The Stagebook app under FastAPI's TestClient, Airflow's auth replaced by ``readable`` DAGs.

    The real auth is tested against a real api-server (``tests/served``).
    """
    from fastapi.testclient import TestClient

    from stagebook.orchestration.reviewing import web

    app = web.create_app()
    app.dependency_overrides[web.AUTHENTICATED] = lambda: None
    app.dependency_overrides[web.READS_DAG] = lambda: None
    app.dependency_overrides[web.readable_dags] = lambda: readable or {DAG}
    return TestClient(app, root_path="/stagebook")
