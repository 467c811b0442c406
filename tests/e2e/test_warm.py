"""``stagebook warm``: runs handed to a warm process are the runs typed, and fall back where they must.

Each test starts the real ``stagebook warm`` on a project of its own and runs
the real ``stagebook run`` beside it: the run's output, exit code, archive and
metastore are those of a run in its own process.
"""

import signal
import subprocess
import time

import pytest

from tests.support import project
from tests.support.project import WAIT_S, kernels_left, metastore, tries

HANDED = "stagebook: run by the warm process"
READY = "stagebook: ready for the next run"
FAILING = (  # a failure no retry can help: the run ends at once
    "\n# %%\nfrom stagebook import failures\nfrom stagebook.errors import ParamsError\n"
    "failures.install()\nraise ParamsError('edited after the warm child read it')\n"
)


@pytest.fixture
def warm(tiny_project):
    """Start ``stagebook warm`` with the project's environment (``wait_s``); stop it by its PID after."""
    root, home = tiny_project
    started = []

    def start(wait_s: float = 0, *args: str) -> tuple[dict[str, str], subprocess.Popen]:
        env = project.environ(root, home, wait_s)
        process = project.launch(env, project.command("warm", *args), "warm")
        started.append(process)
        project.wait_for(process, "is warm")
        return env, process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def test_a_run_handed_to_the_warm_process_is_the_run_typed_here(warm, tiny_project):
    _, home = tiny_project
    env, process = warm()
    done = project.run(env, ds="2019-11-12")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert HANDED in done.stderr
    assert "cell 2/" in done.stdout + done.stderr  # each cell's progress, on this terminal
    assert "run_summary" in done.stdout and "success" in done.stdout
    assert metastore(home, "2019-11-12")[0] == "success"
    assert [t["state"] for t in tries(home, "2019-11-12")] == ["success"]
    again = project.run(env, ds="2019-11-13")  # the next warm child takes the next run
    assert again.returncode == 0 and HANDED in again.stderr, again.stderr[-3000:]


def test_an_edited_stage_runs_as_edited_and_a_failing_run_exits_1(warm, tiny_project):
    root, home = tiny_project
    env, process = warm()
    source = next((root / "pipelines" / project.DAG_ID).rglob(f"{project.STAGE}.py"))
    kept = source.read_text()
    project.wait_for(process, READY)
    try:
        source.write_text(kept + FAILING)
        done = project.run(env, ds="2019-11-14")
    finally:
        source.write_text(kept)
    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed[-3000:]
    assert "read files that changed since" in done.stderr and HANDED in done.stderr
    assert "edited after the warm child read it" in printed
    assert metastore(home, "2019-11-14")[0] == "failed"
    assert project.run(env, ds="2019-11-15").returncode == 0  # as it was before the edit


def test_another_environment_runs_where_it_was_typed(warm, tiny_project):
    env, process = warm()
    other = {**env, "STAGEBOOK_TEST_OTHER": "1"}
    done = project.run(other, ds="2019-11-16")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("has another environment") == 1 and HANDED not in done.stderr
    same = project.run(env, ds="2019-11-17")  # the warm process goes on serving its own
    assert same.returncode == 0 and HANDED in same.stderr, same.stderr[-3000:]


def test_int_at_the_terminal_stops_the_warm_run_and_term_stops_the_warm_process(warm, tiny_project):
    _, home = tiny_project
    env, process = warm(WAIT_S)
    run = project.start(env, ds="2019-11-18")
    project.wait_for(run, project.WAITING)
    run.send_signal(signal.SIGINT)  # to the command typed: it passes it on
    rc = run.wait(timeout=60)
    printed = project.output(run)
    assert rc == 128 + signal.SIGINT, printed[-3000:]
    assert HANDED in printed and "stagebook: stopped by SIGINT" in printed
    assert metastore(home, "2019-11-18")[0] == "failed"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not list((home / "airflow" / "warm").glob("*.sock"))
    assert kernels_left(home) == []  # spares stopped
    cold = project.run(env, ds="2019-11-19")  # nothing warm: the run is this process's own
    assert cold.returncode == 0 and HANDED not in cold.stderr, cold.stderr[-3000:]


def test_a_run_whose_command_is_killed_outright_stops_as_at_term(warm, tiny_project):
    _, home = tiny_project
    env, process = warm(WAIT_S)
    run = project.start(env, ds="2019-11-08")
    project.wait_for(run, project.WAITING)
    run.kill()  # SIGKILL: nothing of the command's own is left to pass a signal on
    run.wait(timeout=60)
    deadline = time.monotonic() + 60
    while metastore(home, "2019-11-08")[0] != "failed":
        assert time.monotonic() < deadline, metastore(home, "2019-11-08")
        time.sleep(0.5)
    assert [t["state"] for t in tries(home, "2019-11-08")] == ["interrupted"]
    while project.output(process).count(READY) < 2:  # the warm process goes on: a next child
        assert time.monotonic() < deadline and process.poll() is None, project.output(process)
        time.sleep(0.5)


def test_a_second_warm_process_is_refused_and_an_idle_one_stops_with_its_kernels(
    warm, tiny_project
):
    root, home = tiny_project
    env, process = warm(0, "--idle-minutes", "0.1")
    project.wait_for(process, READY)
    second = subprocess.run(project.command("warm"), env=env, capture_output=True, text=True)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already warm here" in second.stderr
    assert process.wait(timeout=120) == 0  # six idle seconds
    assert "no run for 0.1 minutes: stopping" in project.output(process)
    assert kernels_left(home) == []
