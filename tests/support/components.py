"""Airflow's own components on loopback, on a metastore, DAGs folder and plugins folder of a test's own.

``stagebook serve`` serves the project's DAGs; a test with a DAG of its own
(a deadline a few seconds away, say) starts the components it needs here,
through the same code (:mod:`stagebook.orchestration.commands.serve`), on a fresh
Airflow home, and talks to them through the api-server's REST API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stagebook import settings
from stagebook.orchestration.commands import serve
from tests.support import free_port


@dataclasses.dataclass
class Components:
    """Running Airflow components: their URL, environment and logs."""

    base: str
    env: dict[str, str]
    logs: Path

    def airflow(self, *args: str) -> None:
        """Run an ``airflow`` command on these components' home; fail with its output."""
        airflow = Path(sys.executable).with_name("airflow")
        done = subprocess.run([str(airflow), *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, (
            f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )

    def token(self, user: str = "admin") -> str:
        """Return a JWT for ``user`` from the api-server's own ``/auth/token``."""
        passwords = json.loads(
            Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text()
        )
        body = {"username": user, "password": passwords[user]}
        return self.call("POST", "/auth/token", body, token="")["access_token"]

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Send a JSON request to the api-server (as admin unless ``token``); return its JSON."""
        headers = {"Content-Type": "application/json"}
        token = self.token() if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data, headers, method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    def log(self, component: str) -> str:
        """Return the end of one component's output (for a failure's message)."""
        path = self.logs / f"{component}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""


@contextlib.contextmanager
def airflow_components(
    home: Path,
    dags: Path,
    plugins: Path,
    names: Sequence[str] = ("api-server", "scheduler", "triggerer"),
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Components]:
    """Run Airflow's ``names`` on a fresh home under ``home`` until the block ends.

    The metastore is migrated first; the DAGs of ``dags`` are serialized by
    :meth:`Components.airflow` (``dags reserialize``) when the test has written
    them: no dag-processor runs. Every process is stopped by its process group.
    """
    port = free_port()
    own = {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        **(extra_env or {}),
    }
    with settings.environ(own):  # serve_environ reads the home from the environment
        env = {**serve.serve_environ("127.0.0.1", port), **own, "PYTHONPATH": str(settings.root())}
    logs = home / "logs"
    found = Components(env["AIRFLOW__API__BASE_URL"], env, logs)
    found.airflow("db", "migrate")
    processes = [serve.start(name, env, logs) for name in names]
    try:
        if "api-server" in names:
            serve.wait_healthy(found.base, processes)
        yield found
    finally:
        serve.stop(processes)
