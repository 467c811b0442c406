"""The real DAG, run by ``dag.test()``: real kernels through papermill, real files."""

import datetime as dt
import json
import shutil

import pytest
import yaml

from stagebook import notebook, records, settings
from tests.conftest import TINY
from tests.e2e.helpers import injected, outputs_text, reports, states, what, xcom
from tests.receivers import messages

PHASE_STAGES = notebook.STAGES[1:]


def test_both_phases_on_tiny_synthetic_data(run_pipeline, home):
    ds = dt.date(2019, 11, 20)
    run = run_pipeline(ds, {"overrides": TINY})
    assert str(run.state) == "success", states(run)
    assert set(states(run).values()) == {"success"}

    for phase, stages in [
        ("common", ["00-input-tables"]),
        ("prod", PHASE_STAGES),
        ("beta", PHASE_STAGES),
    ]:
        for stage in stages:
            archived = reports(home, ds, phase) / f"{stage}.try1.ipynb"
            assert archived.exists() and archived.with_suffix(".html").exists(), archived
            assert f'ds = "{ds}"' in injected(archived) and f'phase = "{phase}"' in injected(
                archived
            )
            assert f"ds {ds} · phase {phase} · try 1" in outputs_text(
                archived
            )  # the report's header
            assert f"ds {ds} · phase {phase} · try 1" in archived.with_suffix(".html").read_text()

    for phase in ("prod", "beta"):
        trained = xcom(run, f"{phase}.train", "model_signature")
        assert trained.startswith("ffm.TH.") and trained.endswith("_20191120")
        assert (
            trained
            == records.read_records(reports(home, ds, phase) / "20-train.try1.ipynb")[
                "model_signature"
            ]
        )
        # record -> XCom -> the next stage's injected parameter
        assert f'model_signature = "{trained}"' in injected(
            reports(home, ds, phase) / "30-inference.try1.ipynb"
        )
        assert xcom(run, f"{phase}.inference", "model_signature") == trained
        report = reports(home, ds, phase) / "20-train.try1.html"
        assert xcom(run, f"{phase}.train", "_link_ReportLink") == report.resolve().as_uri()
        losses = xcom(run, f"{phase}.train", "losses")
        assert len(losses) >= 1 and {"loss", "val_loss"} <= set(losses[0])

        published = home / "outbox" / phase / f"ds={ds}.jsonl"
        lines = [json.loads(line) for line in published.read_text().splitlines()]
        assert lines and len({r["user_id"] for r in lines}) == len(lines)
        assert all(
            r["ds"] == str(ds) and r["phase"] == phase and r["model_signature"] == trained
            for r in lines
        )
        assert all(len(r["item_ids"]) == len(r["scores"]) > 0 for r in lines)
        assert all(r["scores"] == sorted(r["scores"], reverse=True) for r in lines)
    assert (home / "reports" / "index.html").exists()


