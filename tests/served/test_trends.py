"""What changed since last night, in a real browser: trends, two runs compared, a report's card.

One api-server (``stagebook serve --components api-server``) on an archive of
four dates of both phases, written as the operator leaves tries: a notebook with
code and outputs, its rendering, its sidecar and the card. Debian's chromium,
driven by Playwright.

``STAGEBOOK_SCREENSHOTS=<folder>`` keeps the pages' screenshots there (the
README's come from ``docs/``).
"""

import datetime as dt
import json
import re
from urllib.parse import quote

import nbformat
import pytest

from stagebook import cards, reports, sidecars, storage
from stagebook.metrics import Metric
from tests.support import DAG_ID, browsers
from tests.support.servers import served

DATES = ["2019-11-17", "2019-11-18", "2019-11-19", "2019-11-20"]
AUC = {"prod": [0.68, 0.69, 0.70, 0.66], "beta": [0.67, 0.70, 0.71, 0.72]}
KL = {"prod": [0.4, 0.5, 0.6, 0.5], "beta": [0.5, 0.6, 2.9, 0.7]}  # beta 11-19 crossed 2.5
DECLARED = {  # what each stage's declaration puts in its sidecars
    "20-train": [Metric("test AUC", "metrics.test_auc")],
    "40-validate": [
        Metric("KL divergence", "validation.kl_divergence", ("validation.max_kl", "max"))
    ],
}


def run_id(ds):
    return f"scheduled__{ds}T01:00:00+00:00"


def _try(home, ds, phase, stage, records, state="success", overrides=None):
    """Archive one try as the operator does: notebook, rendering, sidecar, card."""
    notebook = storage.report_path(
        DAG_ID, dt.date.fromisoformat(ds), phase, run_id(ds), stage, 1, home
    )
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(f"losses = fit(epochs=3)  # {stage}")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="epoch 3: loss 0.41\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {stage}"), code]
    nbformat.write(nb, notebook)
    reports.render_html(notebook)
    sidecars.write_sidecar(
        notebook,
        dag_id=DAG_ID,
        run_id=run_id(ds),
        task_id=f"{phase}.{stage[3:]}",
        stage=stage,
        phase=phase,
        ds=ds,
        try_number=1,
        state=state,
        started=f"{ds}T01:00:00+00:00",
        duration_s=4.2,
        records=records,
        trends=[m.as_json() for m in DECLARED[stage]],
        summary=[],
        parameters={
            "ds": ds,
            "phase": phase,
            "run_id": run_id(ds),
            "try_number": 1,
            "overrides": overrides or {},
        },
    )
    cards.add_card(notebook)
    return notebook


@pytest.fixture(scope="module")
def archive(home):
    for n, ds in enumerate(DATES):
        for phase in ("prod", "beta"):
            overrides = {"train.epochs": 2 + n} if phase == "beta" else {}
            metrics = {
                "test_auc": AUC[phase][n],
                "test_logloss": 0.62 - AUC[phase][n] / 10,
                "base_rate_logloss": 0.653,
                "epochs": 3 + n % 2,
                "learning_rate": 0.1 if phase == "prod" else 0.05,
            }
            _try(home, ds, phase, "20-train", {"metrics": metrics}, overrides=overrides)
            crossed = KL[phase][n] > 2.5
            checks = [
                {
                    "check": "kl_divergence",
                    "value": KL[phase][n],
                    "threshold": "<= 2.5",
                    "passed": not crossed,
                }
            ]
            _try(
                home,
                ds,
                phase,
                "40-validate",
                {"validation": {"kl_divergence": KL[phase][n]}, "checks": checks},
                state="failed" if crossed else "success",
                overrides=overrides,
            )
    return home


@pytest.fixture(scope="module")
def server(archive):
    with served("api-server") as server:
        yield server


def test_the_trends_page_shows_one_point_per_date_and_phase(browser, server, tmp_path):
    page = browsers.page(browser, server)
    page.goto(f"{server.base}/stagebook/trends/{DAG_ID}")
    auc = page.locator("svg[data-metric='metrics.test_auc']")
    auc.wait_for()
    for phase in ("prod", "beta"):
        shown = auc.locator(f"circle[data-phase='{phase}']")
        assert [shown.nth(i).get_attribute("data-ds") for i in range(shown.count())] == DATES
    kl = page.locator("svg[data-metric='validation.kl_divergence']")
    assert kl.locator("line.threshold").count() == 2  # prod's and beta's 2.5
    crossed = kl.locator("circle.failed[data-phase='beta'][data-ds='2019-11-19']")
    assert crossed.count() == 1 and crossed.get_attribute("stroke") == "#c0392b"
    browsers.shot(page, tmp_path, "trends.png")
    page.context.close()


def test_the_trends_tab_is_an_external_view_of_the_dag(server):
    status, body, _ = server.get("/api/v2/plugins", server.token("admin"))
    assert status == 200, body
    views = [v for p in json.loads(body)["plugins"] for v in p.get("external_views", [])]
    tab = next(v for v in views if v["name"] == "Trends")
    assert tab["destination"] == "dag" and tab["href"] == "/stagebook/trends/{DAG_ID}"


def test_a_compare_page_highlights_a_changed_parameter_and_a_metric_delta(
    browser, server, tmp_path
):
    page = browsers.page(browser, server)
    page.goto(f"{server.base}/stagebook/")
    page.get_by_text("Compare the last two dates").first.click()
    page.wait_for_url(re.compile(r"/stagebook/compare\?dag_id="))
    assert run_id("2019-11-20") in page.content() and run_id("2019-11-19") in page.content()
    changed = page.locator("tr.changed", has_text="overrides.train.epochs")
    assert changed.count() >= 1  # beta's epochs override: 4 on 11-19, then 5
    cells = changed.first.locator("td")
    assert (cells.nth(1).inner_text(), cells.nth(2).inner_text()) == ("4", "5")
    assert changed.first.evaluate("row => getComputedStyle(row).backgroundColor") != (
        "rgba(0, 0, 0, 0)"
    )
    rows = page.locator("table.records tr", has_text="metrics.test_auc")
    deltas = [row.locator("td").last.inner_text() for row in rows.all()]
    assert sorted(deltas) == ["+0.01", "-0.04"]  # beta 0.71 -> 0.72, prod 0.70 -> 0.66
    browsers.shot(page, tmp_path, "compare.png")
    page.context.close()


def test_a_report_opens_with_its_card_and_its_code_folded(browser, server, tmp_path):
    folder = storage.run_folder_name(run_id("2019-11-19"))
    path = f"/stagebook/reports/{DAG_ID}/2019-11-19/beta/{quote(folder)}/40-validate/1"
    page = browsers.page(browser, server, bypass_csp=True)  # to read the sandboxed page's DOM
    page.goto(f"{server.base}{path}")
    card = page.locator("section.stagebook-card")
    card.wait_for()
    assert "40-validate" in card.inner_text() and "failed" in card.inner_text()
    assert card.locator("table.checks td.fail").inner_text() == "FAIL"
    code = page.locator("details.stagebook-code")
    assert code.count() == 1 and code.get_attribute("open") is None
    assert not page.get_by_text("losses = fit(epochs=3)").is_visible()
    code.locator("summary").click()
    assert page.get_by_text("losses = fit(epochs=3)").is_visible()
    browsers.shot(page, tmp_path, "report-card.png")
    page.context.close()
