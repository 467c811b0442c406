"""Real servers on loopback for the tests: redis-server, ``stagebook serve``, a server that never answers."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stagebook import settings
from tests.support import free_port


@contextlib.contextmanager
def redis_process(folder: Path) -> Iterator[dict]:
    """A real ``redis-server`` (Debian's package; ``make test`` installs it) on a free port.

    No persistence; stopped by its PID at the end.
    """
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make services` installs Debian's redis-server")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    command += ["no", "--dir", str(folder), "--logfile", str(folder / "redis.log")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, decode_responses=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
            time.sleep(0.05)
    try:
        yield {"host": "127.0.0.1", "port": port, "client": client}
    finally:
        stop(proc, signal.SIGTERM, 10)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """Yield the port of a TCP server that accepts connections and never answers: a hung server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def connection_env(conn_id: str, **fields) -> dict[str, str]:
    """Return the environment variable that defines an Airflow connection, as Airflow reads it."""
    return {settings.connection_variable(conn_id): json.dumps(fields)}


def notification_env(slack_url: str, webhook_url: str, smtp_port: int) -> dict[str, str]:
    """Return the three channels' Airflow connections as environment variables."""
    return {
        **connection_env("stagebook_slack", conn_type="slackwebhook", password=slack_url),
        **connection_env("stagebook_webhook", conn_type="http", host=webhook_url),
        **connection_env(
            "stagebook_smtp",
            conn_type="smtp",
            host="127.0.0.1",
            port=smtp_port,
            extra={"disable_ssl": True, "disable_tls": True},
        ),
    }


@dataclasses.dataclass
class Served:
    """A running ``stagebook serve``: its process, URL, output and users' passwords."""

    proc: subprocess.Popen
    base: str
    out: Path
    env: dict[str, str]

    def passwords(self) -> dict[str, str]:
        return json.loads(
            Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text()
        )

    def token(self, user: str) -> str:
        """Return a JWT for ``user`` from the api-server's own ``/auth/token``."""
        body = json.dumps({"username": user, "password": self.passwords()[user]}).encode()
        request = urllib.request.Request(
            f"{self.base}/auth/token", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)["access_token"]

    def get(self, path: str, token: str | None = None) -> tuple[int, str, dict[str, str]]:
        """GET ``path``; return status, body and headers (errors included, never raised)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return (
                    answer.status,
                    answer.read().decode(),
                    {k.lower(): v for k, v in answer.headers.items()},
                )
        except urllib.error.HTTPError as error:
            return (
                error.code,
                error.read().decode(),
                {k.lower(): v for k, v in error.headers.items()},
            )


def stop(proc: subprocess.Popen, sig: signal.Signals, wait_s: float = 60) -> None:
    """Send ``sig`` to the process (by its PID) if it still runs; kill it if it outlives ``wait_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


USERS = "admin:admin,viewer:viewer,outsider:viewer,forecaster:viewer,rita:user,editor:user"


@contextlib.contextmanager
def served(components: str, extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``stagebook serve`` on a free loopback port until the block ends, then SIGTERM its PID.

    Users admin and viewer, ``outsider`` (a viewer whom the auth manager of
    ``tests.support.auth`` refuses every DAG), ``forecaster`` (who may read the
    weather pipeline's only), and ``rita`` and ``editor``, who may edit DAGs (role
    ``user``); all-admins mode off. Every pipeline is served: none
    is the current one.
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(settings.root()),
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.support.auth.PerDagAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        **(extra_env or {}),
    }
    env.pop("STAGEBOOK_PIPELINE", None)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(
        Path(env["AIRFLOW_HOME"]) / "passwords.json"
    )
    out = Path(tempfile.mkdtemp(prefix="serve-")) / "out.txt"
    command = [
        sys.executable,
        "-m",
        "stagebook.orchestration.commands.cli",
        "serve",
        "--port",
        str(port),
    ]
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [*command, "--components", components], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 240
    while "stagebook: serving" not in out.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"stagebook serve did not start:\n{out.read_text()[-5000:]}")
        time.sleep(0.5)
    try:
        yield Served(proc, f"http://127.0.0.1:{port}", out, env)
    finally:
        stop(proc, signal.SIGTERM)
        shutil.rmtree(out.parent, ignore_errors=True)
