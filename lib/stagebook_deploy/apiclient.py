"""The cluster's REST API as a logged-in user: trigger a run, wait for it, read its tasks.

Over HTTPS, ``ca_file`` is the certificate the api-server is verified with (the
vault's, or the rehearsal's self-signed one); nothing here skips verification.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.parse
import urllib.request
from pathlib import Path


class Client:
    """The cluster's REST API on one DAG ``dag_id``, as a SimpleAuthManager user (default ``admin``)."""

    def __init__(
        self,
        base: str,
        airflow_home: Path,
        dag_id: str,
        user: str = "admin",
        ca_file: Path | None = None,
    ) -> None:
        """Log in as ``user``; ``ca_file``: the certificate an HTTPS ``base`` is verified with."""
        self.base, self.dag_id = base, dag_id
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        password = json.loads((airflow_home / "passwords.json").read_text())[user]
        answer = self.call("/auth/token", {"username": user, "password": password}, token=False)
        self.token = answer["access_token"]

    def call(self, path: str, body: dict | None = None, token: bool = True) -> dict:
        """GET ``path`` (POST ``body``) and return its JSON answer."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data, headers)
        with urllib.request.urlopen(request, timeout=60, context=self.context) as answer:
            return json.load(answer)

    def _run_path(self, run_id: str) -> str:
        return f"/api/v2/dags/{self.dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def trigger(self, conf: dict) -> str:
        """Trigger a run without a logical date; return its id."""
        body = {"logical_date": None, "conf": conf}
        return self.call(f"/api/v2/dags/{self.dag_id}/dagRuns", body)["dag_run_id"]

    def run(self, run_id: str) -> dict:
        """Return a run as the API shows it."""
        return self.call(self._run_path(run_id))

    def tis(self, run_id: str) -> list[dict]:
        """Return a run's task instances."""
        return self.call(f"{self._run_path(run_id)}/taskInstances")["task_instances"]

    def wait(self, run_id: str, timeout_s: float = 420) -> str:
        """Wait until the run ends; return ``success`` or ``failed``."""
        deadline = time.monotonic() + timeout_s
        while (state := self.run(run_id)["state"]) not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {state} after {timeout_s:.0f} s")
            time.sleep(3)
        return state
