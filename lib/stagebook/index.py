"""The archive's static index page: every archived try, newest date first.

A fallback for use without Airflow: ``/stagebook/`` in the Airflow UI is the
index proper. Built from the sidecars alone, never from a notebook.
"""

from __future__ import annotations

import html
from pathlib import Path

from stagebook import atomic, sidecars, storage


def _row(root: Path, page: Path, cells: tuple[str, ...]) -> str:
    link = html.escape(page.relative_to(root).as_posix())
    shown = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
    return f'<tr>{shown}<td><a href="{link}">{html.escape(page.name)}</a></td></tr>'


def write_index() -> Path:
    """Rewrite the static index page: every archived try, newest date first.

    A fallback for use without Airflow (``/stagebook/`` in the Airflow UI is the
    index proper). Two tasks finishing at once take turns, so neither loses the
    other's entries.
    """
    root = storage.reports_root()
    with atomic.locked(root / ".index.lock"):
        rows = []
        for dag_id, ds, phase, run, path in sorted(storage.sidecars(), reverse=True):
            info, page = sidecars.read_sidecar(path), storage.rendering(path)
            if info is not None and page.exists():
                task, state = info.get("task_id", ""), info.get("state", "")
                rows.append(_row(root, page, (dag_id, ds, phase, run, task, state)))
        for page in sorted(root.glob(f"*/*/*/*.try*{storage.HTML}"), reverse=True):
            # archived before each run had its own folder
            rows.append(_row(root, page, (*page.relative_to(root).parts[:3], "", "", "")))
        page = (
            "<!doctype html><meta charset='utf-8'><title>Stagebook reports</title>"
            "<h1>Stagebook reports</h1><table><tr><th>DAG</th><th>date</th><th>phase</th>"
            "<th>run</th><th>task</th><th>state</th><th>report</th></tr>"
            + "\n".join(rows)
            + "</table>\n"
        )
        return atomic.write_text(storage.index_page(), page)
