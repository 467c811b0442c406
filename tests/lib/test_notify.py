import json
import logging
from types import SimpleNamespace

import pytest

from stagebook import notify, params
from stagebook.errors import ParamsError
from tests.conftest import free_port
from tests.receivers import HttpReceiver

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


@pytest.fixture
def receiver(monkeypatch):
    """A real HTTP receiver as the webhook; Slack's webhook URL points at a closed port."""
    with HttpReceiver() as http:
        webhook = {"conn_type": "http", "host": f"{http.url}/webhook"}
        slack = {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{free_port()}/x"}
        monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_WEBHOOK", json.dumps(webhook))
        monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_SLACK", json.dumps(slack))
        yield http


def test_a_failing_channel_is_logged_by_name_and_the_others_still_send(receiver, caplog):
    config = params.load().notifications.model_copy(update={"channels": ["slack", "webhook"]})
    with caplog.at_level(logging.ERROR, logger="stagebook.notify"):
        results = notify.send(MESSAGE, config)
    assert results["webhook"] == "ok" and results["slack"] != "ok"
    assert [body["subject"] for body in receiver.bodies("/webhook")] == [MESSAGE.subject]
    assert "notification channel slack failed" in caplog.text


def test_every_send_is_bounded_to_ten_seconds():
    with pytest.raises(ParamsError, match="notifications.timeout_s"):
        params.load(overrides={"notifications.timeout_s": 30})
    config = params.load(overrides={"notifications.timeout_s": 3}).notifications
    hook = notify._smtp_hook(config)
    assert hook.smtp_retry_limit == 0


def test_an_event_switched_off_in_params_sends_nothing(receiver):
    overrides = {"notifications.events": ["failure"], "notifications.channels": ["webhook"]}
    context = {
        "task": SimpleNamespace(phase="beta"),
        "dag_run": SimpleNamespace(conf={"overrides": overrides}),
    }
    notify.StagebookNotifier("success").notify(context)
    notify.on_dag_success(context)
    assert receiver.received == []
    notify.on_dag_failure(context)  # failure is on: it reaches the receiver
    assert [body["event"] for body in receiver.bodies("/webhook")] == ["failure"]
