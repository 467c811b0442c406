"""Executed notebooks as reports: HTML rendering, links, and the archive's index page."""

from __future__ import annotations

import html
import os
from pathlib import Path

from stagebook import settings, storage


def render_html(notebook: Path) -> Path:
    """Render an executed notebook to HTML beside it (``.ipynb`` -> ``.html``), atomically."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return storage.write_text(notebook.with_suffix(".html"), body)


def url(path: Path) -> str:
    """Return the link to an archived file: under ``$STAGEBOOK_REPORTS_URL`` if set, else file://."""
    base = os.environ.get("STAGEBOOK_REPORTS_URL")
    if base:
        return f"{base.rstrip('/')}/{path.resolve().relative_to(settings.home()).as_posix()}"
    return path.resolve().as_uri()


def write_index(root: Path | None = None) -> Path:
    """Rewrite ``reports/index.html``: every archived report, newest date first."""
    root = root or settings.home() / "reports"
    rows = []
    for page in sorted(
        root.glob("*/*/*/*.html"), key=lambda p: (p.parts[-3], p.parts[-4]), reverse=True
    ):
        rel = page.relative_to(root).as_posix()
        dag_id, ds, phase, name = rel.split("/")
        rows.append(
            f"<tr><td>{html.escape(dag_id)}</td><td>{ds}</td><td>{html.escape(phase)}</td>"
            f'<td><a href="{html.escape(rel)}">{html.escape(name)}</a></td></tr>'
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Stagebook reports</title>"
        "<h1>Stagebook reports</h1><table><tr><th>DAG</th><th>date</th><th>phase</th><th>report</th></tr>"
        + "\n".join(rows)
        + "</table>\n"
    )
    return storage.write_text(root / "index.html", page)


def earlier_tries(notebook: Path, try_number: int) -> list[dict[str, str]]:
    """Return try number, path and error of each earlier try of the archived ``notebook``.

    ``notebook`` is this try's archive path (``<NN-stage>.try<N>.ipynb``); the
    earlier tries lie beside it. A try whose notebook is missing says so.
    """
    import json

    stem = notebook.name.split(".try")[0]
    found = []
    for number in range(1, try_number):
        path = notebook.with_name(f"{stem}.try{number}.ipynb")
        error = "no archived notebook"
        if path.exists():
            error = "finished without an error"
            for cell in json.loads(path.read_text()).get("cells", []):
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        error = f"{output['ename']}: {output['evalue']}"
        found.append({"try": number, "notebook": str(path), "error": error})
    return found
