import logging

import pytest

from stagebook import notify, params
from stagebook.errors import ParamsError

MESSAGE = notify.Message(
    event="retry",
    state="up_for_retry",
    dag_id="recommendation_pipeline",
    ds="2019-11-16",
    phase="prod",
    task_id="prod.train",
    try_number=1,
    retries_left=1,
    error="StageFailed: stage 20-train raised InvalidLossError: training loss became nan",
    log_url="http://localhost:8080/dags/recommendation_pipeline/runs/r/tasks/prod.train?try_number=1",
    report_url="file:///archive/reports/recommendation_pipeline/2019-11-16/prod/20-train.try1.html",
)


def test_a_message_holds_state_date_phase_try_error_and_links():
    assert MESSAGE.subject == (
        "[stagebook] retry: recommendation_pipeline.prod.train ds 2019-11-16 phase prod try 1"
    )
    for part in (
        "state: up_for_retry",
        "try: 1, retries left: 1",
        "error: StageFailed: stage 20-train raised InvalidLossError",
        "report: file:///archive/reports/recommendation_pipeline/2019-11-16/prod/20-train.try1.html",
        "log: http://localhost:8080/dags/recommendation_pipeline/runs/r/tasks/prod.train?try_number=1",
    ):
        assert part in MESSAGE.text
    assert MESSAGE.as_dict()["subject"] == MESSAGE.subject


def test_first_lines_of_an_error_are_short():
    error = ValueError("\n".join(f"line {n}" for n in range(20)))
    assert notify.first_lines(error) == "ValueError: line 0\nline 1\nline 2\nline 3\nline 4"
    assert len(notify.first_lines("x" * 5000)) == 600


def test_a_failing_channel_is_logged_by_name_and_the_others_still_send(monkeypatch, caplog):
    sent = []
    monkeypatch.setitem(notify.CHANNELS, "slack", lambda m, c: 1 / 0)
    monkeypatch.setitem(notify.CHANNELS, "webhook", lambda m, c: sent.append(m.subject))
    config = params.load().notifications.model_copy(update={"channels": ["slack", "webhook"]})
    with caplog.at_level(logging.ERROR, logger="stagebook.notify"):
        results = notify.send(MESSAGE, config)
    assert results == {"slack": "ZeroDivisionError: division by zero", "webhook": "ok"}
    assert sent == [MESSAGE.subject]
    assert "notification channel slack failed" in caplog.text


def test_every_send_is_bounded_to_ten_seconds():
    with pytest.raises(ParamsError, match="notifications.timeout_s"):
        params.load(overrides={"notifications.timeout_s": 30})
    config = params.load(overrides={"notifications.timeout_s": 3}).notifications
    hook = notify._smtp_hook(config)
    assert hook.smtp_retry_limit == 0
