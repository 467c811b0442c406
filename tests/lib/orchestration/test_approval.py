import datetime as dt

import pendulum
import pytest
from airflow.sdk import DAG

from stagebook import params
from stagebook.declaration import Gate, Stage
from stagebook.orchestration.approving import approval
from stagebook.orchestration.factory import gate_task, stage_task

BREACH = {"check": "js_distance", "value": 0.61234, "threshold": "<= 0.5 (validation.soft.max_js)"}
AT = dt.datetime(2019, 11, 21, 1, 2, 3, tzinfo=dt.UTC)


def event(chosen, user=None, comment="", timedout=False):
    return {
        "chosen_options": [chosen],
        "params_input": {"comment": comment},
        "responded_at": AT,
        "responded_by_user": user,
        "timedout": timedout,
    }


def test_an_answer_becomes_the_approval_record_and_one_line():
    got = approval.decision(event("Approve", {"id": "r", "name": "rita"}, "ok"), [BREACH], "d", 60)
    assert (got["decision"], got["by"], got["at"], got["comment"]) == (
        "approved",
        "rita",
        AT.isoformat(),
        "ok",
    )
    assert approval.describe(got) == f'approved by rita at {AT.isoformat()}: "ok"'
    rejected = approval.decision(event("Reject", {"id": "r", "name": "rita"}), [BREACH], "d", 60)
    assert approval.describe(rejected, skips="publish") == (
        f"rejected by rita at {AT.isoformat()}; publish skipped"
    )


def test_no_answer_within_the_timeout_is_a_rejection():
    got = approval.decision(event("Reject", timedout=True), [BREACH], "d", 3600)
    assert got["decision"] == "rejected" and got["timed_out"] and got["by"] is None
    said = approval.describe(got, timeout_key="checks.approval_timeout_s", skips="ship")
    assert (
        said == "rejected: nobody answered within 3600 s (checks.approval_timeout_s); ship skipped"
    )
    assert approval.describe(got) == "rejected: nobody answered within 3600 s"


def test_the_body_lists_each_breach_the_report_and_the_last_published_value():
    text = approval.body(
        phase="prod",
        ds="2019-11-20",
        breaches=[BREACH],
        report="/stagebook/tasks/d/r/prod.validate",
        earlier=("2019-11-19", {"js_distance": 0.31}),
        timeout_s=3600,
        checks="validate",
        what="these scores",
    )
    assert "**prod, ds 2019-11-20**: validate breached soft limits only." in text
    assert "**Approve** publishes these scores; **Reject** skips publishing." in text
    assert "| check | value | soft limit | last published (2019-11-19) |" in text
    assert "| js_distance | 0.6123 | <= 0.5 (validation.soft.max_js) | 0.31 |" in text
    assert "[The validate report](/stagebook/tasks/d/r/prod.validate)" in text
    assert "Unanswered within 3600 s, it is rejected." in text


def test_a_day_without_a_soft_breach_is_described_as_nothing_to_approve():
    assert approval.describe({"required": False}) == "no soft limit breached: nothing to approve"
    assert approval.describe(None) is None


CHECKS = Stage("check", "30-check", records=("soft_breaches", "approved_digest", "checks"))
TIMEOUT = "validation.approval_timeout_s"  # a key the project's params have


def _gate(gate: Gate):
    merged = params.load("prod")
    with DAG("gated", schedule=None, start_date=pendulum.datetime(2019, 11, 1, tz="UTC")):
        task = gate_task(gate, "prod", merged)
        task >> stage_task(Stage("ship", "40-ship"), "prod", merged)
    return task


def test_a_gate_asks_in_the_words_its_stage_table_declares():
    worded = _gate(Gate("ok", CHECKS, TIMEOUT, subject="Ship the {phase} scores of {ds}?"))
    assert worded.asks("2019-11-20", 2) == (
        "Ship the prod scores of 2019-11-20? 2 soft limit(s) breached"
    )
    plain = _gate(Gate("ok", CHECKS, TIMEOUT))
    assert plain.asks("2019-11-20", 1) == "Publish prod of 2019-11-20? 1 soft limit(s) breached"
    assert (plain.what, _gate(Gate("ok", CHECKS, TIMEOUT, what="these scores")).what) == (
        "the results",
        "these scores",
    )


def test_a_gates_outcome_names_its_timeout_key_and_the_task_a_rejection_skips():
    got = approval.decision(event("Reject", timedout=True), [BREACH], "d", 900)
    assert _gate(Gate("ok", CHECKS, TIMEOUT)).said(got) == (
        f"rejected: nobody answered within 900 s ({TIMEOUT}); ship skipped"
    )


def test_a_gate_subject_with_an_unknown_placeholder_is_one_line_naming_it():
    with pytest.raises(ValueError) as err:
        Gate("ok", CHECKS, TIMEOUT, subject="Ship {thing} of {ds}?")
    assert str(err.value) == (
        "gate ok: subject 'Ship {thing} of {ds}?' may use only {phase} and {ds}; "
        "double any other brace"
    )
