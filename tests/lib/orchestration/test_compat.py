"""Each item of ``stagebook.orchestration.compat`` still holds on the installed Airflow.

Each test pins one item: the private names it relies on (their signatures and
columns) and what it does, on a probe DAG of its own run by ``dag.test()`` in a
process of its own (its own metastore and dags folder). A failure names the item.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAG_FILE = """
import pendulum
from airflow.sdk import DAG, Asset, task

OUT = Asset("probe://compat/out")

with DAG("compat_probe", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:

    @task(outlets=[OUT])
    def first(**context):
        context["outlet_events"][OUT].extra = {"ds": "2024-01-02"}

    @task
    def second():
        print("second ran")

    first() >> second()
"""

PROBE = """
import datetime as dt, json, subprocess, sys
from pathlib import Path

from stagebook.orchestration import compat
from stagebook.orchestration.commands import dags

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
airflow = Path(sys.executable).with_name("airflow")
subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
# the asset active, as a served scheduler would make it: an inactive one records no event
subprocess.run([str(airflow), "dags", "reserialize"], check=True, capture_output=True)
dag = dags.load_folder(folder)[0]["compat_probe"]
from airflow.sdk.definitions import dag as sdk_dag

original, seen, found = sdk_dag._run_task, [], {}

def around(ti, run):
    seen.append([ti.task_id, ti.try_number, ti.map_index])
    result = run()
    seen.append(getattr(ti.state, "value", ti.state))
    return result

with compat.each_task(around):
    found["state"] = str(dag.test(logical_date=dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)).state)
found["seen"], found["restored"] = seen, sdk_dag._run_task is original
found["events"] = [
    [task, extra, isinstance(when, dt.datetime)] for task, extra, when in compat.asset_events("probe://compat/out")
]

class Stop(BaseException):
    pass

def stop(ti, run):
    raise Stop  # before the task runs: the run is left running, its task scheduled

stopped_at = dt.datetime(2024, 1, 3, tzinfo=dt.timezone.utc)
try:
    with compat.each_task(stop):
        dag.test(logical_date=stopped_at, run_conf={"ds": "2024-01-03"})
except Stop:
    pass
found["active"] = [[r.run_id, r.state, r.conf] for r in compat.active_runs("compat_probe")]
compat.fail_run("compat_probe", stopped_at)
found["active_after"] = [r.run_id for r in compat.active_runs("compat_probe")]

from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session

with create_session() as session:
    run_id = found["active"][0][0] if found["active"] else "none"
    record = compat.run_record(session, "compat_probe", run_id)
    found["record"] = None if record is None else [record.run_id, record.state, record.run_type, record.conf]
    found["missing"] = compat.run_record(session, "compat_probe", "no-such-run")
    run = session.query(DagRun).filter_by(dag_id="compat_probe", run_id=run_id).one_or_none()
    found["tasks"] = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)} if run else {}
