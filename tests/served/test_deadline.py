"""The publish deadline, on a real Airflow: scheduler, triggerer and api-server on loopback.

A DAG of the test's own declares ``publish_by(...)`` a few seconds from now;
its ``prod.validate`` waits (deferred) far past that, so ``prod.publish``
cannot run in time, while ``beta.publish`` succeeds at once. The webhook
receiver must get ONE deadline message naming the DAG, ``ds``, the late phase
and what it still waits for, and no second one after more scheduler loops.

Deadline alerts are evaluated by the scheduler's loop and their callback runs
in the triggerer, so this cannot run under ``dag.test()``. The plugins folder
is the test's own: a plugin that registers the custom reference, as the
Stagebook plugin does.
"""

import time

import pendulum
import pytest

from tests.support.components import airflow_components
from tests.support.receivers import HttpReceiver
from tests.support.servers import connection_env

DAG_ID = "deadline_probe"
TIMEZONE = "Asia/Tokyo"
LEAD_S = 25  # from writing the DAG to its deadline: reserialize, unpause and trigger come first

DAG_FILE = """
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG

from stagebook.orchestration.notifying.deadline import publish_by

with DAG(
    dag_id="{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2019, 11, 1, tz="UTC"),
    deadline=publish_by("{time}", timezone="{timezone}", days_after_ds=0),
):
    waits = DateTimeSensorAsync(task_id="prod.validate", target_time="2999-01-01T00:00:00+00:00")
    waits >> EmptyOperator(task_id="prod.publish")
    EmptyOperator(task_id="beta.publish")
"""

PLUGIN_FILE = """
from airflow.plugins_manager import AirflowPlugin

from stagebook.orchestration.notifying.deadline import PublishBy


class DeadlineProbePlugin(AirflowPlugin):
    name = "deadline_probe"
    deadline_references = [PublishBy]
"""


def _deadlines(http: HttpReceiver) -> list[dict]:
    return [b for b in http.bodies("/webhook") if b.get("event") == "deadline"]


@pytest.fixture(scope="module")
def webhook(module_params):
    module_params({"notifications.channels": ["webhook"]})
    with HttpReceiver() as http:
        yield http


@pytest.fixture(scope="module")
def airflow(home, webhook, tmp_path_factory):
    dags, plugins = tmp_path_factory.mktemp("dags"), tmp_path_factory.mktemp("plugins")
    (plugins / "deadline_probe_plugin.py").write_text(PLUGIN_FILE)
    hook = connection_env("stagebook_webhook", conn_type="http", host=f"{webhook.url}/webhook")
    with airflow_components(home, dags, plugins, extra_env=hook) as served:
        yield served, dags


def test_a_missed_deadline_is_notified_exactly_once(airflow, webhook):
    served, dags = airflow
    due = pendulum.now(TIMEZONE).add(seconds=LEAD_S).replace(microsecond=0)
    ds = due.date().isoformat()
    source = DAG_FILE.format(dag_id=DAG_ID, time=due.format("HH:mm:ss"), timezone=TIMEZONE)
    (dags / f"{DAG_ID}.py").write_text(source)
    served.airflow("dags", "reserialize")
    served.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    run = served.call(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"ds": ds}}
    )
    assert pendulum.now(TIMEZONE) < due, "the run was triggered after its deadline: raise LEAD_S"

    give_up = time.monotonic() + LEAD_S + 60
    while not _deadlines(webhook) and time.monotonic() < give_up:
        time.sleep(0.5)
    got = _deadlines(webhook)
    assert got, f"no deadline message\n{served.log('scheduler')}\n{served.log('triggerer')}"
    assert pendulum.now(TIMEZONE) >= due  # not before its time
    time.sleep(8)  # several more scheduler loops (one a second when idle) and triggerer polls

    assert len(_deadlines(webhook)) == 1, _deadlines(webhook)
    message = got[0]
    assert (message["dag_id"], message["ds"], message["phase"]) == (DAG_ID, ds, "prod")
    pending = {row["task_id"]: row["state"] for row in message["stages"]}
    assert set(pending) == {"prod.validate", "prod.publish"}
    assert pending["prod.publish"] == "not started"
    assert pending["prod.validate"] in ("deferred", "running", "queued", "scheduled")
    text = message["text"]
    assert f"deadline: run of {DAG_ID} ds {ds} phase prod" in text
    assert f"not published by {due.format('HH:mm:ss')} {TIMEZONE} on ds" in text
    assert "beta" not in text  # beta published: only the late phase is named
    states = served.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}")["state"]
    assert states == "running"  # the alert does not end the run: the approval may still come
