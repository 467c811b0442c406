import json
from types import SimpleNamespace

import pytest

from stagebook.orchestration.notifying import callbacks
from tests.support import params_copy
from tests.support.receivers import HttpReceiver


@pytest.fixture
def webhook(monkeypatch):
    """A real HTTP receiver as the webhook connection."""
    with HttpReceiver() as http:
        conn = {"conn_type": "http", "host": f"{http.url}/webhook"}
        monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_WEBHOOK", json.dumps(conn))
        yield http


@pytest.fixture
def webhook_params(tmp_path, monkeypatch):
    """Params files whose only channel is the webhook, for failures only."""
    values = {"notifications.channels": ["webhook"], "notifications.events": ["failure"]}
    monkeypatch.setenv(
        "STAGEBOOK_PARAMS_RECOMMENDATIONS", str(params_copy(tmp_path / "params", values))
    )


def test_an_event_switched_off_in_params_sends_nothing(webhook, webhook_params):
    context = {"task": SimpleNamespace(phase="beta"), "dag_run": SimpleNamespace(conf={})}
    callbacks.StagebookNotifier("success").notify(context)
    callbacks.on_dag_success(context)
    assert webhook.received == []
    callbacks.on_dag_failure(context)  # failure is on: it reaches the receiver
    assert [body["event"] for body in webhook.bodies("/webhook")] == ["failure"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"notifications.channels": []},
        {"notifications.webhook_conn_id": "attacker"},
        {"notifications.events": ["success"]},
    ],
)
def test_finding_9_a_run_conf_can_neither_silence_nor_redirect_notifications(
    webhook, webhook_params, overrides, caplog
):
    context = {"dag_run": SimpleNamespace(conf={"overrides": overrides, "ds": "2019-11-20"})}
    callbacks.on_dag_failure(context)
    [body] = webhook.bodies("/webhook")
    assert (body["event"], body["ds"]) == ("failure", "2019-11-20")
    assert "cannot be overridden by a run" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"train.speed": 1}, "unknown key 'train.speed'"),
        ({"train.epochs": "abc"}, "train.epochs: Input should be a valid integer"),
    ],
)
def test_finding_1_a_run_with_a_bad_conf_still_notifies_with_the_params_files(
    caplog, overrides, said
):
    context = {"dag_run": SimpleNamespace(conf={"overrides": overrides, "ds": "2019-13-01"})}
    config = callbacks.notification_params("prod", context)
    assert config.channels == ["log"]  # params/common.yaml's
    assert "the run conf is invalid" in caplog.text and said in caplog.text


def test_finding_1_the_run_failure_of_a_bad_conf_reaches_the_webhook(webhook, webhook_params):
    bad = {"overrides": {"train.epochs": "abc"}, "ds": "2019-13-01"}
    callbacks.on_dag_failure({"dag_run": SimpleNamespace(conf=bad)})
    [body] = webhook.bodies("/webhook")
    assert (body["event"], body["ds"], body["phase"]) == ("failure", "unknown", "unknown")
