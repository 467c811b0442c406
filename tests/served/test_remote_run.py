"""``stagebook run`` against ``stagebook serve``: triggered through the REST API, followed, seen in the UI.

A project of one pipeline (``counted``: one stage, unscheduled, no retry) on
its own home, served whole (api-server, scheduler, dag-processor). The CLI
finds that serve, triggers the run as the home's admin, prints the task states
and the stage's per-cell progress as they come, and exits with the run's
outcome; the run, and its task log, are then the UI's, through the REST API.
"""

import json
import re
import shutil
import subprocess
import sys
from urllib.parse import quote

import jupytext
import nbformat
import pytest

from stagebook import settings
from tests.support.servers import served

GOOD, BAD = "2019-11-20", "2019-11-21"  # the stage fails on BAD
DECLARATION = '''"""One stage that counts, and fails on 2019-11-21."""

from stagebook.declaration import Pipeline, Stage

PIPELINE = Pipeline(
    schedule=None,
    timezone="UTC",
    start="2019-11-01",
    stages=(Stage("count", "01-count", records=("numbers",)),),
)
'''
CELLS = [
    "ds = None\nphase = 'common'\ntry_number = 1\nrun_id = 'manual'\noverrides = {}",
    "import stagebook\n\nctx = stagebook.stage('01-count', ds=ds, phase=phase, "
    "try_number=try_number, run_id=run_id, overrides=overrides)",
    f"assert ds != '{BAD}', f'no events for {{ds}}'",
    "stagebook.record('numbers', {'total': sum(range(10))})",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    folder = root / "pipelines" / "counted"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "params").mkdir()
    (root / "dags").mkdir()
    shutil.copy(settings.root() / "dags" / "pipelines.py", root / "dags")
    shutil.copytree(settings.root() / "plugins", root / "plugins")
    (folder / "pipeline.py").write_text(DECLARATION)
    (folder / "params" / "common.yaml").write_text("pipeline:\n  retries: 0\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "stagebook", "display_name": "s", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    jupytext.write(nb, folder / "notebooks" / "01-count.py", fmt="py:percent")
    home = tmp_path_factory.mktemp("home")
    env = {
        "STAGEBOOK_ROOT": str(root),
        "STAGEBOOK_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
    }
    with served("api-server,scheduler,dag-processor", env) as server:
        yield server


def _run(server, ds):
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "run", "--ds", ds]
    done = subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=600)
    run_id = next(
        line.rsplit("run ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith("stagebook: triggered counted")
    )
    return done, run_id


@pytest.fixture(scope="module")
def succeeded(server):
    return _run(server, GOOD)


@pytest.fixture(scope="module")
def failed(server, succeeded):
    return _run(server, BAD)


def test_a_run_on_a_served_airflow_is_triggered_there_and_followed_to_its_success(
    server, succeeded
):
    done, run_id = succeeded
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"triggered counted for {GOOD} on {server.base}: run manual__" in done.stdout
    lines = done.stdout.splitlines()
    assert any(line.split() == ["count", "running"] for line in lines), done.stdout
    assert any(line.split() == ["count", "success"] for line in lines), done.stdout
    assert re.search(r"^  count: cell \d/\d started: assert ds != ", done.stdout, re.M)  # progress
    progress = [line for line in lines if line.startswith("  count: cell ")]
    assert len(progress) == len(set(progress)), done.stdout  # each line once, as it came
    assert f"in the UI: {server.base}/dags/counted/runs/{run_id}" in done.stdout


def test_the_triggered_run_and_its_task_log_are_in_the_uis_api(server, succeeded):
    _, run_id = succeeded
    admin = server.token("admin")
    run = f"/api/v2/dags/counted/dagRuns/{quote(run_id, safe='')}"
    status, body, _ = server.get(run, admin)
    assert status == 200 and json.loads(body)["state"] == "success"
    assert json.loads(body)["conf"]["ds"] == GOOD
    status, body, _ = server.get(f"{run}/taskInstances/count/logs/1?full_content=true", admin)
    assert status == 200
    assert re.search(r"cell (\d)/\1 done", body), body[
        -2000:
    ]  # the worker's, read by the api-server


def test_a_failing_date_exits_1_with_the_error_and_the_replay_command(server, failed):
    done, run_id = failed
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.split() == ["count", "failed"] for line in lines), done.stdout
    assert f"run {run_id}: failed (ds {BAD})" in done.stdout
    assert f"replay: stagebook replay '{run_id}' count --until-failure" in done.stdout
    status, body, _ = server.get(
        f"/api/v2/dags/counted/dagRuns/{quote(run_id, safe='')}", server.token("admin")
    )
    assert status == 200 and json.loads(body)["state"] == "failed"
