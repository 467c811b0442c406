"""Trends and comparisons, computed from the tries' sidecars alone."""

import functools

import nbformat
import pytest

from stagebook import sidecars
from stagebook.metrics import Metric
from stagebook.orchestration.reviewing import charts, codediff, comparison, review, trends
from tests.support import DAG_ID as DAG
from tests.support.archive import app_client
from tests.support.archive import archived_try as archived_try_of_any_dag

# a pipeline's DAG: a try whose sidecar kept no params compares with its pipeline's files
archived_try = functools.partial(archived_try_of_any_dag, dag_id=DAG)

# what the stage table declares, as the operator keeps it in each try's sidecar
TRAIN = (Metric("test AUC", "metrics.test_auc"), Metric("train tries", "tries"))
VALIDATE = (Metric("KL divergence", "validation.kl_divergence", ("validation.max_kl", "max")),)


def run_id(ds, hour=1):
    return f"scheduled__{ds}T{hour:02d}:00:00+00:00"


def declare(notebook, declared):
    sidecars.write_sidecar(notebook, trends=[m.as_json() for m in declared])
    return notebook


def train(home, ds, phase, auc, *, number=1, state="success", hour=1, overrides=None):
    notebook = archived_try(
        home,
        ds=ds,
        phase=phase,
        run_id=run_id(ds, hour),
        started=f"{ds}T{hour:02d}:00:00+00:00",
        stage="20-train",
        number=number,
        state=state,
        records={"metrics": {"test_auc": auc, "epochs": 3}} if auc is not None else {},
        overrides=overrides,
        duration_s=10.0 + number,
    )
    return declare(notebook, TRAIN)


def validate(home, ds, phase, kl, hour=1):
    notebook = archived_try(
        home,
        ds=ds,
        phase=phase,
        run_id=run_id(ds, hour),
        started=f"{ds}T{hour:02d}:05:00+00:00",
        stage="40-validate",
        state="failed" if kl > 2.5 else "success",
        records={"validation": {"kl_divergence": kl, "user_coverage": 1.0}},
    )
    return declare(notebook, VALIDATE)


@pytest.fixture
def archive(home):
    # 11-18 and 11-19 for both phases; 11-20 misses beta; 11-19 prod took two tries,
    # and 11-19 beta's KL crossed the threshold (2.5 in params) and failed
    for ds, auc in (("2019-11-18", 0.70), ("2019-11-19", 0.72), ("2019-11-20", 0.69)):
        train(home, ds, "prod", auc)
        validate(home, ds, "prod", 0.4)
    train(home, "2019-11-19", "prod", None, number=1, state="failed")
    train(home, "2019-11-19", "prod", 0.72, number=2)
    for ds, kl in (("2019-11-18", 0.5), ("2019-11-19", 3.1)):
        train(home, ds, "beta", 0.65, overrides={"train.epochs": 2})
        validate(home, ds, "beta", kl)
    # a later run of 11-20 (prod) replaces the first in the trends
    train(home, "2019-11-20", "prod", 0.75, hour=9, overrides={"train.base_lr": 0.05})
    return home


def points(found, label):
    trend = next(t for t in found if t.metric.label == label)
    return {
        phase: [(p.ds, p.value, p.failed, p.crossed) for p in ps]
        for phase, ps in trend.points.items()
    }


def test_each_metric_has_one_point_per_date_and_phase_from_the_latest_run(archive):
    found = trends.trends(review.tries(), DAG)
    assert points(found, "test AUC") == {
        "beta": [("2019-11-18", 0.65, False, False), ("2019-11-19", 0.65, False, False)],
        "prod": [
            ("2019-11-18", 0.70, False, False),
            ("2019-11-19", 0.72, False, False),
            ("2019-11-20", 0.75, False, False),  # the 09:00 run, not the 01:00 one
        ],
    }
    assert points(found, "train tries")["prod"][1] == ("2019-11-19", 2.0, False, False)


def test_a_failed_try_is_marked_and_a_crossed_threshold_is_flagged(archive):
    found = trends.trends(review.tries(), DAG)
    kl = next(t for t in found if t.metric.label == "KL divergence")
    assert kl.thresholds == {"beta": 2.5, "prod": 2.5}
    assert points(found, "KL divergence")["beta"][1] == ("2019-11-19", 3.1, True, True)
    chart = charts.svg(kl, trends.dates_of(found))
    assert chart.count("class='threshold'") == 2
    assert "class='point failed' data-phase='beta' data-ds='2019-11-19'" in chart
    assert chart.count("<circle") == 5  # 3 prod + 2 beta: no point for beta's missing 11-20


