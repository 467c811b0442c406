"""The pytest plugin of the tests: an archive per test or module, the metastore, real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import CHANNELS, free_port, params_copy, runs, servers
from tests.support.receivers import HttpReceiver, SmtpReceiver


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


@pytest.fixture(scope="module")
def module_env(tmp_path_factory):
    """A monkeypatch for a module's shared run, and a fresh archive it points at."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("STAGEBOOK_HOME", str(path))
        yield patch, path


@pytest.fixture
def run_pipeline(airflow_db, home):
    """Run the real DAG through ``dag.test()`` for one business date and conf."""
    return runs.run_dag


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real ``redis-server`` on loopback for the session, stopped by its PID."""
    with servers.redis_process(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_db(redis_server):
    """The session's Redis, emptied for one test."""
    redis_server["client"].flushdb()
    return redis_server


@pytest.fixture
def silent_port():
    """The port of a TCP server that accepts connections and never answers: a hung server."""
    with servers.silent_server() as port:
        yield port


@pytest.fixture(scope="module")
def module_params(module_env, tmp_path_factory):
    """The project's params copied for a module's runs: call it with dotted values to set.

    Notification, sink and pipeline settings come only from the params files, never
    from a run's conf, so a test sets them here (``STAGEBOOK_PARAMS_RECOMMENDATIONS`` points at the copy).
    """
    patch, _ = module_env
    folder = tmp_path_factory.mktemp("params")
    params_copy(folder)
    patch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(folder))
    return lambda values: params_copy(folder, values)


@pytest.fixture(scope="module")
def module_receivers(airflow_db, module_env, module_params):
    """A real HTTP receiver (Slack and JSON webhooks) and SMTP server on loopback, per module.

    Yields ``(http, smtp)``; the module's params turn every channel on. The
    channels' connections are environment variables, as Airflow reads them.
    """
    patch, _ = module_env
    with HttpReceiver() as http, SmtpReceiver(free_port()) as smtp:
        env = servers.notification_env(f"{http.url}/slack", f"{http.url}/webhook", smtp.port)
        for name, value in env.items():
            patch.setenv(name, value)
        module_params(
            {"notifications.channels": CHANNELS, "notifications.email_to": ["r@example.com"]}
        )
        yield http, smtp


@pytest.fixture(scope="module")
def module_channels_down(airflow_db, module_env, module_params):
    """Every channel broken: Slack answers 500, the webhook's port is closed, SMTP hangs."""
    patch, _ = module_env
    with HttpReceiver(status=500) as broken, servers.silent_server() as silent:
        webhook = f"http://127.0.0.1:{free_port()}/webhook"
        for name, value in servers.notification_env(f"{broken.url}/slack", webhook, silent).items():
            patch.setenv(name, value)
        module_params(
            {
                "notifications.channels": CHANNELS,
                "notifications.email_to": ["r@example.com"],
                "notifications.timeout_s": 1,
            }
        )
        yield


@pytest.fixture(scope="module")
def fast_retries(module_params):
    """The project's params, with a retry delay of 1 s instead of minutes, for a module."""
    return module_params({"pipeline.retry_delay_s": 1})


def pytest_collection_modifyitems(items):
    """Put the modules marked ``longest`` first and those marked ``last`` last.

    A longest module starts at once on a worker of its own while the others run
    the rest. A ``last`` module waits for what a longest one holds (the machine's
    namespace hosts): dispatched early, it would keep its worker waiting for it.
    """
    items.sort(
        key=lambda item: (
            not item.get_closest_marker("longest"),
            bool(item.get_closest_marker("last")),
        )
    )


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    """A project of the module's own (``tests.support.project``) and its migrated archive.

    Returns ``(root, home)``; commands run on it with ``project.environ(root, home)``.
    """
    from tests.support import project

    root = project.write(tmp_path_factory.mktemp("project"))
    home = tmp_path_factory.mktemp("home")
    done = subprocess.run(
        project.command("setup"), env=project.environ(root, home), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root, home
