"""Item 3: a run you can stop. TERM and INT stop it at once; a killed run is settled later.

Each test starts the real ``stagebook run`` on a project of its own whose stage
waits two minutes, stops it in that cell, and reads what it left: the exit code,
the metastore, the try's sidecar, the kernels.
"""

import os
import signal
import time

import pytest

from stagebook.orchestration.reviewing import review
from tests.support import project
from tests.support.project import WAIT_S, kernels_left, metastore, tries


@pytest.mark.parametrize(
    ("signum", "ds"), [(signal.SIGTERM, "2019-11-10"), (signal.SIGINT, "2019-11-11")]
)
def test_item_3_term_and_int_stop_the_run_at_once_archived_as_interrupted(tiny_project, signum, ds):
    root, home = tiny_project
    run = project.start(project.environ(root, home, WAIT_S), ds=ds)
    project.wait_for(run, project.WAITING)
    stopped_at = time.monotonic()
    run.send_signal(signum)
    rc = run.wait(timeout=60)
    took = time.monotonic() - stopped_at
    printed = project.output(run)
    assert rc == 128 + signum, printed[-3000:]
    assert took < WAIT_S / 2, printed[-3000:]  # not the cell's two minutes, nor a retry's delay
    assert f"stagebook: stopped by {signal.Signals(signum).name}" in printed
    [archived] = tries(home, ds)
    assert archived["state"] == "interrupted"
    assert f"interrupted by {signal.Signals(signum).name}" in archived["error"]
    assert (home / "reports" / project.DAG_ID / ds).glob("common/*/01-wait.try1.html")
    state, tis = metastore(home, ds)
    assert state == "failed"
    assert tis["wait"] == ("failed", 1)  # not up_for_retry: nothing is retried
    assert tis["run_summary"][0] != "running"
    assert kernels_left(home) == []


def test_item_3_timeout_stops_stagebook_run_by_itself(tiny_project):
    root, home = tiny_project
    env = project.environ(root, home, WAIT_S)
    command = ["timeout", str(WAIT_S * 5), *project.command("run", "--ds", "2019-11-12")]
    run = project.launch(env, command, "timeout")
    try:
        project.wait_for(run, project.WAITING)
        # GNU timeout's timer is a SIGALRM to itself: sent once the stage waits, it fires the
        # timeout exactly as the timer would, however long a loaded machine took to get there.
        fired_at = time.monotonic()
        run.send_signal(signal.SIGALRM)
        rc = run.wait(timeout=60)
    finally:
        if run.poll() is None:  # timeout leads a process group of its own: end it all
            os.killpg(run.pid, signal.SIGKILL)
    assert rc == 124, project.output(run)[-3000:]  # timeout's own code: its TERM stopped the run
    assert time.monotonic() - fired_at < WAIT_S / 2
    assert metastore(home, "2019-11-12")[0] == "failed"
    assert [t["state"] for t in tries(home, "2019-11-12")] == ["interrupted"]


def test_item_3_after_a_kill_9_the_next_command_marks_the_run_failed_in_one_line(tiny_project):
    root, home = tiny_project
    run = project.start(project.environ(root, home, 15), ds="2019-11-13")
    project.wait_for(run, project.WAITING)
    run.kill()
    run.wait()
    assert metastore(home, "2019-11-13")[0] == "running"  # what kill -9 leaves
    assert [t["state"] for t in tries(home, "2019-11-13")] == ["running"]
    shown = [t.state for t in review.tries([project.DAG_ID], home) if t.ds == "2019-11-13"]
    assert shown == ["lost"]  # the reviewing app never shows it running: its process is gone

    nxt = project.run(project.environ(root, home), ds="2019-11-14")
    assert nxt.returncode == 0, nxt.stdout[-3000:] + nxt.stderr[-3000:]
    said = [line for line in nxt.stdout.splitlines() if "which is gone" in line]
    assert len(said) == 1, nxt.stdout[-3000:]
    assert "2019-11-13" in said[0] and "marked failed" in said[0] and "common/01-wait" in said[0]
    state, tis = metastore(home, "2019-11-13")
    assert state == "failed" and tis["wait"][0] == "failed"
    [lost] = tries(home, "2019-11-13")
    assert lost["state"] == "lost" and "is gone" in lost["error"]
