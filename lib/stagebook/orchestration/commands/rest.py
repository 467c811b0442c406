"""Airflow's REST API (v2) as a named user: where the served Airflow is, who calls it, one-line errors.

Where: ``--url``, else the Airflow connection ``stagebook_airflow``
(``AIRFLOW_CONN_STAGEBOOK_AIRFLOW``, e.g. ``https://rita:...@airflow.example:8080``),
else the ``stagebook serve`` running on this home (:func:`served`).

Who: ``--token`` (or ``STAGEBOOK_AIRFLOW_TOKEN``), else ``--username`` with
``--password-file`` or a password prompt, else the connection's login. Only a
command that acts for the owner of this home (``stagebook run``) may fall back
to its local ``admin``, whose password ``stagebook serve`` generated into the
home. Every call carries the user's token, so Airflow records and authorizes
that user, as it does for the UI.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stagebook.errors import StagebookError

CONN_ID = "stagebook_airflow"  # the Airflow connection that names a served Airflow
TOKEN_VARIABLE = "STAGEBOOK_AIRFLOW_TOKEN"
TIMEOUT_S = 60.0


class RestError(StagebookError):
    """A call to Airflow's REST API failed; ``status`` is the HTTP status (0: no answer)."""

    retryable = False

    def __init__(self, message: str, status: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or message


def path(*parts: str) -> str:
    """Return ``/api/v2/`` joined with each part quoted (run ids hold ``:`` and ``+``)."""
    return "/api/v2/" + "/".join(quote(str(p), safe="") for p in parts)


def _detail(body: bytes) -> str:
    """Return the one-line reason of an error body (Airflow's ``detail``, or its text)."""
    text = body.decode(errors="replace").strip()
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    return " ".join(str(detail).split())[:300] or "no reason given"


def _call(method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data, {"Accept": "application/json", **headers}, method=method
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            raw = answer.read()
    except ValueError:  # urllib's answer to a URL it cannot use
        raise RestError(f"{url}: not a URL urllib can call; give http(s)://HOST:PORT") from None
    except urllib.error.HTTPError as error:
        detail = _detail(error.read())
        raise RestError(f"{method} {url}: {error.code} {detail}", error.code, detail) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RestError(f"{url}: no answer from Airflow ({reason}): is it served there?") from None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise RestError(f"{url}: the answer is not JSON: is this Airflow's API?") from None


@dataclasses.dataclass(frozen=True)
class Airflow:
    """A served Airflow (``base``: its URL without a trailing slash) and a user's token."""

    base: str
    token: str = dataclasses.field(repr=False)
    user: str = ""

    def call(self, method: str, where: str, body: Any = None) -> Any:
        """Call ``where`` (a path under the base) as this user; return the decoded JSON answer."""
        return _call(method, self.base + where, body, {"Authorization": f"Bearer {self.token}"})

    def get(self, where: str) -> Any:
        """GET ``where`` as this user."""
        return self.call("GET", where)


def login(base: str, username: str, password: str) -> Airflow:
    """Return ``username``'s session on ``base``: a token from Airflow's ``POST /auth/token``."""
    try:
        answer = _call(
            "POST", f"{base}/auth/token", {"username": username, "password": password}, {}
        )
    except RestError as exc:
        if exc.status in (401, 403):
            raise RestError(
                f"{base}: Airflow refused the password of {username!r}: check it (or give --token)",
                exc.status,
            ) from None
        raise
    if not isinstance(answer, dict) or "access_token" not in answer:
        raise RestError(f"{base}/auth/token: no token in the answer: is this Airflow's API?")
    return Airflow(base, answer["access_token"], username)


def served(*, scheduled: bool) -> dict[str, Any] | None:
    """Return what the ``stagebook serve`` running on this home wrote of itself, or None.

    Its ``url``, ``components`` and ``passwords`` (the file of its users' passwords).
    ``scheduled``: only one that runs a scheduler too (so that a triggered run runs).
    """
    from stagebook.orchestration.commands import serve

    if serve.running_pid() is None:
        return None
    try:
        state = json.loads(serve.state_file().read_text())
    except (OSError, ValueError):
        return None
    if state.get("pid") != serve.running_pid() or "api-server" not in state.get("components", ()):
        return None  # left by a serve that is gone, or one that serves no API
    if scheduled and "scheduler" not in state.get("components", ()):
        return None
    return state


def _connection() -> Any | None:
    """Return the ``stagebook_airflow`` connection from the environment, or None."""
    value = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
    if not value:
        return None
    from airflow.sdk import Connection

    try:
        if value.lstrip().startswith("{"):
            return Connection.from_json(value, conn_id=CONN_ID)
        return Connection.from_uri(value, conn_id=CONN_ID)
    except Exception:  # its message would echo the value, password included
        raise RestError(
            f"AIRFLOW_CONN_{CONN_ID.upper()}: not a connection URI or JSON; fix it "
            "(e.g. https://USER:PASSWORD@HOST:PORT)"
        ) from None


def _base(conn: Any) -> str:
    scheme = "https" if conn.conn_type in ("https", "airflow_https") else "http"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}"


def _password(username: str, password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text().strip()
        except OSError as exc:
            raise RestError(
                f"--password-file {password_file}: cannot read it ({exc.strerror})"
            ) from None
    if not sys.stdin.isatty():
        raise RestError(
            f"the password of {username!r}: give --password-file FILE (no terminal to ask on)"
        )
    return getpass.getpass(f"Airflow password of {username}: ")


def _local_admin(state: dict[str, Any]) -> Airflow:
    """Return this home's ``admin`` session on its own ``stagebook serve`` (``state``)."""
    passwords = Path(state.get("passwords") or "")
    try:
        password = json.loads(passwords.read_text())["admin"]
    except (OSError, ValueError, KeyError):
        raise RestError(
            f"{passwords}: no password of admin; give --username (or --token)"
        ) from None
    return login(state["url"], "admin", password)


def connect(
    url: str | None,
    *,
    token: str | None = None,
    username: str | None = None,
    password_file: Path | None = None,
    scheduled: bool = False,
    owner_may_fall_back: bool = False,
) -> Airflow | None:
    """Return a session on the served Airflow the arguments name, or None when none is served.

    Raises:
        RestError: in one line, when the user cannot be authenticated or no user is named.
    """
    conn = None if url else _connection()
    here = None if url or conn else served(scheduled=scheduled)
    base = (url or (conn and _base(conn)) or (here and here["url"]) or "").rstrip("/")
    if not base:
        return None
    if not base.startswith(("http://", "https://")):
        raise RestError(f"--url {base}: give http(s)://HOST:PORT")
    if token:
        return Airflow(base, token)
    if username:  # named on the command line: before a token of the environment
        return login(base, username, _password(username, password_file))
    if os.environ.get(TOKEN_VARIABLE):
        return Airflow(base, os.environ[TOKEN_VARIABLE])
    if conn is not None and conn.login:
        return login(base, conn.login, conn.password or "")
    if here and owner_may_fall_back:
        return _local_admin(here)
    raise RestError(
        f"{base}: say who you are: --username NAME (a password prompt, or --password-file), "
        f"or --token (or {TOKEN_VARIABLE})"
    )


def add_arguments(parser: Any) -> None:
    """Add ``--url``, ``--token``, ``--username`` and ``--password-file`` to ``parser``."""
    parser.add_argument(
        "--url",
        help=f"a served Airflow, e.g. https://airflow:8080 (default: connection {CONN_ID}, "
        "else this home's stagebook serve)",
    )
    parser.add_argument("--token", help=f"an Airflow API token (default: ${TOKEN_VARIABLE})")
    parser.add_argument("--username", help="an Airflow user; asks for the password")
    parser.add_argument("--password-file", type=Path, help="read the password from this file")
