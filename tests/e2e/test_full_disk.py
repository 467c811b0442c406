"""Item 4: a full disk fails the try or the run in one clear line, and loses nothing.

The archive (or the metastore) lives on a small tmpfs of the test's own, which
the stage itself fills while it runs (``STAGEBOOK_TEST_FILL``).
"""

import contextlib
import json
import sqlite3
import subprocess

import pytest

from tests.support import project


@contextlib.contextmanager
def tmpfs(path, size):
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def small_home(tmp_path):
    with tmpfs(tmp_path / "home", "24m") as home:
        yield home


def test_item_4_a_full_archive_fails_the_try_in_one_line_and_keeps_its_notebook(
    tiny_project, small_home
):
    root, home = tiny_project
    env = project.environ(
        root, small_home, AIRFLOW_HOME=str(home / "airflow"), STAGEBOOK_TEST_FILL=str(small_home)
    )
    done = project.run(env, ds="2019-11-05")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    said = [
        line for line in done.stdout.splitlines() if "could not write the report of 01-wait" in line
    ]
    assert said and "No space left on device" in said[0] and "not retried" in said[0]
    assert "wait               failed           tries 1" in done.stdout  # failed, not retried
    [notebook] = small_home.glob("reports/*/2019-11-05/common/*/01-wait.try1.ipynb")
    cells = json.loads(notebook.read_text())["cells"]
    assert any("fill" in "".join(c["source"]) for c in cells)  # archived to its last cell
    assert not list(small_home.rglob(".*.tmp"))  # nothing half-written
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        [(state,)] = db.execute(
            "select state from dag_run where conf like '%2019-11-05%' order by id desc limit 1"
        )
    assert state == "failed"


def test_item_4_a_full_metastore_disk_gives_one_line_and_a_failed_run(tiny_project, tmp_path):
    root, home = tiny_project
    with tmpfs(tmp_path / "airflow", "16m") as airflow:
        env = project.environ(
            root,
            home,
            AIRFLOW_HOME=str(airflow),
            STAGEBOOK_TEST_FILL=str(airflow),
            STAGEBOOK_TEST_FILL_KEEP_KB="0",
        )
        done = project.run(env, ds="2019-11-06")
        (airflow / "filler").unlink()
        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
        [said] = done.stderr.splitlines()[-1:]
        assert said == (
            f"stagebook: the Airflow metastore in {airflow} could not be written "
            "(database or disk is full): free space there, then run again"
        )
        del env["STAGEBOOK_TEST_FILL"]  # with space again, the next command settles the run
        nxt = project.run(env, ds="2019-11-07")
        assert nxt.returncode == 0, nxt.stdout[-3000:] + nxt.stderr[-3000:]
        assert "2019-11-06 was left running by process" in nxt.stdout
        with sqlite3.connect(airflow / "airflow.db") as db:
            [(state,)] = db.execute(
                "select state from dag_run where conf like '%2019-11-06%' order by id desc limit 1"
            )
        assert state == "failed"
