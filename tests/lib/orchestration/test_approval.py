import datetime as dt

from stagebook.orchestration import approval

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
    assert approval.describe(rejected) == f"rejected by rita at {AT.isoformat()}; publish skipped"


def test_no_answer_within_the_timeout_is_a_rejection():
    got = approval.decision(event("Reject", timedout=True), [BREACH], "d", 3600)
    assert got["decision"] == "rejected" and got["timed_out"] and got["by"] is None
    assert approval.describe(got) == (
        "rejected: nobody answered within 3600 s (validation.approval_timeout_s); publish skipped"
    )


def test_the_body_lists_each_breach_the_report_and_the_last_published_value():
    text = approval.body(
        phase="prod",
        ds="2019-11-20",
        breaches=[BREACH],
        report="/stagebook/tasks/d/r/prod.validate",
        earlier=("2019-11-19", {"js_distance": 0.31}),
        timeout_s=3600,
    )
    assert "| check | value | soft limit | last published (2019-11-19) |" in text
    assert "| js_distance | 0.6123 | <= 0.5 (validation.soft.max_js) | 0.31 |" in text
    assert "[The validate report](/stagebook/tasks/d/r/prod.validate)" in text
    assert "Unanswered within 3600 s, it is rejected." in text


def test_a_day_without_a_soft_breach_is_described_as_nothing_to_approve():
    assert approval.describe({"required": False}) == "no soft limit breached: nothing to approve"
    assert approval.describe(None) is None
