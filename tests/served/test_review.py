"""Reviewing reports in the Airflow UI: a real api-server on loopback, a real browser.

One module, one served api-server (``stagebook serve --components api-server``)
on the session's metastore, after two runs of one date: the first up to
``prod.train``, the second ``input_tables`` again.
"""

import datetime as dt
import json
import re
from urllib.parse import quote

import pytest

from stagebook import storage
from tests.support import DAG_ID, TINY
from tests.support.archive import archived_try
from tests.support.runs import run_dag
from tests.support.servers import served

DS = dt.date(2019, 11, 20)
FIRST = r"input_tables|select_phase|prod\.(features|train)"


@pytest.fixture(scope="module")
def runs(airflow_db, home):
    first = run_dag(DS, {"phases": ["prod"], "overrides": TINY}, only=FIRST)
    second = run_dag(DS, {"phases": ["prod"], "overrides": TINY}, only="input_tables")
    assert first.states["prod.train"] == "success", first.out[-3000:]
    return first.dag_run, second.dag_run


@pytest.fixture(scope="module")
def hostile(runs, home):
    """A try whose rendering escaped the sanitizer: only the CSP stands between it and a reviewer."""
    notebook = archived_try(
        home, dag_id=DAG_ID, ds=str(DS), run_id=runs[0].run_id, stage="60-hostile", state="success"
    )
    storage.rendering(notebook).write_text(
        "<html><head><title>report</title></head><body><h1>hostile</h1>"
        "<script>fetch('/stagebook/pwned-script'); document.title = 'pwned';</script>"
        "<img src='x' onerror=\"fetch('/stagebook/pwned-onerror')\"></body></html>"
    )
    return f"/stagebook/reports/{DAG_ID}/{DS}/prod/{notebook.parent.name}/60-hostile/1"


@pytest.fixture(scope="module")
def server(runs, hostile):
    with served("api-server") as server:
        yield server


def _report(run, phase, stage):
    return (
        f"/stagebook/reports/{DAG_ID}/{DS}/{phase}/{storage.run_folder_name(run.run_id)}/{stage}/1"
    )


def test_who_may_read_what(server, runs):
    path = _report(runs[0], "prod", "20-train")
    assert server.get(path)[0] == 401  # anonymous
    assert server.get(path, token="not-a-token")[0] == 403
    viewer = server.token("viewer")
    status, body, headers = server.get(path, viewer)
    assert status == 200 and "data:image/png;base64" in body  # the loss plot
    assert headers["content-security-policy"].startswith("sandbox;")
    assert server.get("/stagebook/", viewer)[0] == 200


def test_a_user_without_access_to_the_dag_gets_403_and_an_index_without_it(server, runs):
    outsider = server.token("outsider")
    assert server.get(_report(runs[0], "prod", "20-train"), outsider)[0] == 403
    assert server.get(f"/stagebook/days/{DAG_ID}/{DS}", outsider)[0] == 403
    status, body, _ = server.get("/stagebook/", outsider)
    assert status == 200 and DAG_ID not in body
    assert DAG_ID in server.get("/stagebook/", server.token("viewer"))[1]


@pytest.fixture(scope="module")
def weather_try(runs, home):
    """Tries of the second pipeline on two dates, beside the first's runs (no params kept)."""
    for day, mae in ((DS - dt.timedelta(days=1), 2.4), (DS, 2.1)):
        found = archived_try(
            home,
            dag_id="weather",
            ds=str(day),
            run_id=f"scheduled__{day}T14:00:00+00:00",
            phase="common",
            stage="20-backtest",
            records={"backtest": {"mae_model": mae}},
            duration_s=3.0,  # every stage's trend: its duration
        )
    return found


def test_the_index_and_trends_show_each_pipeline_to_whom_may_read_its_dag(server, weather_try):
    everything = server.get("/stagebook/", server.token("viewer"))[1]
    assert "weather" in everything and DAG_ID in everything
    forecaster = server.token("forecaster")
    status, body, _ = server.get("/stagebook/", forecaster)
    assert status == 200 and "weather" in body and DAG_ID not in body
    assert server.get("/stagebook/trends/weather", forecaster)[0] == 200
    status, body, _ = server.get("/stagebook/compare?dag_id=weather", forecaster)
    assert status == 200 and "backtest.mae_model" in body, body[-2000:]
    assert server.get(f"/stagebook/trends/{DAG_ID}", forecaster)[0] == 403


