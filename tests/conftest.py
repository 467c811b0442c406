"""Test set-up: a throwaway archive and Airflow home, set before anything imports airflow."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="stagebook-tests-"))
os.environ["STAGEBOOK_HOME"] = str(_ROOT / "home")
os.environ["AIRFLOW_HOME"] = str(_ROOT / "airflow")
os.environ.pop("STAGEBOOK_PARAMS", None)

from stagebook import settings  # noqa: E402

settings.apply_airflow_environ()

# Tiny synthetic data: fast enough to run every stage of both phases in a test.
TINY = {
    "data.source": "synthetic",
    "data.events_per_day": 400,
    "data.n_users": 150,
    "data.n_items": 60,
    "tables.train_days": 5,
    "train.epochs": 2,
}


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metastore once."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh archive for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("STAGEBOOK_HOME", str(path))
    return path


@pytest.fixture
def run_pipeline(airflow_db, home):
    """Run the real DAG through ``dag.test()`` for one business date and conf."""
    from stagebook import cli

    def run(ds, conf, only=None):
        return cli.run_dag(ds, conf, only=only)

    return run


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real ``redis-server`` (Debian's package; ``make test`` installs it) on loopback.

    Started on a free port with no persistence, stopped by its PID at the end.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make services` installs Debian's redis-server")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    command += ["no", "--dir", str(folder), "--logfile", str(folder / "redis.log")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

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
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def redis_db(redis_server):
    """The session's Redis, emptied for one test."""
    redis_server["client"].flushdb()
    return redis_server


def put_connection(conn_id: str, **fields) -> None:
    """Create or replace an Airflow connection in the metastore."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    extra = fields.pop("extra", None)
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(
            Connection(conn_id=conn_id, extra=json.dumps(extra) if extra else None, **fields)
        )


@pytest.fixture
def redis_connection(airflow_db, redis_db):
    """The Airflow connection ``stagebook_redis``, in the metastore, to the test's Redis."""
    put_connection(
        "stagebook_redis",
        conn_type="redis",
        host=redis_db["host"],
        port=redis_db["port"],
        extra={"stream": "stagebook:test", "db": 0},
    )
    return redis_db


CHANNELS = ["log", "slack", "email", "webhook"]


def put_notification_connections(slack_url: str, webhook_url: str, smtp_port: int) -> None:
    """The three channels' Airflow connections, in the metastore."""
    put_connection("stagebook_slack", conn_type="slackwebhook", password=slack_url)
    put_connection("stagebook_webhook", conn_type="http", host=webhook_url)
    put_connection(
        "stagebook_smtp",
        conn_type="smtp",
        host="127.0.0.1",
        port=smtp_port,
        extra={"disable_ssl": True, "disable_tls": True},
    )


@pytest.fixture
def receivers(airflow_db):
    """A real HTTP receiver (Slack and JSON webhooks) and SMTP server on loopback.

    Yields ``(http, smtp, overrides)``: the overrides turn every channel on.
    """
    from tests.receivers import HttpReceiver, SmtpReceiver

    with HttpReceiver() as http, SmtpReceiver(free_port()) as smtp:
        put_notification_connections(f"{http.url}/slack", f"{http.url}/webhook", smtp.port)
        overrides = {
            "notifications.channels": CHANNELS,
            "notifications.email_to": ["r@example.com"],
        }
        yield http, smtp, overrides


@pytest.fixture
def silent_port():
    """The port of a TCP server that accepts connections and never answers: a hung server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def channels_down(airflow_db, silent_port):
    """Every channel broken: Slack answers 500, the webhook's port is closed, SMTP hangs."""
    from tests.receivers import HttpReceiver

    with HttpReceiver(status=500) as broken:
        put_notification_connections(
            f"{broken.url}/slack", f"http://127.0.0.1:{free_port()}/webhook", silent_port
        )
        yield {
            "notifications.channels": CHANNELS,
            "notifications.email_to": ["r@example.com"],
            "notifications.timeout_s": 1,
        }