def test_the_window_keeps_the_last_n_dates(archive):
    found = trends.trends(review.tries(), DAG, days=2)
    assert trends.dates_of(found) == ["2019-11-19", "2019-11-20"]


def test_two_runs_compare_their_parameters_params_and_metrics(archive):
    found = review.tries()
    b = run_id("2019-11-20", 9)
    assert comparison.previous_run(found, DAG, b) == run_id("2019-11-19")
    compared = comparison.compare(found, DAG, run_id("2019-11-19"), b)
    stages = {(s.phase, s.stage): s for s in compared}
    assert set(stages) == {(p, s) for p in ("beta", "prod") for s in ("20-train", "40-validate")}
    train_ = stages["prod", "20-train"]
    changed = {r.key: (r.a, r.b) for r in train_.parameters if r.changed}
    assert changed == {
        "ds": ("2019-11-19", "2019-11-20"),
        "overrides.train.base_lr": (None, 0.05),
    }
    assert [(r.key, r.a, r.b) for r in train_.params] == [("train.base_lr", 0.1, 0.05)]
    auc = next(r for r in train_.metrics if r.key == "metrics.test_auc")
    assert auc.delta == pytest.approx(0.03)
    assert stages["prod", "40-validate"].b is None  # the 09:00 run re-ran train only
    assert stages["beta", "20-train"].b is None


def test_an_unknown_run_is_named():
    with pytest.raises(review.Unknown, match="unknown run 'nope'"):
        comparison.compare([], DAG, "nope", "nope")


@pytest.fixture
def client(archive):
    return app_client()


def test_the_trends_and_compare_pages_are_served_under_the_app_policy(client):
    page = client.get(f"/stagebook/trends/{DAG}")
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]
    assert "<svg" in page.text and "<script" not in page.text
    page = client.get("/stagebook/compare", params={"dag_id": DAG})
    assert page.status_code == 200
    assert "class='changed'><td>train.base_lr</td><td>0.1</td><td>0.05</td>" in page.text
    assert "+0.03" in page.text  # the AUC delta
    assert client.get("/stagebook/trends/nothing").status_code == 404


def test_a_try_compares_with_the_params_its_sidecar_kept_not_todays_files(tmp_path):
    info = {"parameters": {"overrides": {}}, "params": {"train": {"epochs": 3, "base_lr": 0.2}}}
    kept = review.Try(DAG, "2019-11-20", "prod", "r", "20-train", 1, info, tmp_path / "x.json")
    assert comparison.merged_params(kept) == {"train.epochs": 3, "train.base_lr": 0.2}
    older = review.Try(DAG, "2019-11-20", "prod", "r", "20-train", 1, {}, tmp_path / "y.json")
    assert comparison.merged_params(older)["train.base_lr"] == 0.1  # today's prod params


def test_each_stage_has_its_declared_metrics_then_its_duration(archive):
    found = trends.trends(review.tries(), DAG)
    assert [(t.stage, t.metric.label) for t in found] == [
        ("20-train", "test AUC"),
        ("20-train", "train tries"),
        ("20-train", "20-train duration (s)"),
        ("40-validate", "KL divergence"),
        ("40-validate", "40-validate duration (s)"),
    ]


def test_a_declared_limit_is_read_from_the_params_each_try_ran_with(home):
    # prod ran with max_kl 0.3 (kept in its sidecars), not the 2.5 of today's params files
    for ds, kl in (("2019-11-19", 0.2), ("2019-11-20", 0.4)):
        sidecars.write_sidecar(
            validate(home, ds, "prod", kl), params={"validation": {"max_kl": 0.3}}
        )
    found = trends.trends(review.tries(), DAG)
    assert next(t for t in found if t.metric.label == "KL divergence").thresholds == {"prod": 0.3}
    assert points(found, "KL divergence")["prod"] == [
        ("2019-11-19", 0.2, False, False),
        ("2019-11-20", 0.4, False, True),
    ]
    page = app_client().get(f"/stagebook/trends/{DAG}")
    chart = page.text.split("data-metric='validation.kl_divergence'")[1].split("</svg>")[0]
    assert "prod threshold 0.3" in chart and "class='point crossed'" in chart


def test_a_stage_that_declares_no_metric_has_its_duration_only(home):
    archived_try(home, stage="10-features", records={"sizes": {"items": 1504}}, duration_s=3.5)
    found = trends.trends(review.tries(), DAG)
    assert [(t.stage, t.metric.key) for t in found] == [("10-features", "duration_s")]
    assert points(found, "10-features duration (s)") == {
        "prod": [("2019-11-20", 3.5, False, False)]
    }