@pytest.mark.parametrize(
    "path",
    [
        f"/stagebook/reports/{DAG_ID}/{DS}/prod/..%2F..%2F..%2F..%2Fetc/passwd/1",
        f"/stagebook/reports/{DAG_ID}/{DS}/%2E%2E/%2E%2E/20-train/1",
        f"/stagebook/reports/{DAG_ID}/{DS}/prod/x/..%2F..%2F20-train/1",
    ],
)
def test_traversal_is_a_404(server, path):
    status, body, _ = server.get(path, server.token("viewer"))
    assert status == 404 and "unknown" in body and "/stagebook/" in body


def test_re_running_a_date_keeps_the_first_runs_report_reachable(server, runs):
    viewer = server.token("viewer")
    first, second = (_report(run, "common", "00-input-tables") for run in runs)
    assert first != second
    assert server.get(first, viewer)[0] == 200 and server.get(second, viewer)[0] == 200
    index = server.get("/stagebook/", viewer)[1]
    assert "1 earlier" in index and runs[1].run_id in index


def test_the_report_link_is_same_origin_and_opens_the_try(server, runs):
    admin = server.token("admin")
    run_id = quote(runs[0].run_id, safe="")
    status, body, _ = server.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/prod.train/links", admin
    )
    assert status == 200, body
    link = json.loads(body)["extra_links"]["Report"]
    assert link.startswith("/stagebook/tasks/") and link.endswith("?try=1")
    status, page, _ = server.get(link, admin)
    assert status == 200 and "prod.train · try 1" in page


# --- in a real browser: Debian's chromium, driven by Playwright ---------------------------


def _logged_in(browser, server, user="viewer"):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{server.base}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", server.passwords()[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/")
    return page


def _frame(page, pattern):
    for _ in range(60):
        found = [f for f in page.frames if re.search(pattern, f.url)]
        if found:
            return found[0]
        page.wait_for_timeout(250)
    pytest.fail(f"no frame {pattern}: {[f.url for f in page.frames]}")


def test_a_reviewer_logs_in_and_reads_the_train_report_in_its_tab(browser, server, runs, tmp_path):
    page = _logged_in(browser, server)
    page.goto(f"{server.base}/dags/{DAG_ID}")
    page.get_by_text(DAG_ID).first.wait_for()
    page.goto(f"{server.base}/dags/{DAG_ID}/runs/{runs[0].run_id}/tasks/prod.train")
    page.get_by_text("Report", exact=True).click()  # the tab of the plugin's external view
    tab = _frame(page, r"/stagebook/tasks/")
    report = _frame(page, r"/stagebook/reports/.*/20-train/1$")
    tab.get_by_text("prod.train · try 1").wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "report-tab.png")
    # The report's own frame is sandboxed (no script, no DOM access): read it over HTTP.
    answer = page.request.get(report.url)
    assert answer.ok and "data:image/png;base64" in answer.text()  # the loss plot
    page.goto(f"{server.base}/plugin/stagebook")
    index = _frame(page, r"^http://[^/]+/stagebook/$")  # not the page, /plugin/stagebook/...
    index.get_by_text("test AUC").first.wait_for()
    page.screenshot(path=tmp_path / "index.png")
    page.close()


def test_a_script_in_a_report_does_not_run(browser, server, hostile, tmp_path):
    page = _logged_in(browser, server)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{server.base}{hostile}")
    page.get_by_role("heading", name="hostile").wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "hostile.png")
    assert not [url for url in asked if "pwned" in url], asked
    assert page.title() != "pwned"
    page.close()


def test_in_the_browser_each_reviewer_sees_the_pipelines_they_may_read(
    browser, server, weather_try, tmp_path
):
    for user, shown, hidden in (
        ("viewer", ["weather", DAG_ID], []),
        ("forecaster", ["weather"], [DAG_ID]),
    ):
        page = _logged_in(browser, server, user)
        page.goto(f"{server.base}/plugin/stagebook")
        index = _frame(page, r"^http://[^/]+/stagebook/$")
        for dag_id in shown:
            index.get_by_text(dag_id).first.wait_for()
        text = index.locator("body").inner_text()
        assert not [dag_id for dag_id in hidden if dag_id in text], text
        page.screenshot(path=tmp_path / f"index-{user}.png")
        page.close()
