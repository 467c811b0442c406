"""Real servers on loopback for the tests: redis-server, and a server that never answers."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
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
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
