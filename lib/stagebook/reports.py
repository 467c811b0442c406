"""Executed notebooks as reports: HTML rendering, links, and the archive's index page."""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import atomic, sanitize, settings, storage

log = logging.getLogger("stagebook.reports")

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


# What a report may hold: nbconvert's sanitizer drops everything else (scripts, event
# handlers, iframes, javascript: links), and the page itself gets no <script> at all.
TAGS = frozenset(
    {
        *("a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "dl", "dd", "dt"),
        *("em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol"),
        *("p", "pre", "s", "small", "span", "strong", "sub", "summary", "sup", "ul"),
        *("table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col"),
    }
)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
# Elements whose content is code, not text: dropped whole, not left as visible text.
_CODE = re.compile(
    r"<(script|style|iframe|object|embed|noscript)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)


def _allowed(tag: str, name: str, value: str) -> bool:
    """Allow an attribute: links to the web or a page anchor, images only as ``data:image/``."""
    if name in ("class", "id", "title", "style", "align"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img":
        return name in ("alt", "width", "height") or (
            name == "src" and value.startswith("data:image/")
        )
    return tag in ("th", "td", "col") and name in ("colspan", "rowspan", "span")


def clean(text: str) -> str:
    """Return ``text`` (an output's or a Markdown cell's HTML) with only what :data:`TAGS` allows."""
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    return bleach.clean(
        _CODE.sub("", text),
        tags=TAGS,
        attributes=_allowed,
        css_sanitizer=CSSSanitizer(),
        strip=True,
    )


_EXPORTING = threading.Lock()  # one exporter, one notebook at a time


TEMPLATE = Path(__file__).parent / "templates" / "stagebook" / "stagebook.html.j2"

# Library log lines that are not warnings or errors: glog/absl lines of TensorFlow and
# XLA at INFO ("I0000 00:00:1795828982.787674    3738 port.cc:153] ..."), the older
# TensorFlow form ("2024-01-02 03:04:05.678: I tensorflow/..."), Python logging's
# "INFO:tensorflow:...", and absl's notice that its lines go to stderr (it only
# precedes such lines). A "W", "E" or "F" line, and a Python warning, are kept.
_NOISE = re.compile(
    r"^(?:I\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I \S+.*"
    r"|INFO:(?:tensorflow|absl|jax|xla)\b.*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
    r"\n?",
    re.MULTILINE,
)


def quiet(text: str) -> str:
    """Return ``text`` without library INFO log lines (TensorFlow, absl, XLA); warnings stay."""
    return _NOISE.sub("", text)


def for_review(nb: Any) -> Any:
    """Return a copy of an executed notebook as reviewers read it.

    Library INFO lines are dropped from its streams (an emptied stream goes), and
    the records' own outputs too: the report's card shows the records once. The
    archived notebook keeps everything.
    """
    import copy

    from stagebook.records import MIME

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = "".join(output.get("text", ""))
                output["text"] = quiet(text)
                if not output["text"].strip():
                    continue
            elif MIME in output.get("data", {}):
                continue
            kept.append(output)
        cell["outputs"] = kept
    return nb


@functools.cache
def _exporter() -> Any:
    """Return the process's HTML exporter: its templates compile once, not per notebook.

    JupyterLab's template, with each code cell's source folded under "code".
    """
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=str(TEMPLATE),
        sanitize_html=True,
        filters={"clean_html": clean},
        **OFFLINE,
    )


def warm_up() -> None:
    """Import and compile what rendering needs, by rendering an empty notebook."""
    import nbformat

    html_of(nbformat.v4.new_notebook())


def html_of(nb: Any, banner: str | None = None) -> str:
    """Return a notebook node as one sanitized, script-free HTML page that loads nothing.

    ``banner``: a line shown above the notebook (e.g. that the try is still running).
    """
    with _EXPORTING:
        body, _ = _exporter().from_notebook_node(sanitize.notebook(for_review(nb)))
    body = sanitize.page(_SCRIPT.sub("", body))  # what metadata built, too
    if banner:
        at = body.find(">", body.find("<body")) + 1  # just inside the <body ...> tag
        note = f'<p class="stagebook-banner"><strong>{html.escape(banner)}</strong></p>'
        body = body[:at] + note + body[at:]
    return body


def render_html(notebook: Path) -> Path:
    """Render an executed notebook to sanitized HTML beside it (``.ipynb`` -> ``.html``), atomically."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    return atomic.write_text(storage.rendering(notebook), html_of(nb))


def url(path: Path) -> str:
    """Return the link to an archived file: under ``$STAGEBOOK_REPORTS_URL`` if set, else file://."""
    base = os.environ.get("STAGEBOOK_REPORTS_URL")
    if base:
        return f"{base.rstrip('/')}/{path.resolve().relative_to(settings.home()).as_posix()}"
    return path.resolve().as_uri()


# --- values as the card (stagebook.cards) and the pages show them -------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Return a nested mapping (and lists of mappings) as dotted keys -> leaves."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        out = {}
        for n, inner in enumerate(value):
            out.update(flatten(inner, f"{prefix}{n}."))
        return out
    return {prefix.rstrip("."): value}


def shown(value: Any) -> str:
    """Return a value as escaped HTML text (a float to 6 significant digits, None as nothing)."""
    if isinstance(value, float):
        return html.escape(f"{value:.6g}")
    return html.escape("" if value is None else str(value))


# --- sidecars: what the index shows, without reading a notebook ---------------------------


def figure_of(records: Mapping[str, Any], dotted: str) -> Any:
    """Return the value at ``dotted`` in a try's records (``metrics.test_auc``, ``published.0.records``)."""
    found: Any = records
    for part in dotted.split("."):
        if isinstance(found, Mapping) and part in found:
            found = found[part]
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found if isinstance(found, int | float | str) or found is None else None


def write_sidecar(notebook: Path, **fields: Any) -> Path:
    """Write (or update) the sidecar of an archived try: its state, records, figure, parameters."""
    path = storage.sidecar(notebook)
    data = {**(read_sidecar(path) or {}), **fields}
    return atomic.write_json(path, data)


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """Return a sidecar's fields, or None (logged) when it is missing or malformed."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Skipping the malformed report sidecar %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("Skipping the malformed report sidecar %s: not a JSON object", path)
        return None
    return data


LOST = "lost"


def mark_lost(notebook: Path, try_number: int) -> list[int]:
    """Mark earlier tries of this stage and run still "running" as lost; return their numbers.

    A try whose process died (its worker killed, out of memory) never finished its
    sidecar; the next try says so, so that no report shows it running forever.
    """
    stage = storage.parse_try(notebook.name)[0]
    error = "its process died before it finished (worker lost, killed or out of memory)"
    earlier = [(n, notebook.parent / storage.try_name(stage, n)) for n in range(1, try_number)]
    return [number for number, path in earlier if lose(path, error)]


def lose(notebook: Path, error: str) -> bool:
    """Mark a try whose sidecar still says "running" as lost, with ``error``; True if it was."""
    info = read_sidecar(storage.sidecar(notebook))
    if not info or info.get("state") != "running":
        return False
    write_sidecar(notebook, state=LOST, error=error)
    return True


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
            info, page = read_sidecar(path), storage.rendering(path)
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


def error_of(notebook: Path) -> str:
    """Return the error an archived notebook ended with, or that it finished without one."""
    for cell in json.loads(notebook.read_text()).get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output['ename']}: {output['evalue']}"
    return "finished without an error"


def notebook_timings(notebook: Path) -> dict[str, float]:
    """Return how an executed notebook's time split: kernel start, the first code cell, the rest.

    From papermill's own metadata: ``kernel_start`` runs from papermill's start to
    the first cell's, ``first_cell`` is the imports and ``stagebook.stage()``,
    ``other_cells`` the stage's work. Empty when the notebook holds no timings.
    """
    try:
        nb = json.loads(notebook.read_text())
        began = _instant(nb["metadata"]["papermill"]["start_time"])
        ran = [
            (c["metadata"].get("tags", []), c["metadata"]["papermill"])
            for c in nb["cells"]
            if c.get("cell_type") == "code" and c["metadata"].get("papermill", {}).get("start_time")
        ]
        own = [timing for tags, timing in ran if not _PARAMETER_TAGS & set(tags)]
        return {
            "kernel_start": round((_instant(ran[0][1]["start_time"]) - began).total_seconds(), 3),
            "parameters": round(
                sum(t.get("duration") or 0.0 for _, t in ran)
                - sum(t.get("duration") or 0.0 for t in own),
                3,
            ),
            "first_cell": round(own[0].get("duration") or 0.0, 3) if own else 0.0,
            "other_cells": round(sum(t.get("duration") or 0.0 for t in own[1:]), 3),
        }
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return {}


_PARAMETER_TAGS = {"parameters", "injected-parameters"}


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


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