def test_one_phase_on_movielens(run_pipeline, home):
    ds = dt.date(2019, 11, 19)
    conf = {
        "phases": ["prod"],
        "overrides": {"data.anchor_date": "2019-11-19", "tables.train_days": 30},
    }
    run = run_pipeline(ds, conf)
    got = states(run)
    assert str(run.state) == "success", got
    assert all(
        got[f"prod.{name}"] == "success"
        for name in ("features", "train", "inference", "validate", "publish")
    )
    assert all(state == "skipped" for task, state in got.items() if task.startswith("beta."))
    assert not reports(home, ds, "beta").exists()
    signature = xcom(run, "prod.train", "model_signature")
    assert signature.endswith("_20191119")
    assert (home / "models" / "prod" / signature / "signature.json").exists()
    lines = (home / "outbox" / "prod" / f"ds={ds}.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["model_signature"] == signature and first["ds"] == str(ds)
    assert len(lines) == xcom(run, "prod.validate", "validation")["users"]
    metrics = xcom(run, "prod.train", "metrics")
    assert metrics["test_logloss"] < metrics["base_rate_logloss"]


def test_date_without_raw_events_fails_fast_and_archives_the_notebook(
    run_pipeline, home, capfd, receivers
):
    ds = dt.date(2019, 11, 21)  # the source's events end on the anchor date, 2019-11-20
    http, smtp, notifications = receivers
    overrides = {**TINY, "data.anchor_date": "2019-11-20", **notifications}
    run = run_pipeline(ds, {"overrides": overrides})
    got = states(run)
    assert str(run.state) == "failed"
    assert got["input_tables"] == "failed" and got["run_summary"] == "failed"
    assert all(
        got[t] in {"upstream_failed", "None"} for t in got if "." in t or t == "select_phase"
    )
    tries = sorted(p.name for p in reports(home, ds, "common").glob("*.ipynb"))
    assert tries == ["00-input-tables.try1.ipynb"]  # MissingInputError is not retried
    archived = reports(home, ds, "common") / "00-input-tables.try1.ipynb"
    assert archived.with_suffix(".html").exists()
    assert (
        xcom(run, "input_tables", "_link_ReportLink")
        == archived.with_suffix(".html").resolve().as_uri()
    )
    partition = home / "raw" / "events" / f"date={ds}"
    assert "MissingInputError" in outputs_text(archived)
    assert f"no raw events for {ds} at {partition}" in outputs_text(archived)
    assert not (home / "outbox").exists()
    assert f"no raw events for {ds}" in capfd.readouterr().out

    # Each channel: the stage's failure, the run's failure and the run summary.
    for channel, received in messages(http, smtp).items():
        assert sorted(map(what, received), key=str) == sorted(
            [("failure", "input_tables", 1), ("failure", None, None), ("summary", None, None)],
            key=str,
        ), channel
        failure = next(m for m in received if m["task"] == "input_tables")
        assert failure["report"] == archived.with_suffix(".html").resolve()
        assert "MissingInputError" in failure["text"] and "retries left: 0" in failure["text"]
        summary = next(m for m in received if m["event"] == "summary")
        assert "input_tables: failed, tries 1" in summary["text"]
        assert "prod.train: upstream_failed, tries 0" in summary["text"]
        for m in received:
            assert m["ds"] == str(ds) and m["report"].exists(), (channel, m)


def test_unknown_phase_fails_select_phase_listing_the_known_ones(
    run_pipeline, home, capfd, caplog, channels_down
):
    # Every notification channel is broken too: the states are those of the run
    # alone, and each channel's failure is logged with its name.
    ds = dt.date(2019, 11, 18)
    run = run_pipeline(ds, {"phases": ["gamma"], "overrides": {**TINY, **channels_down}})
    got = states(run)
    assert str(run.state) == "failed"
    assert got["input_tables"] == "success" and got["select_phase"] == "failed"
    assert all(got[t] in {"upstream_failed", "None"} for t in got if "." in t)
    assert got["run_summary"] == "failed"
    assert "unknown phase(s) 'gamma'; known phases are beta, prod" in capfd.readouterr().out
    assert not (home / "outbox").exists()
    for channel in ("slack", "email", "webhook"):
        failed = [r.getMessage() for r in caplog.records if r.name == "stagebook.notify"]
        for event in ("success: recommendation_pipeline.input_tables", "summary: run of"):
            assert any(f"channel {channel} failed for '[stagebook] {event}" in m for m in failed)


def test_override_of_an_unknown_key_fails_the_first_task_that_reads_it(run_pipeline, home, capfd):
    # input_tables runs before select_phase and already merges the overrides, so
    # it refuses the conf first, with the same message, and is not retried.
    ds = dt.date(2019, 11, 17)
    run = run_pipeline(ds, {"overrides": {**TINY, "train.speed": 1}})
    got = states(run)
    assert str(run.state) == "failed"
    assert got["input_tables"] == "failed" and got["select_phase"] == "upstream_failed"
    out = capfd.readouterr().out
    assert "unknown key 'train.speed'; known keys here: train.base_lr" in out
    archived = reports(home, ds, "common") / "00-input-tables.try1.ipynb"
    assert "RunConfError" in outputs_text(archived) and archived.with_suffix(".html").exists()
    assert not (home / "outbox").exists()


@pytest.fixture
def fast_retries(tmp_path, monkeypatch):
    """The project's params, with a retry delay of 1 s instead of minutes."""
    folder = tmp_path / "params"
    shutil.copytree(settings.REPO / "params", folder)
    common = yaml.safe_load((folder / "common.yaml").read_text())
    common["pipeline"]["retry_delay_s"] = 1
    (folder / "common.yaml").write_text(yaml.safe_dump(common))
    monkeypatch.setenv("STAGEBOOK_PARAMS", str(folder))
    return folder


def test_diverging_training_retries_with_a_lower_learning_rate(
    fast_retries, run_pipeline, home, receivers
):
    ds = dt.date(2019, 11, 16)
    http, smtp, notifications = receivers
    # A learning rate far too high for the data: the factors overflow and the loss becomes nan.
    overrides = {**TINY, "train.base_lr": 1e24, "train.lr_decay": 1e-26, **notifications}
    run = run_pipeline(ds, {"phases": ["prod"], "overrides": overrides})
    got = states(run)
    assert str(run.state) == "success", got
    train = next(ti for ti in run.get_task_instances() if ti.task_id == "prod.train")
    assert train.try_number == 2

    folder = reports(home, ds, "prod")
    first, second = folder / "20-train.try1.ipynb", folder / "20-train.try2.ipynb"
    for archived in (first, second):
        assert archived.exists() and archived.with_suffix(".html").exists()
    assert "InvalidLossError" in outputs_text(first) and "with learning rate 1e+24" in outputs_text(
        first
    )
    assert "try_number = 2" in injected(second)
    report = outputs_text(second)
    assert "try 2: learning rate 0.01 = base_lr 1e+24 * lr_decay 1e-26 ** 1" in report
    assert "InvalidLossError: training loss became" in report  # why try 1 failed, in try 2's report

    metrics = xcom(run, "prod.train", "metrics")
    assert metrics["learning_rate"] == pytest.approx(0.01)
    signature = xcom(run, "prod.train", "model_signature")
    assert signature == records.read_records(second)["model_signature"]
    assert xcom(run, "prod.inference", "model_signature") == signature
    assert f'model_signature = "{signature}"' in injected(folder / "30-inference.try1.ipynb")
    described = json.loads((home / "models" / "prod" / signature / "signature.json").read_text())
    assert described["try_number"] == 2 and described["metrics"]["learning_rate"] == pytest.approx(
        0.01
    )
    assert {"keras", "tensorflow-cpu", "numpy"} <= set(described["libraries"])

    # Each channel: a success per task, the retry of train try 1, the run's success, the summary.
    expected = [("success", "input_tables", 1), ("success", "select_phase", 1)]
    expected += [
        ("success", f"prod.{n}", 1) for n in ("features", "inference", "validate", "publish")
    ]
    expected += [("retry", "prod.train", 1), ("success", "prod.train", 2)]
    expected += [("success", None, None), ("summary", None, None)]
    for channel, received in messages(http, smtp).items():
        assert sorted(map(what, received), key=str) == sorted(expected, key=str), channel
        for m in received:
            phase = "common" if m["task"] in ("input_tables", "select_phase") else "prod"
            assert (m["ds"], m["phase"]) == (str(ds), phase), (channel, m)
            assert m["report"].exists(), (channel, m)
        retry = next(m for m in received if m["event"] == "retry")
        assert retry["report"] == (folder / "20-train.try1.html").resolve()
        assert "InvalidLossError" in retry["text"] and "retries left: 1" in retry["text"]
        success = next(m for m in received if what(m) == ("success", "prod.train", 2))
        assert success["report"] == (folder / "20-train.try2.html").resolve()
        summary = next(m for m in received if m["event"] == "summary")
        assert "prod.train: success, tries 2" in summary["text"]
        assert len(summary["summary_reports"]) == 6  # input_tables and five prod stages
        assert all(path.exists() for path in summary["summary_reports"])
