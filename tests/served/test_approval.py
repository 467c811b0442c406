"""The approval in the Airflow UI, in a real browser: a run waits in ``prod.approve``, a reviewer answers.

One real ``stagebook run`` (a process of its own, on the session's metastore)
of ``prod`` on a collapsed day (``inference.mode: popular``) with a soft limit
on the catalogue coverage: it waits in ``prod.approve``. One api-server
(``stagebook serve --components api-server``) on the same metastore; Debian's
chromium, driven by Playwright, opens the task's Required Actions, reads what
it asks and approves, and the waiting run publishes.

``STAGEBOOK_SCREENSHOTS=docs`` keeps ``approval.png`` for the README.
"""

import signal
import subprocess
from urllib.parse import quote

import pytest
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from sqlalchemy import select

from recsys import paths as datasets
from tests.support import DAG_ID, PIPELINE, approvals, browsers
from tests.support.runs import states, xcom
from tests.support.servers import served, stop

DS = approvals.DS
COMMENT = "checked in the browser"


@pytest.fixture(scope="module")
def waiting(airflow_db, module_params, tmp_path_factory):
    module_params(approvals.SOFT)
    run = approvals.start(tmp_path_factory.mktemp("run") / "out.txt")
    try:
        yield run
    finally:
        stop(run.proc, signal.SIGINT)  # an interrupt, so that the run's own clean-up runs


@pytest.fixture(scope="module")
def server(waiting):
    with served("api-server") as server:
        yield server


def _required_action(browser, server, run_id):
    page = browsers.page(browser, server, user="admin")
    path = f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/prod.approve/required_actions"
    page.goto(f"{server.base}{path}")
    page.get_by_text("catalogue_coverage").first.wait_for(timeout=60_000)
    return page


def test_the_approval_shows_each_breached_check_and_the_report(browser, server, waiting, tmp_path):
    page = _required_action(browser, server, waiting.run_id)
    assert page.get_by_text(f"Publish the prod recommendations of {DS}?").first.is_visible()
    row = page.locator("tr", has_text="catalogue_coverage").first
    assert ">= 0.9 (validation.soft.min_catalogue_coverage)" in row.inner_text()
    assert "none published" in row.inner_text()
    report = page.get_by_role("link", name="The validate report")
    assert f"/stagebook/tasks/{DAG_ID}/" in report.get_attribute("href")
    for answer in ("Approve", "Reject"):  # the comment is optional: both are enabled at once
        assert page.get_by_role("button", name=answer).is_enabled()
    browsers.shot(page, tmp_path, "approval.png")
    page.context.close()


def test_approving_in_the_ui_lets_the_waiting_run_publish(browser, server, waiting, home):
    page = _required_action(browser, server, waiting.run_id)
    page.locator("#element_comment").fill(COMMENT)  # the form's id of the param
    page.get_by_role("button", name="Approve").click()
    try:
        waiting.proc.wait(300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not finish after the approval:\n{waiting.output()}")
    page.context.close()
    assert waiting.proc.returncode == 0, waiting.output()
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.run_id == waiting.run_id)).one()
    assert states(run)["prod.publish"] == "success"
    decided = xcom(run, "prod.approve", "approval")
    assert (decided["decision"], decided["by"], decided["comment"]) == (
        "approved",
        "admin",
        COMMENT,
    )
    assert datasets.outbox_file(home / "data" / PIPELINE / "outbox" / "prod", str(DS)).exists()
