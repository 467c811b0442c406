"""The card at the top of a report: the try, its key figure, its checks and declared rows."""

import pytest

from stagebook import cards, sidecars, storage
from tests.support.archive import archived_try

LOSSES = [{"epoch": n, "loss": 0.7 - n / 100, "val_loss": 0.68 - n / 200} for n in range(1, 26)]
TRAIN = {
    "losses": LOSSES,
    "metrics": {"test_auc": 0.6857, "epochs": 25},
    "model_signature": "m.20191120.1",
}


def _info(stage, records, **more):
    return {
        "stage": stage,
        "ds": "2019-11-20",
        "phase": "prod",
        "run_id": "scheduled__2019-11-21T01:00:00+00:00",
        "try_number": 2,
        "state": "success",
        "duration_s": 12.34,
        "records": records,
        **more,
    }


def test_the_card_shows_the_try_and_its_key_figures():
    card = cards.card_html(
        _info(
            "20-train",
            {"metrics": {"test_auc": 0.6857, "epochs": 7}, "model_signature": "ffm.TH.1"},
            figure={"label": "test AUC", "value": 0.6857},
        )
    )
    for shown in ("20-train", "2019-11-20", "prod", "scheduled__2019-11-21T01:00:00+00:00"):
        assert f">{shown}<" in card
    assert ">12.3 s<" in card and ">2<" in card
    assert "test AUC 0.6857" in card
    assert "<td>metrics.test_auc</td><td>0.6857</td>" in card
    assert "<td>model_signature</td><td>ffm.TH.1</td>" in card


def test_the_card_of_validate_lists_every_check_and_a_failed_trys_error():
    checks = [
        {"check": "user_coverage", "value": 1.0, "threshold": ">= 0.9", "passed": True},
        {"check": "kl_divergence", "value": 3.1, "threshold": "<= 2.5", "passed": False},
        {
            "check": "js_distance",
            "value": 0.7,
            "threshold": "<= 0.75",
            "passed": True,
            "soft_threshold": "<= 0.6",
            "soft_passed": False,
        },
    ]
    card = cards.card_html(
        _info(
            "40-validate",
            {"checks": checks, "validation": {"kl_divergence": 3.1}},
            state="failed",
            error="ValidationFailed: kl_divergence = 3.1",
        )
    )
    assert (
        "<td>user_coverage</td><td>1</td><td>&gt;= 0.9</td><td></td><td class='pass'>pass</td>"
        in card
    )
    assert (
        "<td>kl_divergence</td><td>3.1</td><td>&lt;= 2.5</td><td></td><td class='fail'>FAIL</td>"
        in card
    )
    assert (
        "<td>js_distance</td><td>0.7</td><td>&lt;= 0.75</td><td>&lt;= 0.6</td>"
        "<td class='soft'>soft: needs approval</td>" in card
    )
    assert "checks.0" not in card  # the checks are the table, not raw records
    assert "state-failed" in card and "ValidationFailed: kl_divergence = 3.1" in card


def test_a_card_is_put_in_once_and_replaced_when_the_try_changes():
    page = "<html><body class='x'><h1>report</h1></body></html>"
    once = cards.with_card(page, _info("30-inference", {}, state="running"))
    twice = cards.with_card(once, _info("30-inference", {}, state="success"))
    assert once.startswith("<html><body class='x'><!--stagebook-card-->")
    assert twice.count("stagebook-card-->") == 2  # one card: its start and end marks
    assert "state-success" in twice and "state-running" not in twice


@pytest.mark.parametrize(
    ("stage", "records", "shown"),
    [
        ("00-input-tables", {"table_rows": {"events": 25752}}, "table_rows.events</td><td>25752"),
        ("10-features", {"vocabulary_sizes": {"item_id": 1504}}, "vocabulary_sizes.item_id"),
        ("20-train", {"metrics": {"test_auc": 0.69}}, "metrics.test_auc</td><td>0.69"),
        ("30-inference", {"inference": {"users": 370}}, "inference.users</td><td>370"),
        ("40-validate", {"validation": {"user_coverage": 1.0}}, "validation.user_coverage"),
        ("50-publish", {"published": [{"sink": "outbox", "records": 370}]}, "published.0.records"),
    ],
)
def test_each_stages_card_shows_what_it_recorded(stage, records, shown):
    card = cards.card_html(_info(stage, records))
    assert f">{stage}<" in card and shown in card


def test_a_card_shows_its_declared_rows_not_each_epochs_loss():
    summary = [["test AUC", "metrics.test_auc"], ["epochs", "metrics.epochs"], ["try", "tries"]]
    card = cards.card_html(_info("20-train", TRAIN, summary=summary))
    assert "<td title='metrics.test_auc'>test AUC</td><td>0.6857</td>" in card
    assert "<td title='metrics.epochs'>epochs</td><td>25</td>" in card
    assert "<td title='tries'>try</td><td>2</td>" in card
    assert "losses" not in card and "more in the report" not in card
    assert "model_signature" not in card  # declared rows only


def test_a_declared_row_the_try_did_not_record_says_so():
    summary = [["test AUC", "metrics.test_auc"]]
    card = cards.card_html(_info("20-train", {}, summary=summary, state="failed"))
    assert "<td title='metrics.test_auc'>test AUC</td><td class='missing'>-</td>" in card


def test_a_stage_that_declared_no_rows_lists_its_records_that_are_a_number_or_a_text():
    card = cards.card_html(_info("20-train", TRAIN, summary=[]))
    assert "<td title='model_signature'>model_signature</td><td>m.20191120.1</td>" in card
    assert "losses" not in card and "metrics" not in card


def test_a_try_archived_before_declared_rows_keeps_its_flattened_records():
    card = cards.card_html(_info("20-train", TRAIN))  # its sidecar has no summary
    assert "<td>losses.0.epoch</td><td>1</td>" in card
    assert "and 62 more in the report" in card  # 75 losses values + 3 others, 16 shown


def test_the_rendered_report_opens_with_the_declared_rows(home):
    notebook = archived_try(home, records=TRAIN)
    sidecars.write_sidecar(notebook, summary=[["test AUC", "metrics.test_auc"]])
    cards.add_card(notebook)
    page = storage.rendering(notebook).read_text()
    assert "<td title='metrics.test_auc'>test AUC</td><td>0.6857</td>" in page
    assert "losses.0" not in page
