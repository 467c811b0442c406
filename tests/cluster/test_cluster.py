"""The Ansible deployment, converged on this machine: PostgreSQL, RabbitMQ, Celery, two schedulers.

One module, one converge of ``ansible/inventories/local`` into a temporary
prefix (the path ``make cluster`` takes), then the proofs in order: a run that
survives a SIGKILLed scheduler on both workers at once, a run of the second
pipeline (weather) on the workers, ansible-lint's production profile, a run
through a stopped broker, a backup restored, and a teardown that leaves no
process behind. A worker lost mid-stage is the multi-host test's (its link cut).
"""

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stagebook import storage
from stagebook_deploy import cluster
from tests.cluster import exactly_once, localops
from tests.support import free_port

DS = "2019-11-20"
WEATHER_DS = "2015-11-30"
EXAMPLE_PASSWORD = cluster.ansible_dir() / cluster.VAULT_EXAMPLE
pytestmark = pytest.mark.longest


@pytest.fixture(scope="module")
def deployed():
    if os.geteuid() != 0:
        pytest.fail(
            "the cluster test converges as root (apt, su postgres): run `make test` as root"
        )
    with localops.deployed() as deployment:
        yield deployment


def test_the_converge_prints_how_to_log_in(deployed):
    lines = cluster.login(deployed["where"])
    assert any(
        f"http://127.0.0.1:{deployed['extra']['airflow_api_port']}/" in line for line in lines
    )
    assert any("log in as admin, viewer" in line for line in lines)
    vault = cluster.ansible_dir() / "inventories" / "local" / "group_vars" / "all" / "vault.yml"
    shown = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-vault")),
            "view",
            str(vault),
            "--vault-password-file",
            str(cluster.ansible_dir() / cluster.VAULT_EXAMPLE),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    secrets = [
        line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("vault_")
    ]
    output = deployed["first"].stdout + deployed["first"].stderr
    assert len(secrets) >= 7 and not [s for s in secrets if s in output]  # no secret in the output


def test_a_run_survives_a_killed_scheduler_and_uses_both_workers_in_parallel(deployed):
    api, where = deployed["api"], deployed["where"]
    run_id = api.trigger({"ds": DS})
    deadline = time.monotonic() + 180
    while True:  # until tasks have been queued, then kill the scheduler that queued most
        with localops.metastore(where) as db:
            rows = db.execute(
                "SELECT j.hostname, count(*) FROM task_instance t JOIN job j ON j.id = t.queued_by_job_id "
                "WHERE t.run_id = %s GROUP BY j.hostname ORDER BY count(*) DESC",
                (run_id,),
            ).fetchall()
        if rows and sum(n for _, n in rows) >= 3:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(1)
    busiest = rows[0][0].rsplit("-", 3)[-3:]  # <fqdn>-airflow-scheduler-N
    program = "-".join(busiest)
    assert program.startswith("airflow-scheduler-"), rows
    os.kill(localops.pid(where, program), signal.SIGKILL)

    assert api.wait(run_id) == "success", api.tis(run_id)
    tis = api.tis(run_id)
    workers = {ti["hostname"] for ti in tis if ti["hostname"]}
    assert len(workers) == 2 and all("airflow-worker-" in w for w in workers), workers

    def span(phase):
        mine = [ti for ti in tis if ti["task_id"].startswith(f"{phase}.")]
        return [
            (dt.datetime.fromisoformat(t["start_date"]), dt.datetime.fromisoformat(t["end_date"]))
            for t in mine
        ]

    overlapping = [
        (p, b) for p in span("prod") for b in span("beta") if p[0] < b[1] and b[0] < p[1]
    ]
    assert overlapping, "prod and beta never ran at the same time"


def test_the_weather_pipeline_runs_on_the_celery_workers_too(deployed):
    where = deployed["where"]
    api = cluster.Client(deployed["api"].base, where / "airflow", "weather")
    run_id = api.trigger({"ds": WEATHER_DS})
    assert api.wait(run_id) == "success", api.tis(run_id)
    hosts = {ti["hostname"] for ti in api.tis(run_id) if ti["hostname"]}
    assert hosts and all("airflow-worker-" in host for host in hosts), hosts
    outbox = storage.data_area("weather", where / "home") / "outbox" / f"ds={WEATHER_DS}"
    assert (outbox / "forecast.jsonl").read_text().strip()


