import dataclasses
import json
import logging

import pytest

from stagebook import params
from stagebook.errors import ParamsError
from stagebook.orchestration.notifying import channels
from tests.support import free_port, params_copy
from tests.support.receivers import HttpReceiver
from tests.support.samples import MESSAGE


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
        results = channels.send(MESSAGE, config)
    assert results["webhook"] == "ok" and results["slack"] != "ok"
    assert [body["subject"] for body in receiver.bodies("/webhook")] == [MESSAGE.subject]
    assert "notification channel slack failed" in caplog.text


def test_every_send_is_bounded_to_ten_seconds(tmp_path):
    folder = params_copy(tmp_path, {"notifications.timeout_s": 30})
    with pytest.raises(ParamsError, match="common.yaml: notifications.timeout_s"):
        params.load(folder=folder)
    config = params.load().notifications.model_copy(update={"timeout_s": 3})
    hook = channels.smtp_hook(config)
    assert hook.smtp_retry_limit == 0


def test_each_channel_is_one_registered_function():
    assert set(channels.CHANNELS) == {"log", "slack", "email", "webhook"}
    assert channels.CHANNELS["webhook"] is channels.send_webhook


def test_finding_1_slack_control_sequences_in_an_error_are_escaped(monkeypatch):
    with HttpReceiver() as http:
        slack = {"conn_type": "slackwebhook", "password": f"{http.url}/slack"}
        monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_SLACK", json.dumps(slack))
        config = params.load().notifications.model_copy(update={"channels": ["slack"]})
        error = "ValueError: <!channel> look at <http://x|this> & that"
        assert channels.send(dataclasses.replace(MESSAGE, error=error), config) == {"slack": "ok"}
    [body] = http.bodies("/slack")
    assert (
        "error: ValueError: &lt;!channel&gt; look at &lt;http://x|this&gt; &amp; that"
        in body["text"]
    )
    assert "<!channel>" not in body["text"] and "<http" not in body["text"]
