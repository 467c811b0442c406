"""A stage's trend metrics and card rows: declared in the stage table, kept in each try's sidecar."""

import nbformat
import pytest

from stagebook import dates, params, reports, sidecars, storage
from stagebook.declaration import Stage
from stagebook.metrics import Metric
from stagebook.orchestration.factory import stage_task
from stagebook.orchestration.reviewing import review, trends
from stagebook.records import MIME
from tests.support import DAG_ID as DAG
from tests.support.archive import archived_try

SCORE = Stage(
    "score",
    "30-score",
    records=("scores", "losses"),
    figure=("rows", "scores.rows"),
    trends=(Metric("score mean", "scores.mean", ("validation.max_kl", "max")),),
    summary=(("rows", "scores.rows"), ("score mean", "scores.mean")),
)
RECORDS = {"scores": {"rows": 370, "mean": 3.1}, "losses": [{"epoch": 1, "loss": 0.6}]}


@pytest.mark.parametrize(
    ("declared", "key"),
    [
        ({"trends": (Metric("loss", "losses.0.loss"),)}, "losses.0.loss"),
        (
            {
                "summary": (("rows", "scores.rows"), ("loss", "loss.last")),
            },
            "loss.last",
        ),
    ],
)
def test_a_declaration_that_reads_an_undeclared_record_is_refused_in_one_line(declared, key):
    with pytest.raises(ValueError) as refused:
        Stage("score", "30-score", records=("scores",), **declared)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("stage 30-score: ") and repr(key) in message
    assert "its records: scores" in message


def test_a_limit_that_is_not_a_params_key_and_a_side_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^stage 30-score: trend 'scores.mean' has limit"):
        Stage(
            "score",
            "30-score",
            records=("scores",),
            trends=(Metric("m", "scores.mean", ("x", "up")),),
        )


def test_the_try_itself_may_be_declared_its_duration_and_its_tries():
    stage = Stage(
        "score", "30-score", trends=(Metric("tries", "tries"),), summary=(("s", "duration_s"),)
    )
    assert stage_task(stage, "prod", params.load("prod")).summary == (("s", "duration_s"),)


def _executed(home):
    """Archive a try of 30-score whose notebook recorded ``RECORDS``, as papermill leaves it."""
    notebook = archived_try(home, dag_id=DAG, stage="30-score")  # a pipeline's: its params
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("stagebook.record(...)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={MIME: {"name": name, "value": value}})
        for name, value in RECORDS.items()
    ]
    nb.cells = [cell]
    nbformat.write(nb, notebook)
    reports.render_html(notebook)
    return notebook


def test_each_try_keeps_its_stages_declaration_for_the_trends_page_and_the_card(home):
    notebook = _executed(home)
    operator = stage_task(SCORE, "prod", params.load("prod"))
    operator.runner().describe(notebook, "success", dates.now())
    info = sidecars.read_sidecar(storage.sidecar(notebook))
    assert info["trends"] == [
        {"label": "score mean", "key": "scores.mean", "limit": ["validation.max_kl", "max"]}
    ]
    found = trends.trends(review.tries(), DAG)
    assert [(t.stage, t.metric.label) for t in found] == [
        ("30-score", "score mean"),
        ("30-score", "30-score duration (s)"),
    ]
    mean = found[0]
    assert mean.thresholds == {"prod": 2.5}  # the params' validation.max_kl
    assert [(p.value, p.crossed) for p in mean.points["prod"]] == [(3.1, True)]
    page = storage.rendering(notebook).read_text()
    assert "<td title='scores.rows'>rows</td><td>370</td>" in page
    assert "losses" not in page.split("<!--/stagebook-card-->")[0]