def test_a_stages_metrics_are_those_its_latest_try_declared(home):
    older = train(home, "2019-11-19", "prod", 0.70)
    declare(older, (Metric("epochs", "metrics.epochs"),))  # declared then, not any more
    train(home, "2019-11-20", "prod", 0.72)
    labels = [t.metric.label for t in trends.trends(review.tries(), DAG)]
    assert labels == ["test AUC", "train tries", "20-train duration (s)"]


def ran(notebook, code_cells, sha):
    """Make an archived try's notebook hold ``code_cells`` (and papermill's injected cell), its sidecar ``sha``."""
    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell(f"ds = {notebook.parent.parent.parent.name!r}")
    injected.metadata["tags"] = ["injected-parameters"]  # differs every date: never diffed
    nb.cells = [nbformat.v4.new_markdown_cell("# stage"), injected]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in code_cells]
    nbformat.write(nb, notebook)
    if sha is not None:
        sidecars.write_sidecar(notebook, code={"source": "x.py", "source_sha256": sha})
    return notebook


@pytest.fixture
def edited(home):
    """Three dates of prod; 20-train's code changed on 11-20, 40-validate's never; 11-18 kept none."""
    cells = {"2019-11-18": "x = 1", "2019-11-19": "x = 1", "2019-11-20": "x = 2"}
    for ds, line in cells.items():
        sha = None if ds == "2019-11-18" else f"sha-{line}"
        ran(train(home, ds, "prod", 0.7), ["import numpy", f"{line}\nprint(x)"], sha)
        ran(validate(home, ds, "prod", 0.4), ["checks = []"], None if sha is None else "same")
    return home


def test_a_stage_whose_code_changed_is_marked_on_its_charts_and_listed(edited):
    found = trends.trends(review.tries(), DAG)
    changed = trends.CodeChanged("2019-11-20", "prod", "20-train", run_id("2019-11-20"))
    assert trends.code_changes(trends.latest_tries(review.tries())) == [changed]
    for t in found:  # 11-19 after 11-18's try without code: not a change
        chart = charts.svg(t, trends.dates_of(found))
        marks = chart.count("class='code-changed'")
        assert marks == (1 if t.stage == "20-train" else 0), t.metric.label
    page = app_client().get(f"/stagebook/trends/{DAG}").text
    listed = page.split("<ul class='code-changes'>")[1].split("</ul>")[0]
    assert listed.count("<li") == 1 and "2019-11-20 · prod · 20-train" in listed
    assert "code changed on 2019-11-20 (prod)" in page


def test_the_compare_page_diffs_the_changed_stages_code_cells_and_says_the_others_unchanged(
    edited,
):
    compared = comparison.compare(review.tries(), DAG, run_id("2019-11-19"), run_id("2019-11-20"))
    code = {s.stage: s.code for s in compared}
    assert (code["20-train"].changed, code["20-train"].removed, code["20-train"].added) == (
        True,
        ["x = 1"],
        ["x = 2"],
    )
    assert [line.text for line in code["20-train"].lines][:2] == ["@@ cell 2 @@", "# %% cell 1"]
    assert code["40-validate"].changed is False and code["40-validate"].lines is None
    page = app_client().get("/stagebook/compare", params={"dag_id": DAG}).text
    train_ = page.split("data-stage='20-train'>")[1].split("</div>")[0]
    assert "<span class='removed'>-x = 1</span><span class='added'>+x = 2</span>" in train_
    assert "ds =" not in train_  # papermill's injected cell is no code of the stage
    validate_ = page.split("data-stage='40-validate'>")[1].split("</div>")[0]
    assert "Code unchanged." in validate_ and "codediff" not in validate_


def test_a_try_without_code_in_its_sidecar_compares_as_unknown_with_its_cells_diffed(edited):
    compared = comparison.compare(review.tries(), DAG, run_id("2019-11-18"), run_id("2019-11-19"))
    code = {s.stage: s.code for s in compared}
    assert code["20-train"].changed is None and code["20-train"].lines == []
    assert codediff.summary(code["20-train"]).startswith("Code: unknown")


def test_a_cell_added_shows_as_that_cell_alone_not_every_later_header():
    lines = codediff.diff_cells(["a = 1", "b = 2", "c = 3"], ["a = 1", "new = 0", "b = 2", "c = 3"])
    changed = [(line.kind, line.text) for line in lines if line.kind in ("added", "removed")]
    assert changed == [("added", "# %% cell 2"), ("added", "new = 0")]
    assert ("same", "# %% cell 3 (cell 2 in a)") in [(line.kind, line.text) for line in lines]
