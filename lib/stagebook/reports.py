"""Executed notebooks as reports: sanitized HTML pages that load nothing, and their links.

The sidecars a try leaves are :mod:`stagebook.sidecars`, what its notebook says
:mod:`stagebook.tries`, the static index page :mod:`stagebook.index`.
"""

from __future__ import annotations

import functools
import html
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import atomic, sanitize, settings, storage

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
