"""The app's trend pages: a DAG's trends by date, and two runs compared stage by stage.

Both say where a stage's code changed: the trends page marks and lists the dates,
the compare page says it per stage, with the diff of the two tries' code cells.

Routes (each under the app's authentication and read access to the DAG):
``/trends/{dag_id}`` and ``/compare?dag_id=…&a=<run>&b=<run>``, described in
:mod:`stagebook.orchestration.reviewing.web`.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stagebook import reports
from stagebook.orchestration.reviewing import (
    charts,
    codediff,
    comparison,
    review,
    trends,
    web_page,
)
from stagebook.orchestration.reviewing.web_page import READS_DAG

router = APIRouter()


@router.get("/trends/{dag_id}", dependencies=[Depends(READS_DAG)])
def trends_page(request: Request, dag_id: str, days: int = trends.DAYS) -> HTMLResponse:
    """Return the DAG's trends over its last ``days`` dates (1 to 3650)."""
    root = web_page.root(request)
    found = trends.trends(review.tries([dag_id]), dag_id, max(1, min(days, 3650)))
    if not found:
        raise review.Unknown(f"unknown DAG {dag_id!r}: the archive has no reports for it")
    return web_page.page(f"{dag_id} · trends", trends_body(root, dag_id, found), base=root)


@router.get("/compare", dependencies=[Depends(READS_DAG)])
def compare_page(
    request: Request, dag_id: str, a: str | None = None, b: str | None = None
) -> HTMLResponse:
    """Return runs ``a`` and ``b`` compared; by default the latest date and the one before."""
    root = web_page.root(request)
    found = review.tries([dag_id])
    if b is None:
        b = comparison.latest_run(found)
    if a is None:
        a = comparison.previous_run(found, dag_id, b) if b else None
    if not a or not b:
        raise review.Unknown(
            f"nothing to compare in {dag_id!r}: it needs runs on two dates "
            "(or name both runs: ?a=<run>&b=<run>)"
        )
    body = compare_body(root, dag_id, a, b, comparison.compare(found, dag_id, a, b))
    return web_page.page(f"{dag_id} · two runs compared", body, base=root)


def trends_body(root: str, dag_id: str, found: list[trends.Trend]) -> str:
    """Return the trends page: every chart, prod and beta on the same axes."""
    dates = trends.dates_of(found)
    drawn = "".join(charts.svg(t, dates) for t in found)
    last_two = web_page.link(web_page.compare_href(root, dag_id), "Compare the last two dates")
    return (
        f"<p>{len(dates)} dates, {html.escape(dates[0])} to {html.escape(dates[-1])}: for each date, "
        "each stage's latest try in the latest run that ran it. A hollow point is a failed try; a "
        "red point crossed the dashed threshold; a dotted line, a date the stage's code changed. "
        f"{last_two}</p><div>{drawn}</div>{code_changes_body(root, dag_id, found)}"
    )


def code_changes_body(root: str, dag_id: str, found: list[trends.Trend]) -> str:
    """Return the list of the dates a stage's code changed, each with its comparison's link."""
    changes = sorted({c for t in found for c in t.changes}, key=lambda c: (c.ds, c.phase, c.stage))
    if not changes:
        return "<h2>Code changes</h2><p>No stage's code changed in these dates.</p>"
    items = "".join(
        f"<li data-ds='{html.escape(c.ds)}' data-phase='{html.escape(c.phase)}' "
        f"data-stage='{html.escape(c.stage)}'>{html.escape(f'{c.ds} · {c.phase} · {c.stage}')}: "
        f"code changed · {web_page.link(web_page.compare_href(root, dag_id, c.run_id), 'compare')}"
        "</li>"
        for c in changes
    )
    return f"<h2>Code changes</h2><ul class='code-changes'>{items}</ul>"


def _rows(rows: list[comparison.Row], deltas: bool = False) -> str:
    out = []
    for row in rows:
        delta = ""
        if deltas:
            d = row.delta
            delta = f"<td>{'' if d is None else html.escape(f'{d:+.4g}')}</td>"
        cls = " class='changed'" if row.changed else ""
        out.append(
            f"<tr{cls}><td>{html.escape(row.key)}</td><td>{reports.shown(row.a)}</td>"
            f"<td>{reports.shown(row.b)}</td>{delta}</tr>"
        )
    return "".join(out)


def compare_body(
    root: str, dag_id: str, a: str, b: str, stages: list[comparison.StageComparison]
) -> str:
    """Return the comparison page: per stage, its code's diff, what differs, the deltas, both reports."""
    parts = [
        f"<p>a: <strong>{html.escape(a)}</strong><br>b: <strong>{html.escape(b)}</strong> "
        f"<small>(highlighted: what changed from a to b)</small></p>"
    ]
    for stage in stages:
        head = "<tr><th>key</th><th>a</th><th>b</th>"
        where = f"data-phase='{html.escape(stage.phase)}' data-stage='{html.escape(stage.stage)}'"
        parts.append(
            f"<h2>{html.escape(stage.phase)} · {html.escape(stage.stage)}</h2>"
            f"<div class='code' {where}>{codediff.as_html(stage.code)}</div>"
        )
        for kind, title, rows, deltas in (
            ("injected", "Injected parameters", stage.parameters, False),
            ("params", "Params after overrides (only what differs)", stage.params, False),
            ("records", "Records and duration", stage.metrics, True),
        ):
            if rows:
                parts.append(
                    f"<h3>{title}</h3><table class='{kind}'>{head}"
                    f"{'<th>delta</th>' if deltas else ''}</tr>{_rows(rows, deltas)}</table>"
                )
        frames = "".join(
            f"<div><p>{label}: {html.escape(t.ds)} {html.escape(t.phase)} try {t.number} "
            f"{html.escape(t.state)}</p><iframe sandbox src='{html.escape(root + t.route, quote=True)}'"
            f" title='report {label}'></iframe></div>"
            if t
            else f"<div><p>{label}: no try of this stage</p></div>"
            for label, t in (("a", stage.a), ("b", stage.b))
        )
        parts.append(f"<div class='side'>{frames}</div>")
    return "".join(parts)
