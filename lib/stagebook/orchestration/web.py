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
  and beta on the same axes, for the last ``?days=`` dates (default 90); also the
  DAG's "Trends" tab;
- ``/compare?dag_id=…&a=<run>&b=<run>`` two runs, stage by stage: the injected
  parameters and merged params that differ, the metric deltas, both reports side
  by side. Without ``a``, ``b`` is compared with the previous date's latest run;
  without either, the latest date with the one before.

An unknown name gets a 404 page that says what is unknown and links to the index.
"""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    requires_access_dag,
    requires_authenticated,
)
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from stagebook import cards, reports, storage
from stagebook.orchestration import charts, comparison, review, trends

# Report pages: sandboxed (no script, no same-origin access to the reviewer's token
# cookie), nothing loaded from outside the api-server, framed only by the UI itself.
REPORT_CSP = (
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; frame-ancestors 'self'"
)
# The app's own pages: the same, without the sandbox, and they may frame a report.
PAGE_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
RUNNING = "This try is still running: the notebook so far. Reload for more."

AUTHENTICATED = requires_authenticated()
READS_DAG = requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE)


def readable_dags(user: GetUserDep) -> set[str]:
    """Return the DAG ids the user may read (Airflow's auth manager decides)."""
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


ReadableDags = Annotated[set[str], Depends(readable_dags)]

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} a{color:#0b5cad} small{color:#666}
.success{background:#e8f6e8}.failed{background:#fbe4e4}.running{background:#fff6d6}.lost{background:#eee}
iframe{width:100%;height:80vh;border:1px solid #ddd}
.trend{margin:0 1rem 1rem 0;border:1px solid #eee} .changed{background:#fff3b0}
.side{display:flex;gap:.5rem} .side>div{flex:1;min-width:0}
.side iframe{height:60vh}
"""


def _page(title: str, body: str, status: int = 200, base: str = "") -> HTMLResponse:
    text = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<p><a href='{base}'>Stagebook</a></p><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(text, status, headers=_headers(PAGE_CSP))


def _headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _root(request: Request) -> str:
    """Return the app's root path as the browser sees it, e.g. ``/stagebook/``."""
    return f"{request.scope.get('root_path', '').rstrip('/')}/"


def _link(href: str, text: str) -> str:
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(text)}</a>"


def _cell(root: str, found: review.Try, count: int) -> str:
    tried = f"{count} tries" if count > 1 else "1 try"
    figure = f"<br>{html.escape(found.figure)}" if found.figure else ""
    return (
        f"<td class='{html.escape(found.state)}'>{_link(root + found.route, found.state)}"
        f"<br><small>{tried}</small>{figure}</td>"
    )


def _compare_href(root: str, dag_id: str, b: str | None = None) -> str:
    """Return the link comparing run ``b`` with the previous date (the last two dates without)."""
    query = {"dag_id": dag_id, **({"b": b} if b else {})}
    return f"{root}compare?{urlencode(query, quote_via=quote)}"


def index_body(root: str, found: list[review.Try]) -> str:
    """Return the index's tables: per DAG and phase, dates down, stages across."""
    parts = []
    for dag_id, phases in review.matrix(found).items():
        last_two = _link(_compare_href(root, dag_id), "Compare the last two dates")
        parts.append(
            f"<h2>{html.escape(dag_id)}</h2>"
            f"<p>{_link(f'{root}trends/{dag_id}', 'Trends')} · {last_two}</p>"
        )
        for phase, table in phases.items():
            head = "".join(f"<th>{html.escape(s)}</th>" for s in table["stages"])
            rows = []
            for row in table["rows"]:
                cells = "".join(
                    _cell(root, *row["cells"][s]) if s in row["cells"] else "<td></td>"
                    for s in table["stages"]
                )
                earlier = len(row["earlier"])
                runs = (
                    _link(f"{root}days/{dag_id}/{row['ds']}", f"{earlier} earlier")
                    if earlier
                    else ""
                )
                compare = _link(_compare_href(root, dag_id, row["run"]), "compare")
                rows.append(
                    f"<tr><td>{html.escape(row['ds'])}</td>{cells}"
                    f"<td><small>{html.escape(row['run'])}</small><br>{compare} {runs}</td></tr>"
                )
            parts.append(
                f"<h3>{html.escape(phase)}</h3><table><tr><th>date</th>{head}<th>run</th></tr>"
                + "".join(rows)
                + "</table>"
            )
    return "".join(parts) or "<p>No report yet: run the pipeline, and its reports appear here.</p>"


def create_app() -> FastAPI:
    """Return the app; Airflow mounts it at ``/stagebook``."""
    app = FastAPI(
        title="Stagebook",
        dependencies=[Depends(AUTHENTICATED)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(review.Unknown)
    async def unknown(request: Request, exc: review.Unknown) -> HTMLResponse:
        root = _root(request)
        body = f"<p>{html.escape(str(exc))}.</p><p>{_link(root, 'Back to the index')}</p>"
        return _page("Not found", body, 404, root)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, dags: ReadableDags) -> HTMLResponse:
        root = _root(request)
        return _page("Stagebook reports", index_body(root, review.tries(dags)), base=root)

    @app.get("/days/{dag_id}/{ds}", dependencies=[Depends(READS_DAG)])
    def day(request: Request, dag_id: str, ds: str) -> HTMLResponse:
        root = _root(request)
        review.day_folder(dag_id, ds)
        found = [t for t in review.tries([dag_id]) if t.ds == ds]
        runs = review.latest_runs(found)
        parts = []
        for (_, _, phase), ordered in sorted(runs.items()):
            for run in ordered:
                mine = sorted(
                    (t for t in found if (t.phase, t.run) == (phase, run)),
                    key=lambda t: (t.stage, t.number),
                )
                links = "".join(
                    f"<li>{_link(root + t.route, f'{t.stage} try {t.number}')} {html.escape(t.state)} "
                    f"{html.escape(t.figure)}</li>"
                    for t in mine
                )
                parts.append(f"<h3>{html.escape(phase)} · {html.escape(run)}</h3><ul>{links}</ul>")
        return _page(f"{dag_id} · {ds}: every run", "".join(parts), base=root)

    @app.get(
        "/reports/{dag_id}/{ds}/{phase}/{run}/{stage}/{number}",
        dependencies=[Depends(READS_DAG)],
    )
    def report(dag_id: str, ds: str, phase: str, run: str, stage: str, number: str) -> HTMLResponse:
        found = review.find(dag_id, ds, phase, run, stage, number)
        return HTMLResponse(report_html(found), headers=_headers(REPORT_CSP))

    @app.get("/tasks/{dag_id}/{run_id}/{task_id}", dependencies=[Depends(READS_DAG)])
    def task(request: Request, dag_id: str, run_id: str, task_id: str) -> HTMLResponse:
        root = _root(request)
        number = request.query_params.get("try")  # ?try=N: "try" is no Python name
        found = review.of_task(dag_id, run_id, task_id)
        if not found:
            raise review.Unknown(
                f"no report for task {task_id!r} of run {run_id!r}: only stage tasks archive "
                "a notebook, and this one has not started one yet"
            )
        shown = next((t for t in found if str(t.number) == number), found[-1])
        tries = " · ".join(
            html.escape(f"try {t.number}: {t.state}")
            if t is shown
            else _link(f"?try={t.number}", f"try {t.number}: {t.state}")
            for t in found
        )
        body = (
            f"<p>{html.escape(shown.stage)} · {html.escape(shown.ds)} · {html.escape(shown.phase)} · "
            f"{html.escape(shown.figure)}</p><p>{tries}</p>"
            f"<iframe sandbox src='{html.escape(root + shown.route, quote=True)}' "
            f"title='report'></iframe>"
        )
        return _page(f"{task_id} · try {shown.number}", body, base=root)

    @app.get("/trends/{dag_id}", dependencies=[Depends(READS_DAG)])
    def trends_page(request: Request, dag_id: str, days: int = trends.DAYS) -> HTMLResponse:
        root = _root(request)
        found = trends.trends(review.tries([dag_id]), dag_id, max(1, min(days, 3650)))
        if not found:
            raise review.Unknown(f"unknown DAG {dag_id!r}: the archive has no reports for it")
        return _page(f"{dag_id} · trends", trends_body(root, dag_id, found), base=root)

    @app.get("/compare", dependencies=[Depends(READS_DAG)])
    def compare_page(
        request: Request, dag_id: str, a: str | None = None, b: str | None = None
    ) -> HTMLResponse:
        root = _root(request)
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
        return _page(f"{dag_id} · two runs compared", body, base=root)

    @app.get("/{path:path}")
    def anything_else(path: str) -> HTMLResponse:
        raise review.Unknown(f"unknown page {'/' + path!r}")

    return app


def trends_body(root: str, dag_id: str, found: list[trends.Trend]) -> str:
    """Return the trends page: every chart, prod and beta on the same axes."""
    dates = trends.dates_of(found)
    drawn = "".join(charts.svg(t, dates) for t in found)
    return (
        f"<p>{len(dates)} dates, {html.escape(dates[0])} to {html.escape(dates[-1])}: for each date, "
        "each stage's latest try in the latest run that ran it. A hollow point is a failed try; a "
        "red point crossed the dashed threshold. "
        f"{_link(_compare_href(root, dag_id), 'Compare the last two dates')}"
        f"</p><div>{drawn}</div>"
    )


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
    """Return the comparison page: per stage, what differs, the deltas, both reports."""
    parts = [
        f"<p>a: <strong>{html.escape(a)}</strong><br>b: <strong>{html.escape(b)}</strong> "
        f"<small>(highlighted: what changed from a to b)</small></p>"
    ]
    for stage in stages:
        head = "<tr><th>key</th><th>a</th><th>b</th>"
        parts.append(f"<h2>{html.escape(stage.phase)} · {html.escape(stage.stage)}</h2>")
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


def report_html(found: review.Try) -> str:
    """Return the page of one try, its card on top: its rendering, or the notebook so far."""
    page = storage.rendering(found.notebook)
    if found.state != "running" and page.exists():
        return cards.with_card(page.read_text(), found.info)  # a page rendered before its card
    if not found.notebook.exists():
        raise review.Unknown(f"no notebook yet for try {found.number} of {found.stage}")
    import nbformat

    banner = RUNNING if found.state == "running" else "Rendered from the archived notebook."
    try:
        nb = nbformat.read(found.notebook, as_version=4)
    except (OSError, ValueError):  # papermill is writing it this very moment
        nb, banner = nbformat.v4.new_notebook(), f"{RUNNING} (It is being written: reload.)"
    return cards.with_card(reports.html_of(nb, banner=banner), found.info)


def app_spec() -> dict[str, Any]:
    """Return the plugin's ``fastapi_apps`` entry."""
    return {"app": create_app(), "url_prefix": "/stagebook", "name": "Stagebook"}
