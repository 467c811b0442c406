"""The card at the top of a report: what a reviewer reads first, from the try's sidecar.

The try (stage, ds, phase, run, try, state, duration), its key figure, the gate's
checks, the summary rows its stage declared, and the error of a failed try. The
records are shown once, here: the rendering drops their own outputs, and a list
such as a loss per epoch belongs in the report's plot, not in the card's rows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import atomic, reports, sidecars, storage

STYLE = (
    "<style>.stagebook-card{font:14px/1.4 system-ui,sans-serif;border:1px solid #ccd;"
    "background:#f7f9fc;padding:.6rem 1rem;margin:0 0 1rem}"
    ".stagebook-card table{border-collapse:collapse;margin:.3rem 0}"
    ".stagebook-card th,.stagebook-card td{border:1px solid #dde;padding:.15rem .45rem;"
    "text-align:left}.stagebook-card .pass{color:#1e7b34}"
    ".stagebook-card .fail,.stagebook-card .state-failed{color:#b03a2e;font-weight:600}"
    ".stagebook-card .soft{color:#a66a00;font-weight:600}"
    ".stagebook-card .missing{color:#888}</style>"
)
_CARD = re.compile(r"<!--stagebook-card-->.*?<!--/stagebook-card-->", re.DOTALL)
# a try archived before stages declared their summary: its flattened records, this many at most
OLD_ROWS = 16


def card_html(info: Mapping[str, Any]) -> str:
    """Return the card at the top of a report, from the try's sidecar ``info``.

    Its rows are the ``summary`` the stage declared; a stage that declared none
    lists its records that are a number or a text. A try archived before sidecars
    kept a summary lists its flattened records, as cards did then.
    """
    shown = reports.shown
    parts = [_facts(info)]
    figure = info.get("figure")
    if isinstance(figure, Mapping) and figure.get("value") is not None:
        parts.append(
            f"<p class='figure'><strong>{shown(figure.get('label'))} "
            f"{shown(figure['value'])}</strong></p>"
        )
    records = dict(info.get("records") or {})
    parts.append(_checks(records.pop("checks", None)))
    parts.append(_rows(info, records))
    if info.get("error"):
        parts.append(f"<p class='fail'>{shown(info['error'])}</p>")
    return (
        f"<!--stagebook-card-->{STYLE}<section class='stagebook-card'>"
        f"{''.join(parts)}</section><!--/stagebook-card-->"
    )


def _facts(info: Mapping[str, Any]) -> str:
    """Return the one-row table of the try: stage, ds, phase, run, try, state, duration."""
    shown = reports.shown
    duration = info.get("duration_s")
    facts = [
        ("stage", info.get("stage")),
        ("ds", info.get("ds")),
        ("phase", info.get("phase")),
        ("run", info.get("run_id")),
        ("try", info.get("try_number")),
        ("state", info.get("state")),
        ("duration", f"{duration:.1f} s" if isinstance(duration, int | float) else "-"),
    ]
    head = "".join(
        f"<th>{name}</th><td class='{'state-' + shown(value) if name == 'state' else name}'>"
        f"{shown(value)}</td>"
        for name, value in facts
    )
    return f"<table class='facts'><tr>{head}</tr></table>"


def _verdict(check: Mapping[str, Any]) -> tuple[str, str]:
    """Return the CSS class and word of a check: pass, FAIL (hard limit) or soft (waits for approval)."""
    if not check.get("passed"):
        return "fail", "FAIL"
    if check.get("soft_passed") is False:
        return "soft", "soft: needs approval"
    return "pass", "pass"


def _checks(checks: Any) -> str:
    """Return a ``checks`` record (a gate's) as a table of value, threshold and verdict."""
    if not isinstance(checks, list) or not checks:
        return ""
    shown = reports.shown
    rows = "".join(
        f"<tr><td>{shown(c.get('check'))}</td><td>{shown(c.get('value'))}</td>"
        f"<td>{shown(c.get('threshold'))}</td><td>{shown(c.get('soft_threshold'))}</td>"
        f"<td class='{_verdict(c)[0]}'>{_verdict(c)[1]}</td></tr>"
        for c in checks
        if isinstance(c, Mapping)
    )
    return (
        "<table class='checks'><tr><th>check</th><th>value</th><th>threshold</th>"
        f"<th>soft limit</th><th>result</th></tr>{rows}</table>"
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def summary(info: Mapping[str, Any], records: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """Return the card's rows as ``(label, key, value)``; ``records``: the try's, checks aside.

    The declared ``summary`` (``duration_s`` and ``tries`` read the try itself), else
    the top-level records that are a number or a text.
    """
    own = {"duration_s": info.get("duration_s"), "tries": info.get("try_number")}
    declared = [r for r in info.get("summary") or () if isinstance(r, list | tuple) and len(r) == 2]
    if declared:
        everything = info.get("records") or {}
        return [
            (str(label), str(key), own.get(key, sidecars.figure_of(everything, str(key))))
            for label, key in declared
        ]
    return [(name, name, value) for name, value in records.items() if _scalar(value)]


def _rows(info: Mapping[str, Any], records: Mapping[str, Any]) -> str:
    """Return the card's table of rows (see :func:`summary`); an older try's flattened records."""
    shown, more = reports.shown, ""
    if "summary" in info:
        rows = [
            f"<tr><td title='{html.escape(key, quote=True)}'>{html.escape(label)}</td>"
            + (f"<td>{shown(value)}</td>" if value is not None else "<td class='missing'>-</td>")
            + "</tr>"
            for label, key, value in summary(info, records)
        ]
    else:  # archived before sidecars kept a summary
        values = [(k, v) for k, v in reports.flatten(records).items() if _scalar(v)]
        rows = [
            f"<tr><td>{html.escape(k)}</td><td>{shown(v)}</td></tr>" for k, v in values[:OLD_ROWS]
        ]
        if len(values) > OLD_ROWS:
            more = f"<p><small>and {len(values) - OLD_ROWS} more in the report</small></p>"
    if not rows:
        return ""
    head = "<tr><th>recorded</th><th>value</th></tr>"
    return f"<table class='records'>{head}{''.join(rows)}</table>{more}"


def with_card(page: str, info: Mapping[str, Any]) -> str:
    """Return a rendered page with the try's card at the top of its body (replacing an old one)."""
    card = card_html(info)
    if _CARD.search(page):
        return _CARD.sub(lambda _: card, page, count=1)
    body = page.find("<body")
    at = page.find(">", body) + 1 if body >= 0 else 0
    return page[:at] + card + page[at:]


def add_card(notebook: Path) -> None:
    """Put the card of a finished try into its rendering, from its sidecar (atomically)."""
    page = storage.rendering(notebook)
    info = sidecars.read_sidecar(storage.sidecar(notebook))
    if page.exists() and info is not None:
        atomic.write_text(page, with_card(page.read_text(), info))
