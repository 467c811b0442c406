"""Each guide's commands are run by a test.

A guide's commands are the lines of its ```console blocks that start with
``$ `` (a trailing ``\\`` continues one on the next line; a heredoc takes its
body up to its terminator); the other lines are what the reader sees printed.

The guides for a new project run here, for real, in an empty temporary folder
with this repository's ``.venv/bin`` first on ``PATH`` (its editable install's
checkout is a project too: the commands must work on the reader's): start-a-pipeline, then
add-a-stage and add-a-notification-channel in the project it made. The guides
that need a served Airflow or the cluster are not started here: each of their
commands must be one that an existing test of ``tests/served``, ``tests/e2e``
or ``tests/cluster`` runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.receivers import HttpReceiver

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "docs" / "guides"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.M | re.S)
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
# Installing stagebook into a new environment: the test uses this repository's instead.
INSTALL = re.compile(
    r"^(python3(\.11)? -m venv |source \S+/activate|pip install |python -m ipykernel)"
)
WEBHOOK = "127.0.0.1:8765"  # the guide's receiver; the test's own listens elsewhere
# Where the guides that need a served Airflow or the cluster have their commands run.
RUN_ELSEWHERE = {
    "review-and-approve": ("tests/served", "tests/e2e"),
    "deploy-on-several-machines": (
        "tests/cluster/test_cluster.py",
        "tests/cluster/test_multihost.py",
    ),
}
# What an entry point of the deployment runs, as tests/cluster calls it.
DEPLOY_CALLS = {
    "up": "cluster.converge(",
    "down": "cluster.down(",
    "restore": '"stagebook_deploy.cluster", "restore"',
}
MULTIHOST_CALLS = {"up": "nshosts.up(", "down": "nsteardown.down("}
CLI = re.compile(r"stagebook\.orchestration\.commands(\.cli\b| import cli\b)")


def commands(guide: str) -> list[str]:
    """Return the commands of ``docs/guides/<guide>.md``, in order, without their ``$ ``."""
    found = []
    for block in CONSOLE.findall((GUIDES / f"{guide}.md").read_text()):
        lines = iter(block.splitlines())
        for line in lines:
            if not line.startswith("$ "):
                continue  # what the command prints
            command = [line[2:]]
            while command[-1].endswith("\\"):
                command.append(next(lines))
            if heredoc := HEREDOC.search(command[0]):
                command.extend(_through(lines, heredoc.group(1)))
            found.append("\n".join(command))
    assert found, f"{guide}.md has no ```console block with a `$ ` command"
    return found


def _through(lines, terminator: str) -> list[str]:
    body = []
    for line in lines:
        body.append(line)
        if line == terminator:
            return body
    raise AssertionError(f"a heredoc without its terminator {terminator}")


def guide_env(tmp: Path) -> dict[str, str]:
    """Return a reader's environment: no project named, a home of its own, this .venv first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGEBOOK_", "AIRFLOW"))}
    if templates := os.environ.get("STAGEBOOK_METASTORE_TEMPLATES"):
        env["STAGEBOOK_METASTORE_TEMPLATES"] = templates  # the session's migrated metastore
    env.pop("VIRTUAL_ENV", None)
    home = tmp / "home"
    env |= {
        "STAGEBOOK_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    }
    return env


def run_guide(guide: str, cwd: Path, env: dict[str, str], replace: dict[str, str] | None = None):
    """Run the guide's commands in one bash, as a reader's terminal; stop at the first that fails."""
    script = ["set -o pipefail"]
    for command in commands(guide):
        if INSTALL.match(command):
            continue
        for old, new in (replace or {}).items():
            command = command.replace(old, new)
        said = shlex.quote(f"{guide}: `{command.splitlines()[0]}` exited")
        script += [command, f'rc=$?; [ $rc -eq 0 ] || {{ echo {said} "$rc" >&2; exit $rc; }}']
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def reports(env: dict[str, str], dag_id: str) -> set[str]:
    """Return the stages (``NN-name``) that have an HTML report of ``dag_id`` in the archive."""
    folder = Path(env["STAGEBOOK_HOME"]) / "reports" / dag_id
    return {p.name.split(".")[0] for p in folder.glob("*/*/*/*.html")}


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The folder where start-a-pipeline's commands ran, and their environment."""
    tmp = tmp_path_factory.mktemp("reader")
    env = guide_env(tmp)
    (tmp / "work").mkdir()
    # Where `stagebook new pipeline hello` must not write: this checkout is a project too.
    elsewhere = [ROOT / "pipelines" / "hello", ROOT / "tests" / "test_hello.py"]
    assert not [p for p in elsewhere if p.exists()], f"{elsewhere}: remove them first"
    try:
        run_guide("start-a-pipeline", tmp / "work", env)
    finally:
        leaked = [str(p) for p in elsewhere if p.exists()]
        for path in (p for p in elsewhere if p.exists()):  # none was there before: this test's
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    assert not leaked, f"stagebook new wrote into this checkout, not the reader's folder: {leaked}"
    return tmp / "work" / "hello-project", env


def test_start_a_pipeline_makes_a_project_that_runs_and_leaves_its_reports(started):
    project, env = started
    assert (project / "pipelines" / "hello" / "notebooks" / "00-extract.py").is_file()
    assert {"00-extract", "10-report"} <= reports(env, "hello")


def test_add_a_stage_adds_one_that_runs_after_the_others(started):
    project, env = started
    run_guide("add-a-stage", project, env)
    declaration = (project / "pipelines" / "hello" / "pipeline.py").read_text()
    assert 'Stage("score", "20-score"' in declaration
    assert {"00-extract", "10-report", "20-score"} <= reports(env, "hello")


def test_add_a_notification_channel_sends_the_run_to_the_webhook(started):
    project, env = started
    with HttpReceiver() as receiver:
        run_guide("add-a-notification-channel", project, env, {WEBHOOK: receiver.url[7:]})
    got = receiver.bodies("/stagebook")
    assert got, "the webhook received nothing"
    assert {(m["dag_id"], m["ds"]) for m in got} == {("hello", "2024-01-03")}
    assert any(m["event"] == "summary" and m["task_id"] is None for m in got), got
    assert any(m["event"] == "success" and m["task_id"] == "extract" for m in got), got


def _unit(path: Path) -> str:
    """Return a test file's text with the helper modules it imports (tests/support, tests/cluster)."""
    text = path.read_text()
    helpers = []
    for package in ("support", "cluster"):
        names = re.findall(rf"from tests\.{package}\.(\w+) import", text)
        for imported in re.findall(rf"from tests\.{package} import ([\w, ]+)", text):
            names += [n.strip() for n in imported.split(",")]
        helpers += [ROOT / "tests" / package / f"{n}.py" for n in names]
    return "\n".join([text, *(h.read_text() for h in helpers if h.is_file())])


def evidence(command: str) -> list[str]:
    """Return what a test that runs ``command`` holds: the words it calls it with."""
    words = shlex.split(command.split("&&")[-1].strip(), comments=True)
    words = [w for w in words if not re.match(r"^[A-Z_]+=", w)]  # the variables set before it
    if words[0] == "make":
        recipe = re.search(
            rf"^{re.escape(words[1])}:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M
        )
        assert recipe, f"make {words[1]}: no such target in the Makefile"
        if not recipe.group(1).startswith("$(PY) -m "):
            return [f"make {words[1]}"]  # a recipe of its own: a test runs the make target
        words = shlex.split(recipe.group(1).replace("$(PY) -m ", "python -m "))
    if words[:3] == ["python", "-m", "stagebook_deploy.cluster"]:
        return [DEPLOY_CALLS[words[3]]]
    if words[:3] == ["python", "-m", "stagebook_deploy.multihost"]:
        return [MULTIHOST_CALLS[words[3]]]
    if words[:3] == ["python", "-m", "stagebook.orchestration.commands.cli"]:
        words = ["stagebook", *words[3:]]
    if words[0] != "stagebook":
        return [f'"{words[0]}"']
    options = [f'"{w.split("=")[0]}"' for w in words[2:] if w.startswith("--")]
    return [CLI.pattern, f'"{words[1]}"', *options]


@pytest.mark.parametrize("guide", sorted(RUN_ELSEWHERE))
def test_each_command_of_a_served_guide_is_run_by_an_existing_test(guide):
    files = []
    for place in RUN_ELSEWHERE[guide]:
        where = ROOT / place
        files += sorted(where.rglob("test_*.py")) if where.is_dir() else [where]
    units = {path.relative_to(ROOT): _unit(path) for path in files}
    not_run = []
    for command in commands(guide):
        wanted = evidence(command)
        if not any(all(re.search(_pattern(w), text) for w in wanted) for text in units.values()):
            not_run.append(f"{command.splitlines()[0]}  (looked for {', '.join(wanted)})")
    assert not not_run, f"{guide}: run by no test of {RUN_ELSEWHERE[guide]}: {not_run}"


def _pattern(word: str) -> str:
    return word if word == CLI.pattern else re.escape(word)
