import json
import shutil
from types import SimpleNamespace

import pytest

from stagebook import settings
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


def test_finding_1_the_run_failure_of_a_bad_conf_reaches_the_webhook(
    webhook, monkeypatch, tmp_path
):
    folder = tmp_path / "params"
    shutil.copytree(settings.params_dir(), folder)
    common = folder / "common.yaml"
    common.write_text(common.read_text().replace("channels: [log]", "channels: [webhook]"))
    monkeypatch.setenv("STAGEBOOK_PARAMS", str(folder))
    bad = {"overrides": {"train.epochs": "abc"}, "ds": "2019-13-01"}
    callbacks.on_dag_failure({"dag_run": SimpleNamespace(conf=bad)})
    [body] = webhook.bodies("/webhook")
    assert (body["event"], body["ds"], body["phase"]) == ("failure", "unknown", "unknown")