out.write_text(json.dumps(found, default=str))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    """Run the probe DAG through each item in a process of its own; return what it saw."""
    root = tmp_path_factory.mktemp("compat")
    (root / "dags").mkdir()
    (root / "dags" / "probe.py").write_text(DAG_FILE)
    (root / "probe.py").write_text(textwrap.dedent(PROBE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    out = root / "found.json"
    done = subprocess.run(
        [sys.executable, str(root / "probe.py"), str(root / "dags"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the compat probe failed:\n{done.stderr[-4000:]}"
    return json.loads(out.read_text())


def _keyword_only(function: object) -> set[str]:
    return {
        name
        for name, p in inspect.signature(function).parameters.items()  # type: ignore[arg-type]
        if p.kind is p.KEYWORD_ONLY
    }


def test_item_1_each_task_wraps_every_task_dag_test_runs(probe):
    from airflow.sdk import DAG
    from airflow.sdk.definitions import dag as sdk_dag

    item = "compat item 1 (each_task): airflow.sdk.definitions.dag._run_task"
    assert callable(getattr(sdk_dag, "_run_task", None)), f"{item} is gone"
    assert {"ti", "task", "run_triggerer"} <= _keyword_only(sdk_dag._run_task), (
        f"{item} changed its signature: {inspect.signature(sdk_dag._run_task)}"
    )
    assert "_run_task" in DAG.test.__code__.co_names, f"{item}: DAG.test() no longer calls it"
    assert probe["state"] == "success", f"{item}: the probe run ended {probe['state']}"
    assert probe["seen"] == [["first", 1, -1], "success", ["second", 1, -1], "success"], (
        f"{item}: the wrapper saw {probe['seen']}"
    )
    assert probe["restored"], f"{item}: not restored after the block"


def test_item_2_run_records_are_read_and_a_stopped_run_is_failed(probe):
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    item = "compat item 2 (fail_run, active_runs, run_record): airflow.models.dagrun.DagRun"
    columns = {"dag_id", "run_id", "logical_date", "state", "run_type", "conf"}
    missing = {c for c in columns | {"data_interval_start"} if not hasattr(DagRun, c)}
    assert not missing, f"{item} lost {sorted(missing)}"
    assert "state" in inspect.signature(DagRun.set_state).parameters, f"{item}.set_state changed"
    assert "session" in _keyword_only(TaskInstance.set_state), f"{item}: TI.set_state changed"
    assert "scoped" in inspect.signature(create_session).parameters, f"{item}: create_session"
    assert hasattr(settings, "Session"), f"{item}: airflow.settings.Session is gone"
    [(run_id, state, conf)] = probe["active"]
    assert (state, conf) == ("running", {"ds": "2024-01-03"}), f"{item}: {probe['active']}"
    assert probe["active_after"] == [], f"{item}: fail_run left {probe['active_after']} active"
    assert probe["record"] == [run_id, "failed", "manual", {"ds": "2024-01-03"}], (
        f"{item}: run_record read {probe['record']}"
    )
    assert probe["missing"] is None, f"{item}: run_record found a run that does not exist"
    assert probe["tasks"]["first"] == "failed", f"{item}: its tasks are {probe['tasks']}"


def test_item_3_asset_events_are_read_newest_first_with_their_extra(probe):
    from airflow.models.asset import AssetEvent, AssetModel

    item = "compat item 3 (asset_events): airflow.models.asset"
    wanted = {"id", "asset_id", "source_task_id", "extra", "timestamp"}
    missing = {c for c in wanted if not hasattr(AssetEvent, c)} | {
        c for c in ("id", "uri") if not hasattr(AssetModel, c)
    }
    assert not missing, f"{item} lost {sorted(missing)}"
    assert probe["events"] == [["first", {"ds": "2024-01-02"}, True]], (
        f"{item}: read {probe['events']}"
    )


def test_the_probe_dag_file_is_loaded_with_its_own_file_location(tmp_path):
    from stagebook.orchestration.commands import dags

    (tmp_path / "probe.py").write_text(DAG_FILE)
    (tmp_path / "broken.py").write_text("from airflow.sdk import DAG\nraise RuntimeError('no')\n")
    found, errors = dags.load_folder(tmp_path)
    assert found["compat_probe"].fileloc == str(tmp_path / "probe.py")
    assert [dags.error_line(p, e) for p, e in errors.items()] == [
        f"{tmp_path / 'broken.py'}: DAG import error: RuntimeError: no"
    ]
    assert Path(found["compat_probe"].fileloc).exists()


def test_item_4_the_schedulers_sweep_of_unanswered_approvals_runs_outside_a_scheduler(airflow_db):
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    from stagebook.orchestration import compat

    sweep = SchedulerJobRunner.check_awaiting_input_timeouts
    required = [
        name
        for name, p in inspect.signature(sweep).parameters.items()
        if name != "self" and p.default is p.empty
    ]
    assert required == [], f"compat item 4: the sweep now wants {required}"
    compat.awaiting_input_sweep()()  # on a metastore with nothing waiting: sweeps nothing
    # what it does to a waiting gate: tests/e2e/test_approval_timeout.py


def test_item_5_a_connection_added_to_the_metastore_is_read_outside_a_task(airflow_db):
    from stagebook.orchestration import compat

    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [
            str(airflow),
            "connections",
            "add",
            "compat_probe",
            "--conn-uri",
            "http://u@probe:81",
        ],
        check=True,
        capture_output=True,
    )
    try:
        found = json.loads(compat.stored_connection("compat_probe") or "{}")
        # no password: this test process lacks the Fernet key the CLI encrypts one with
        assert (found.get("host"), found.get("port"), found.get("login")) == ("probe", 81, "u")
        assert compat.stored_connection("no_such_connection") is None
    finally:
        subprocess.run([str(airflow), "connections", "delete", "compat_probe"], capture_output=True)


def test_item_6_dag_tests_execution_api_is_one_cached_instance_that_answers(airflow_db):
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    from stagebook.orchestration import compat

    required = [
        name
        for name, p in inspect.signature(in_process_api_server).parameters.items()
        if p.default is p.empty
    ]
    assert required == [], f"compat item 6: in_process_api_server now wants {required}"
    compat.execution_api()
    api = in_process_api_server()
    assert api is in_process_api_server(), "compat item 6: dag.test() would build another one"
    assert api.transport is not None


FORKED = """
import os, threading
import httpx
from airflow.sdk.execution_time.supervisor import in_process_api_server
from stagebook.orchestration import compat

compat.execution_api(serving=False)
assert threading.active_count() == 1, threading.enumerate()
pid = os.fork()
if pid == 0:
    transport = in_process_api_server().transport  # the child's own loop and lifespan
    answer = httpx.Client(transport=transport, base_url="http://in-process.invalid").get("/health")
    os._exit(0 if answer.status_code < 500 else 1)
raise SystemExit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_item_6_built_for_a_process_that_forks_it_leaves_no_thread_and_serves_the_child(airflow_db):
    done = subprocess.run(
        [sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"compat item 6 (serving=False): {done.stderr[-3000:]}"


def test_item_7_task_states_are_read_by_the_task_sdks_runtime_task_instance():
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    wanted = {"dag_id", "run_ids"}
    got = set(inspect.signature(RuntimeTaskInstance.get_task_states).parameters)
    assert wanted <= got, f"compat item 7: get_task_states takes {sorted(got)}"
    # what it reads in a deadline's callback: tests/served/test_deadline.py
