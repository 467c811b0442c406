"""A small project of a test's own (one DAG, one stage), run by the real ``stagebook`` command.

The stage prints its environment and its connection, then waits
``STAGEBOOK_TEST_WAIT_S`` seconds in a cell of its own, so a test can stop a run
in the middle of a stage, run two at once, or look for a secret everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from stagebook import settings
from tests.support.stages import stage_notebook

DAG_ID = "tiny_pipeline"
STAGE = "01-wait"
PASSWORD = "Tiny-S3cret/P4ss+word"
CONNECTION = (
    '{"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "password": "' + PASSWORD + '"}'
)
WAITING = "started: print('waiting'"  # the waiting cell's progress line, in the CLI's output
WAIT_S = 120  # a waiting cell stopped by a test: far longer than any stop may take

DECLARATION = f'''"""A test's own pipeline: one stage that waits, then the run summary."""

from stagebook.declaration import Pipeline, Stage

PIPELINE = Pipeline(
    schedule=None,
    timezone="UTC",
    start="2019-11-01",
    tags=("test",),
    stages=(
        # the connection id is a params value, as every stage's is: notifications' webhook here
        Stage("wait", "{STAGE}", records=("leak",), connections=("notifications.webhook_conn_id",)),
    ),
)
'''

CELLS = [
    "import json, os, time\nimport stagebook",
    "print(json.dumps(dict(os.environ)))\nos.environ['AIRFLOW_CONN_LEAKY']",
    "from airflow.sdk import Connection\n"
    "conn = Connection.from_json(os.environ['AIRFLOW_CONN_LEAKY'], conn_id='leaky')\n"
    "print(conn.get_uri())\nconn.password",
    "print('waiting', flush=True)\ntime.sleep(float(os.environ.get('STAGEBOOK_TEST_WAIT_S', '0')))",
    "stagebook.record('leak', {'conn': os.environ['AIRFLOW_CONN_LEAKY']})",
    # STAGEBOOK_TEST_FILL: fill that folder's disk, keeping STAGEBOOK_TEST_FILL_KEEP_KB (96) free
    "fill = os.environ.get('STAGEBOOK_TEST_FILL')\n"
    "if fill:\n"
    "    keep = int(os.environ.get('STAGEBOOK_TEST_FILL_KEEP_KB', '96')) * 1024\n"
    "    free = os.statvfs(fill).f_bavail * os.statvfs(fill).f_frsize - keep\n"
    "    with open(os.path.join(fill, 'filler'), 'wb') as filler:\n"
    "        os.posix_fallocate(filler.fileno(), 0, free)",
]

PARAMS = {
    "schema": "stagebook.params:Params",
    "notifications": {
        "channels": ["log"],
        "events": ["failure"],
        "slack_conn_id": "stagebook_slack",
        "email_conn_id": "stagebook_smtp",
        "email_to": [],
        "email_from": "stagebook@localhost",
        "webhook_conn_id": "leaky",  # the stage's connection (the log channel alone sends)
        "timeout_s": 5,
    },
    "pipeline": {
        "phases": [],
        "retries": 1,
        "retry_delay_s": 300,
        "cell_timeout_s": 600,
        "start_timeout_s": 60,
        "overridable": [],
        "queues": {},
    },
}


def write(root: Path) -> Path:
    """Write the project under ``root`` (the dags folder's loader, one pipeline); return it."""
    (root / "dags").mkdir(parents=True)
    shutil.copy(settings.dags_dir() / "pipelines.py", root / "dags")
    folder = root / "pipelines" / DAG_ID
    stage_notebook(root, STAGE, CELLS, pipeline=DAG_ID)
    (folder / "pipeline.py").write_text(DECLARATION)
    (folder / "params").mkdir()
    (folder / "params" / "common.yaml").write_text(yaml.safe_dump(PARAMS))
    return root


def environ(root: Path, home: Path, wait_s: float = 0, **more: str) -> dict[str, str]:
    """Return the environment of a ``stagebook`` command on this project and archive.

    ``more``: further variables, e.g. ``AIRFLOW_HOME`` (default: the archive's ``airflow/``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK"))}
    return {
        **env,
        **more,
        "STAGEBOOK_ROOT": str(root),
        "STAGEBOOK_HOME": str(home),
        "STAGEBOOK_TEST_WAIT_S": str(wait_s),
        "AIRFLOW_CONN_LEAKY": CONNECTION,
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
    }


def command(*args: str) -> list[str]:
    """Return the ``stagebook`` command line with ``args``."""
    return [sys.executable, "-m", "stagebook.orchestration.commands.cli", *args]


def run(env: dict[str, str], *args: str, ds: str = "2019-11-20") -> subprocess.CompletedProcess:
    """Run ``stagebook run --ds DS`` to its end; return what it printed and its exit code."""
    return subprocess.run(
        command("run", "--ds", ds, *args), env=env, capture_output=True, text=True, timeout=300
    )


# A process started in the background of a shell ignores INT; one at a terminal does not.
AT_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def start(env: dict[str, str], *args: str, ds: str = "2019-11-20") -> subprocess.Popen:
    """Start ``stagebook run --ds DS`` (INT delivered as at a terminal); output in ``.out``."""
    return launch(env, [sys.executable, "-c", AT_A_TERMINAL, *command("run", "--ds", ds, *args)])


def launch(env: dict[str, str], argv: list[str], name: str = "run") -> subprocess.Popen:
    """Start ``argv``; what it prints (both streams) goes to ``.out``, in the archive folder."""
    out = Path(env["STAGEBOOK_HOME"]) / f"{name}-{time.monotonic_ns()}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as writing:
        process = subprocess.Popen(argv, env=env, stdout=writing, stderr=subprocess.STDOUT)
    process.out = out  # type: ignore[attr-defined]
    return process


def output(process: subprocess.Popen) -> str:
    """Return what a started command printed so far."""
    return process.out.read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(process: subprocess.Popen, text: str, timeout_s: float = 120) -> None:
    """Wait until the command printed ``text``; fail naming what it printed if it does not."""
    deadline = time.monotonic() + timeout_s
    while text not in output(process):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"never printed {text!r}:\n{output(process)[-3000:]}")
        time.sleep(0.2)


def tries(home: Path, ds: str) -> list[dict]:
    """Return the sidecars of the date's tries of the waiting stage, by run folder."""
    found = sorted((home / "reports" / DAG_ID / ds).glob(f"common/*/{STAGE}.try*.json"))
    return [json.loads(p.read_text()) for p in found]


def metastore(home: Path, ds: str) -> tuple[str, dict[str, tuple[str, int]]]:
    """Return (run state, {task: (state, try number)}) of the date's newest run."""
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        run_id, state = db.execute(
            "select run_id, state from dag_run where dag_id = ? and conf like ? order by id desc",
            (DAG_ID, f'%"{ds}"%'),
        ).fetchone()
        tis = db.execute(
            "select task_id, state, try_number from task_instance where run_id = ?", (run_id,)
        ).fetchall()
    return state, {task: (ti_state, number) for task, ti_state, number in tis}


def kernels_left(home: Path) -> list[Path]:
    """Return the connection files of the kernels still running for this archive."""
    return sorted((home / "jupyter-runtime").glob("kernel-*.json"))
