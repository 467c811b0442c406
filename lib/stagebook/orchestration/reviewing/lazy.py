"""The plugin's web app, built on its first request.

Every process that loads Airflow's plugins imports the plugin module: the
api-server, and also each task process, Celery worker and ``stagebook run``,
which never serve a page. Building the app there costs about 0.7 s (FastAPI's
routes and Airflow's API security); the api-server now pays it once, on the
first request to ``/stagebook/``.
"""

from __future__ import annotations

import threading
from typing import Any


class LazyApp:
    """An ASGI app that builds the Stagebook app on its first call, then hands every call to it."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def app(self) -> Any:
        """Return the Stagebook app, built once."""
        with self._lock:
            if self._app is None:
                from stagebook.orchestration.reviewing import web

                self._app = web.create_app()
        return self._app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer an ASGI call with the Stagebook app."""
        app = self._app or self.app()
        await app(scope, receive, send)


def app_spec() -> dict[str, Any]:
    """Return the plugin's ``fastapi_apps`` entry: the app, built on its first request."""
    return {"app": LazyApp(), "url_prefix": "/stagebook", "name": "Stagebook"}
