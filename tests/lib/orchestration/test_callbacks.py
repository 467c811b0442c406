import json
from types import SimpleNamespace

import pytest

from stagebook.orchestration import callbacks
from tests.support.receivers import HttpReceiver


@pytest.fixture
def webhook(monkeypatch):
    """A real HTTP receiver as the webhook connection."""
    with HttpReceiver() as http:
        conn = {"conn_type": "http", "host": f"{http.url}/webhook"}
        monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_WEBHOOK", json.dumps(conn))
        yield http


def test_an_event_switched_off_in_params_sends_nothing(webhook):
    overrides = {"notifications.events": ["failure"], "notifications.channels": ["webhook"]}
    context = {
        "task": SimpleNamespace(phase="beta"),
        "dag_run": SimpleNamespace(conf={"overrides": overrides}),
    }
    callbacks.StagebookNotifier("success").notify(context)
    callbacks.on_dag_success(context)
    assert webhook.received == []
    callbacks.on_dag_failure(context)  # failure is on: it reaches the receiver
    assert [body["event"] for body in webhook.bodies("/webhook")] == ["failure"]


def test_a_run_with_invalid_overrides_still_notifies_with_the_params_files(caplog):
    context = {"dag_run": SimpleNamespace(conf={"overrides": {"train.speed": 1}})}
    config = callbacks.notification_params("prod", context)
    assert config.channels == ["log"]  # params/common.yaml's
    assert "the run conf is invalid: run conf 'overrides': unknown key 'train.speed'" in caplog.text
