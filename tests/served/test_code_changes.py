"""Change one line of a stage's code and run the next date: the compare and trends pages say so.

A copy of the project's recommendation pipeline and DAG file, a git checkout of
its own (``STAGEBOOK_ROOT``), runs for real through Airflow (``dag.test()``) on
two dates, prod only, on tiny data; between the runs one line of
``30-inference``'s code changes, uncommitted. Then one api-server
(``stagebook serve --components api-server``) and Debian's chromium.

``STAGEBOOK_SCREENSHOTS=<folder>`` keeps the pages' screenshots there.
"""

import datetime as dt
import json
import shutil
import subprocess

import pytest

from stagebook import settings, storage
from tests.support import DAG_ID, PIPELINE, TINY, browsers
from tests.support.runs import run_dag
from tests.support.servers import served

FIRST, SECOND = dt.date(2019, 11, 5), dt.date(2019, 11, 6)
CONF = {"phases": ["prod"], "overrides": {**TINY, "data.anchor_date": "2019-11-30"}}
SOURCE = f"pipelines/{PIPELINE}/notebooks/30-inference.py"
OLD = "print(ctx.paths.recommendations)"
NEW = 'print("recommendations written to", ctx.paths.recommendations)'


def git(root, *args):
    who = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    done = subprocess.run(["git", "-C", str(root), *who, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project's recommendation pipeline and DAG file, copied into a checkout of one commit."""
    root = tmp_path_factory.mktemp("project")
    ignored = shutil.ignore_patterns("__pycache__", "*.ipynb_checkpoints")
    shutil.copytree(
        settings.root() / "pipelines" / PIPELINE, root / "pipelines" / PIPELINE, ignore=ignored
    )
    (root / "dags").mkdir()
    shutil.copy(settings.dags_dir() / "pipelines.py", root / "dags")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "the pipeline")
    return root


@pytest.fixture(scope="module")
def runs(airflow_db, home, project):
    """Run FIRST, change one line of 30-inference's code, run SECOND (the project's root set meanwhile)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STAGEBOOK_ROOT", str(project))
        first = run_dag(FIRST, CONF)
        source = project / SOURCE
        text = source.read_text()
        assert text.count(OLD) == 1, f"{SOURCE} no longer prints {OLD!r} once: pick another line"
        source.write_text(text.replace(OLD, NEW))
        second = run_dag(SECOND, CONF)
    for run in (first, second):
        assert run.state == "success", (run.states, run.out[-3000:])
    return first.dag_run, second.dag_run


@pytest.fixture(scope="module")
def server(runs):
    with served("api-server") as server:
        yield server


def sidecar(home, run, ds, stage):
    folder = storage.report_folder(DAG_ID, ds, "prod", run.run_id, home)
    return json.loads(storage.sidecar(folder / storage.try_name(stage, 1)).read_text())


def test_each_try_keeps_the_code_it_ran(runs, home, project):
    first = sidecar(home, runs[0], FIRST, "30-inference")["code"]
    second = sidecar(home, runs[1], SECOND, "30-inference")["code"]
    print(json.dumps(second, indent=2))  # the report's example (pytest -s)
    assert first["source"] == second["source"] == SOURCE
    assert first["git_commit"] == second["git_commit"] == git(project, "rev-parse", "HEAD")
    assert (first["git_dirty"], second["git_dirty"]) == (False, True)  # the edit, uncommitted
    assert first["source_sha256"] != second["source_sha256"]
    assert first["dag_version"] and first["stagebook"] and first["lock_sha256"] is None
    train = [
        sidecar(home, run, ds, "20-train")["code"]
        for run, ds in zip(runs, (FIRST, SECOND), strict=True)
    ]
    assert train[0]["source_sha256"] == train[1]["source_sha256"]


def test_the_compare_page_shows_the_changed_line_in_that_stage_and_no_other(
    browser, server, runs, tmp_path
):
    page = browsers.page(browser, server)
    page.goto(f"{server.base}/stagebook/compare?dag_id={DAG_ID}")
    stages = page.locator("div.code")
    stages.first.wait_for()
    said = {
        f"{s.get_attribute('data-phase')}/{s.get_attribute('data-stage')}": s.locator(
            ".code-summary"
        ).get_attribute("class")
        for s in stages.all()
    }
    assert said.pop("prod/30-inference") == "code-summary changed"
    assert len(said) >= 5 and set(said.values()) == {"code-summary unchanged"}, said
    inference = page.locator("div.code[data-stage='30-inference']")
    assert inference.locator(".removed").all_inner_texts() == [f"-{OLD}"]
    assert inference.locator(".added").all_inner_texts() == [f"+{NEW}"]
    assert page.locator("pre.codediff").count() == 1  # no other stage has a diff
    inference.scroll_into_view_if_needed()
    browsers.shot(page, tmp_path, "compare-code.png")
    page.context.close()


def test_the_trends_page_marks_the_date_the_code_changed(browser, server, runs, tmp_path):
    page = browsers.page(browser, server)
    page.goto(f"{server.base}/stagebook/trends/{DAG_ID}")
    marks = page.locator("svg.trend g.code-changed")
    marks.first.wait_for(state="attached")
    charts = page.locator("svg.trend:has(g.code-changed)")
    assert {c.get_attribute("data-stage") for c in charts.all()} == {"30-inference"}
    assert {m.get_attribute("data-ds") for m in marks.all()} == {SECOND.isoformat()}
    listed = page.locator("ul.code-changes li")
    assert listed.count() == 1
    assert listed.first.get_attribute("data-stage") == "30-inference"
    assert listed.first.get_attribute("data-ds") == SECOND.isoformat()
    charts.first.scroll_into_view_if_needed()
    browsers.shot(page, tmp_path, "trends-code.png")
    page.context.close()
