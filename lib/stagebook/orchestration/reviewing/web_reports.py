"""The app's report pages: the index, every run of a date, one try's report, a task's "Report" tab.

Routes (each under the app's authentication; those naming a DAG need read access to it):
``/``, ``/days/{dag_id}/{ds}``, ``/reports/{dag_id}/{ds}/{phase}/{run}/{stage}/{try}`` and
``/tasks/{dag_id}/{run_id}/{task_id}``, described in :mod:`stagebook.orchestration.reviewing.web`.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stagebook import cards, reports, storage
from stagebook.orchestration.reviewing import review, web_page
from stagebook.orchestration.reviewing.web_page import READS_DAG, REPORT_CSP, ReadableDags

RUNNING = "This try is still running: the notebook so far. Reload for more."

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request, dags: ReadableDags) -> HTMLResponse:
    """Return the index of the DAGs the user may read."""
    root = web_page.root(request)
    return web_page.page("Stagebook reports", index_body(root, review.tries(dags)), base=root)


@router.get("/days/{dag_id}/{ds}", dependencies=[Depends(READS_DAG)])
def day(request: Request, dag_id: str, ds: str) -> HTMLResponse:
    """Return every run of one date, each try linked."""
    root = web_page.root(request)
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
                f"<li>{web_page.link(root + t.route, f'{t.stage} try {t.number}')} "
                f"{html.escape(t.state)} {html.escape(t.figure)}</li>"
                for t in mine
            )
            parts.append(f"<h3>{html.escape(phase)} · {html.escape(run)}</h3><ul>{links}</ul>")
    return web_page.page(f"{dag_id} · {ds}: every run", "".join(parts), base=root)


@router.get(
    "/reports/{dag_id}/{ds}/{phase}/{run}/{stage}/{number}",
    dependencies=[Depends(READS_DAG)],
)
def report(dag_id: str, ds: str, phase: str, run: str, stage: str, number: str) -> HTMLResponse:
    """Return the sanitized report of one try, under the sandboxing policy."""
    found = review.find(dag_id, ds, phase, run, stage, number)
    return HTMLResponse(report_html(found), headers=web_page.headers(REPORT_CSP))


@router.get("/tasks/{dag_id}/{run_id}/{task_id}", dependencies=[Depends(READS_DAG)])
def task(request: Request, dag_id: str, run_id: str, task_id: str) -> HTMLResponse:
    """Return a task instance's "Report" tab: its latest try (or ``?try=N``), the others linked."""
    root = web_page.root(request)
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
        else web_page.link(f"?try={t.number}", f"try {t.number}: {t.state}")
        for t in found
    )
    body = (
        f"<p>{html.escape(shown.stage)} · {html.escape(shown.ds)} · {html.escape(shown.phase)} · "
        f"{html.escape(shown.figure)}</p><p>{tries}</p>"
        f"<iframe sandbox src='{html.escape(root + shown.route, quote=True)}' "
        f"title='report'></iframe>"
    )
    return web_page.page(f"{task_id} · try {shown.number}", body, base=root)


def _cell(root: str, found: review.Try, count: int) -> str:
    tried = f"{count} tries" if count > 1 else "1 try"
    figure = f"<br>{html.escape(found.figure)}" if found.figure else ""
    return (
        f"<td class='{html.escape(found.state)}'>{web_page.link(root + found.route, found.state)}"
        f"<br><small>{tried}</small>{figure}</td>"
    )


def index_body(root: str, found: list[review.Try]) -> str:
    """Return the index's tables: per DAG and phase, dates down, stages across."""
    link = web_page.link
    parts = []
    for dag_id, phases in review.matrix(found).items():
        last_two = link(web_page.compare_href(root, dag_id), "Compare the last two dates")
        parts.append(
            f"<h2>{html.escape(dag_id)}</h2>"
            f"<p>{link(f'{root}trends/{dag_id}', 'Trends')} · {last_two}</p>"
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
                    link(f"{root}days/{dag_id}/{row['ds']}", f"{earlier} earlier")
                    if earlier
                    else ""
                )
                compare = link(web_page.compare_href(root, dag_id, row["run"]), "compare")
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