def test_ansible_lint_finds_no_violation_with_the_production_profile():
    lint = Path(sys.executable).with_name("ansible-lint")
    env = {
        **os.environ,
        "ANSIBLE_VAULT_PASSWORD_FILE": str(cluster.ansible_dir() / cluster.VAULT_EXAMPLE),
    }
    result = subprocess.run(
        [str(lint)], cwd=cluster.ansible_dir(), capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_celery_queue_is_a_durable_quorum_queue(deployed):
    queues = localops.rabbitmqctl(
        deployed,
        "list_queues",
        "-p",
        "stagebook",
        "--quiet",
        "--no-table-headers",
        "name",
        "type",
        "durable",
    )
    rows = {line.split()[0]: line.split()[1:] for line in queues.splitlines() if line.strip()}
    assert rows.get("default") == ["quorum", "true"], queues


def test_a_run_resumes_after_the_broker_stops_and_no_task_runs_twice(deployed):
    api, where = deployed["api"], deployed["where"]
    run_id = api.trigger({"ds": DS, "phases": ["prod"]})
    deadline = time.monotonic() + 240
    while not any(
        t["task_id"] == "prod.train" and t["state"] == "running" for t in api.tis(run_id)
    ):
        assert time.monotonic() < deadline, api.tis(run_id)
        time.sleep(1)
    localops.supervisorctl(where, "stop", "rabbitmq")  # while train runs and the next stages wait
    try:
        time.sleep(15)
        assert api.run(run_id)["state"] == "running"
    finally:
        localops.supervisorctl(where, "start", "rabbitmq")
    assert api.wait(run_id) == "success", api.tis(run_id)

    home = where / "home"
    exactly_once.check(api.tis(run_id), run_id, DS, home, [home / "logs"])


def test_a_backup_restores_into_a_fresh_database_and_the_scheduler_runs_on_it(deployed):
    where = deployed["where"]
    with localops.metastore(where) as db:
        runs = db.execute("SELECT count(*) FROM dag_run").fetchone()[0]
    dump = cluster.backup(where / "manual-backups" / "airflow.dump", where)
    restored = dt.datetime.now(dt.UTC)
    restore = subprocess.run(  # what `make cluster-restore BACKUP=...` runs
        [sys.executable, "-m", "stagebook_deploy.cluster", "restore", str(dump)],
        capture_output=True,
        text=True,
        env={**os.environ, "STAGEBOOK_CLUSTER_PREFIX": str(where)},
    )
    assert restore.returncode == 0, restore.stderr
    with localops.metastore(where) as db:
        assert db.execute("SELECT count(*) FROM dag_run").fetchone()[0] == runs
    deadline = time.monotonic() + 120
    while True:  # a scheduler beats on the restored database
        with localops.metastore(where) as db:
            beat = db.execute(
                "SELECT max(latest_heartbeat) FROM job WHERE job_type = 'SchedulerJob'"
            ).fetchone()[0]
        if beat and beat > restored:
            break
        assert time.monotonic() < deadline, beat
        time.sleep(2)


def test_an_inventory_without_a_metastore_stops_before_anything_starts(deployed, tmp_path):
    local = (cluster.ansible_dir() / "inventories" / "local" / "hosts.yml").read_text()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(local.replace("    metastore:\n      hosts:\n        localhost:\n", ""))
    result = cluster.converge(str(inventory), deployed["extra"], EXAMPLE_PASSWORD)
    assert result.returncode != 0
    assert "groups metastore (exactly one host)" in result.stdout, result.stdout[-3000:]
    assert "TASK [postgresql" not in result.stdout


def test_an_archive_that_a_host_does_not_share_stops_before_airflow_starts(deployed, tmp_path):
    inventory = tmp_path / "local"
    shutil.copytree(cluster.ansible_dir() / "inventories" / "local", inventory)
    hosts = inventory / "hosts.yml"
    not_shared = tmp_path / "not-shared"
    hosts.write_text(
        hosts.read_text().replace(
            "          airflow_workers: 2\n",
            "          airflow_workers: 2\n"
            "        elsewhere:  # a worker whose mount is missing: its own empty folder\n"
            "          ansible_connection: local\n"
            f"          stagebook_home: {not_shared}\n",
        )
    )
    before = deployed["where"] / "airflow" / "airflow.cfg"
    written = before.stat().st_mtime_ns
    result = cluster.converge(str(hosts), deployed["extra"], EXAMPLE_PASSWORD)
    assert result.returncode != 0
    assert (
        f"elsewhere: {not_shared} (stagebook_home) is not the folder that localhost wrote to"
        in " ".join(result.stdout.split())
    ), result.stdout[-3000:]
    assert "TASK [airflow" not in result.stdout  # no host went on to Airflow
    assert before.stat().st_mtime_ns == written


def test_a_port_in_use_stops_a_first_converge_naming_the_variable(deployed, monkeypatch):
    fresh = Path(tempfile.mkdtemp(prefix="stagebook-cluster-fresh-"))
    monkeypatch.setenv("STAGEBOOK_CLUSTER_PREFIX", str(fresh))
    ports = {name: free_port() for name in deployed["extra"] if name.endswith("_port")}
    with socket.socket() as other:  # another program, listening where the api-server would
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        try:
            result = cluster.converge(
                extra_vars={**deployed["extra"], **ports, "airflow_api_port": taken}
            )
        finally:
            cluster.down(fresh)  # whatever happened, nothing started here outlives the test
            shutil.rmtree(fresh, ignore_errors=True)
    assert result.returncode != 0
    assert f"port {taken} (airflow_api_port) is already in use" in result.stdout, result.stdout[
        -3000:
    ]
    assert "TASK [supervisor" not in result.stdout  # nothing started


def test_a_component_that_does_not_become_healthy_fails_the_converge_with_its_log(deployed):
    # The last converge of the module: the teardown follows, so nothing needs mending after it.
    # 60 s: time for the restarted api-server to import Airflow and refuse its arguments, even
    # on a loaded 2-core machine (30 s was not, once: its log then held only the last server's).
    broken = {**deployed["extra"], "airflow_api_workers": "many", "airflow_health_timeout_s": 60}
    result = cluster.converge(extra_vars=broken)
    assert result.returncode != 0
    out = result.stdout.replace("\\n", "\n")
    assert "the api-server on localhost did not become healthy" in out, out[-3000:]
    assert "invalid int value: 'many'" in out, out[-3000:]  # its own last log lines


def test_tearing_down_leaves_no_process_of_ours(deployed):
    left = cluster.down(deployed["where"])
    assert left == [], f"still running: {left}"
