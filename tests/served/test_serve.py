"""``stagebook serve`` on a fresh home: every component, the schedule really runs, one per home."""

import json
import os
import subprocess
import sys
import time

import pendulum
import psutil
import pytest

from tests.support import DAG_ID
from tests.support.servers import served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A whole served Airflow (api-server, scheduler, dag-processor, triggerer) on its own home."""
    root = tmp_path_factory.mktemp("served")
    env = {"STAGEBOOK_HOME": str(root), "AIRFLOW_HOME": str(root / "airflow")}
    with served("api-server,scheduler,dag-processor,triggerer", env) as server:
        yield server


def test_it_prints_the_url_and_how_to_log_in(server):
    out = server.out.read_text()
    assert f"reports: {server.base}/stagebook/" in out
    assert "log in as admin, viewer, outsider, forecaster, rita, editor; passwords in" in out
    assert f"  viewer: {server.passwords()['viewer']}" in out


def test_a_second_serve_on_the_same_home_says_which_pid_runs(server):
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "serve", "--port", "1"]
    second = subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert (
        f"already running on {server.env['STAGEBOOK_HOME']} (PID {server.proc.pid})"
        in second.stderr
    )


@pytest.mark.parametrize(
    ("dag_id", "timezone", "hour"),
    [(DAG_ID, "Asia/Tokyo", 10), ("weather", "America/Los_Angeles", 6)],
)
def test_each_pipeline_is_unpaused_in_its_timezone_and_the_scheduler_creates_its_run(
    server, dag_id, timezone, hour
):
    admin = server.token("admin")
    status, body, _ = server.get(f"/api/v2/dags/{dag_id}/details", admin)
    details = json.loads(body)
    assert status == 200 and details["is_paused"] is False
    # Airflow 3 serializes dates in UTC: each schedule's time of day is its own zone's
    interval_end = pendulum.parse(details["next_dagrun_data_interval_end"]).in_tz(timezone)
    assert (interval_end.hour, interval_end.minute) == (hour, 0), body
    deadline = time.monotonic() + 240
    while '"run_type":"scheduled"' not in (
        body := server.get(f"/api/v2/dags/{dag_id}/dagRuns", admin)[1]
    ):
        assert time.monotonic() < deadline, body
        time.sleep(2)


def test_sigterm_stops_every_process_it_started(server):
    children = psutil.Process(server.proc.pid).children(recursive=True)
    assert len(children) >= 4
    server.proc.terminate()
    assert server.proc.wait(90) == 0
    time.sleep(1)
    alive = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert "stopped every process it started" in server.out.read_text()
    assert not (os.path.exists(os.path.join(server.env["AIRFLOW_HOME"], "stagebook-serve.pid")))
