"""What every page of the Stagebook app shares: its frame, headers and links, and who may see it.

The app (:mod:`stagebook.orchestration.reviewing.web`) requires :data:`AUTHENTICATED` once, for every
route; a route naming a DAG also requires :data:`READS_DAG`, and the index shows only the
DAGs in :data:`ReadableDags`.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import quote, urlencode

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    requires_access_dag,
    requires_authenticated,
)
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

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
.code-summary.changed{font-weight:600} .code-summary.unchanged{color:#666}
pre.codediff{font-size:12px;background:#fafafa;border:1px solid #ddd;padding:.4rem 0;overflow:auto}
.codediff span{display:block;padding:0 .5rem;white-space:pre} .codediff .hunk{color:#666}
.codediff .added{background:#e6ffec} .codediff .removed{background:#ffebe9}
"""


def page(title: str, body: str, status: int = 200, base: str = "") -> HTMLResponse:
    """Return one of the app's own pages: ``body`` under ``title``, a link home to ``base``."""
    text = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<p><a href='{base}'>Stagebook</a></p><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(text, status, headers=headers(PAGE_CSP))


def headers(csp: str) -> dict[str, str]:
    """Return the headers of every response: the policy ``csp``, no sniffing, no caching."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def root(request: Request) -> str:
    """Return the app's root path as the browser sees it, e.g. ``/stagebook/``."""
    return f"{request.scope.get('root_path', '').rstrip('/')}/"


def link(href: str, text: str) -> str:
    """Return a link to ``href`` reading ``text``, both escaped."""
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(text)}</a>"


def compare_href(root: str, dag_id: str, b: str | None = None) -> str:
    """Return the link comparing run ``b`` with the previous date (the last two dates without)."""
    query = {"dag_id": dag_id, **({"b": b} if b else {})}
    return f"{root}compare?{urlencode(query, quote_via=quote)}"
