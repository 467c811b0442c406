"""Executed notebooks as reports: HTML rendering, links, and the archive's index page."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from stagebook import atomic, settings, storage

# Every script or style the template would fetch (require.js, MathJax, mermaid, widgets
# from a CDN): an empty data URL instead, so a report loads nothing from the network.
OFFLINE = {
    name: "data:,"
    for name in (
        "require_js_url",
        "mathjax_url",
        "jquery_url",
        "widget_renderer_url",
        "jupyter_widgets_base_url",
        "mermaid_js_url",
        "mermaid_layout_elk_js_url",
    )
}


def render_html(notebook: Path) -> Path:
    """Render an executed notebook to sanitized HTML beside it (``.ipynb`` -> ``.html``), atomically.

    Outputs are sanitized (no script, no event handler in an output's HTML), and
    the page loads nothing from a CDN.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    exporter = HTMLExporter(template_name="lab", sanitize_html=True, **OFFLINE)
    body, _ = exporter.from_notebook_node(nb)
    return atomic.write_text(storage.rendering(notebook), body)


def url(path: Path) -> str:
    """Return the link to an archived file: under ``$STAGEBOOK_REPORTS_URL`` if set, else file://."""
    base = os.environ.get("STAGEBOOK_REPORTS_URL")
    if base:
        return f"{base.rstrip('/')}/{path.resolve().relative_to(settings.home()).as_posix()}"
    return path.resolve().as_uri()


def write_index() -> Path:
    """Rewrite the index page: every archived report, newest date first."""
    root = storage.reports_root()
    rows = []
    for dag_id, ds, phase, page in sorted(
        storage.renderings(), key=lambda r: (r[1], r[0], r[2], r[3].name), reverse=True
    ):
        rel = page.relative_to(root).as_posix()
        rows.append(
            f"<tr><td>{html.escape(dag_id)}</td><td>{html.escape(ds)}</td>"
            f"<td>{html.escape(phase)}</td>"
            f'<td><a href="{html.escape(rel)}">{html.escape(page.name)}</a></td></tr>'
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Stagebook reports</title>"
        "<h1>Stagebook reports</h1><table><tr><th>DAG</th><th>date</th><th>phase</th><th>report</th></tr>"
        + "\n".join(rows)
        + "</table>\n"
    )
    return atomic.write_text(storage.index_page(), page)


def error_of(notebook: Path) -> str:
    """Return the error an archived notebook ended with, or that it finished without one."""
    for cell in json.loads(notebook.read_text()).get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output['ename']}: {output['evalue']}"
    return "finished without an error"


def last_started_cell(notebook: Path) -> int | None:
    """Return the number (from 1, as Jupyter shows it) of the last cell papermill started."""
    cells = json.loads(notebook.read_text()).get("cells", [])
    started = [
        n
        for n, c in enumerate(cells, 1)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def earlier_tries(notebook: Path | None, try_number: int) -> list[dict[str, object]]:
    """Return try number, path and error of each earlier try of the archived ``notebook``.

    ``notebook`` is this try's archive path (``StageContext.report``; None when
    run by hand, which has no earlier tries). A try whose notebook is missing says so.
    """
    if notebook is None:
        return []
    stage = storage.parse_try(notebook.name)[0]
    archived = dict(storage.tries(notebook.parent, stage, storage.NOTEBOOK))
    found = []
    for number in range(1, try_number):
        path = archived.get(number)
        error = error_of(path) if path else "no archived notebook"
        found.append({"try": number, "notebook": str(path) if path else None, "error": error})
    return found
