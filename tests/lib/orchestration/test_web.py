"""The Stagebook app with FastAPI's TestClient; Airflow's auth is tested against a real api-server."""

import json
import logging

import pytest

from tests.support.archive import DAG, app_client, archived_try

FIRST = "scheduled__2019-11-21T01:00:00+00:00"
SECOND = "manual__2019-11-22T08:00:00+00:00"
FIRST_FOLDER = "scheduled__2019-11-21T01-00-00-00-00"


@pytest.fixture
def archive(home):
    auc = {"label": "test AUC", "value": 0.6857}
    archived_try(home, number=1, state="failed", markdown="# first try")
    archived_try(home, number=2, figure=auc)
    archived_try(home, stage="40-validate", figure={"label": "KL", "value": 0.12})
    archived_try(home, run_id=SECOND, started="2019-11-22T08:00:00+00:00", figure=auc)
    archived_try(
        home,
        run_id=SECOND,
        stage="30-inference",
        state="running",
        started="2019-11-22T08:05:00+00:00",
        markdown="# so far",
    )
    archived_try(home, dag_id="dag_b", markdown="# another team's")
    return home


@pytest.fixture
def client(archive):
    return app_client()


def test_the_index_is_a_date_by_stage_matrix_of_the_latest_run(client):
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "<h2>dag_a</h2>" in text and "<h3>prod</h3>" in text
    assert "<th>20-train</th>" in text and "<th>40-validate</th>" in text
    assert SECOND in text and "1 earlier" in text  # the latest run, a link to the earlier one
    assert "/stagebook/days/dag_a/2019-11-20" in text
    assert "test AUC 0.686" in text
    assert "dag_b" not in text  # a DAG the user may not read is not listed
    assert "sandbox" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_report_is_served_sandboxed_with_no_script(client):
    page = client.get(f"/reports/{DAG}/2019-11-20/prod/{FIRST_FOLDER}/20-train/2")
    assert page.status_code == 200 and "Loss per epoch" in page.text
    csp = page.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "script-src" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text.lower()


def test_a_failed_try_and_a_running_try_have_their_reports(client):
    failed = client.get(f"/reports/{DAG}/2019-11-20/prod/{FIRST_FOLDER}/20-train/1")
    assert failed.status_code == 200 and "first try" in failed.text
    running = client.get(
        f"/reports/{DAG}/2019-11-20/prod/manual__2019-11-22T08-00-00-00-00/30-inference/1"
    )
    assert running.status_code == 200
    assert "so far" in running.text and "still running" in running.text


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/reports/nodag/2019-11-20/prod/r/20-train/1", "unknown DAG &#x27;nodag&#x27;"),
        ("/reports/dag_a/2019-13-01/prod/r/20-train/1", "unknown date &#x27;2019-13-01&#x27;"),
        ("/reports/dag_a/2019-11-19/prod/r/20-train/1", "unknown date &#x27;2019-11-19&#x27;"),
        ("/reports/dag_a/2019-11-20/gamma/r/20-train/1", "unknown phase &#x27;gamma&#x27;"),
        (
            "/reports/dag_a/2019-11-20/prod/nosuchrun/20-train/1",
            "unknown run &#x27;nosuchrun&#x27;",
        ),
        (
            f"/reports/dag_a/2019-11-20/prod/{FIRST_FOLDER}/70-extra/1",
            "unknown stage &#x27;70-extra&#x27;",
        ),
        (f"/reports/dag_a/2019-11-20/prod/{FIRST_FOLDER}/20-train/9", "unknown try 9 of 20-train"),
        (f"/reports/dag_a/2019-11-20/prod/{FIRST_FOLDER}/20-train/x", "unknown try &#x27;x&#x27;"),
        ("/reports/dag_a/2019-11-20/prod/..%2F..%2F..%2Fetc/20-train/1", "unknown page"),
        ("/reports/dag_a/2019-11-20/prod/../../../../etc/passwd", "unknown page"),
        ("/reports/dag_a/2019-11-20/%2E%2E/x/20-train/1", "unknown phase"),
        ("/tasks/dag_a/nosuchrun/prod.train", "no report for task &#x27;prod.train&#x27;"),
        ("/days/dag_a/2019-11-30", "unknown date &#x27;2019-11-30&#x27;"),
    ],
)
def test_an_unknown_name_is_a_404_page_that_names_it_and_links_the_index(client, path, said):
    page = client.get(path)
    assert page.status_code == 404, page.text
    assert said in page.text
    assert "href='/stagebook/'" in page.text


def test_the_report_tab_opens_the_latest_try_and_lists_the_others(client):
    page = client.get(f"/tasks/{DAG}/{FIRST}/prod.train")
    assert page.status_code == 200
    assert "prod.train · try 2" in page.text
    assert f"/stagebook/reports/{DAG}/2019-11-20/prod/{FIRST_FOLDER}/20-train/2" in page.text
    assert "href='?try=1'" in page.text
    first = client.get(f"/tasks/{DAG}/{FIRST}/prod.train?try=1")
    assert "prod.train · try 1" in first.text and "/20-train/1'" in first.text


def test_every_run_of_a_date_stays_reachable(client):
    page = client.get(f"/days/{DAG}/2019-11-20")
    assert page.status_code == 200
    assert FIRST_FOLDER in page.text and "manual__2019-11-22T08-00-00-00-00" in page.text
    earlier = client.get(f"/reports/{DAG}/2019-11-20/prod/{FIRST_FOLDER}/20-train/2")
    assert earlier.status_code == 200


def test_a_malformed_sidecar_is_skipped_and_logged_never_a_500(client, archive, caplog):
    broken = next(archive.glob(f"reports/{DAG}/*/prod/{FIRST_FOLDER}/40-validate.try1.json"))
    broken.write_text("{not json")
    (broken.parent / "10-features.try1.json").write_text(json.dumps(["a", "list"]))
    with caplog.at_level(logging.WARNING, logger="stagebook.sidecars"):
        page = client.get("/")
    assert page.status_code == 200
    assert "Skipping the malformed report sidecar" in caplog.text
    missing = client.get(f"/reports/{DAG}/2019-11-20/prod/{FIRST_FOLDER}/40-validate/1")
    assert missing.status_code == 404
