"""The Ansible deployment, converged on this machine: PostgreSQL, RabbitMQ, Celery, two schedulers.

One module, one converge of ``ansible/inventories/local`` into a temporary
prefix (the path ``make cluster`` takes), then the proofs in order: a run that
survives a SIGKILLed scheduler on both workers at once, a converge that changes
nothing, ansible-lint's production profile, a run whose worker is SIGKILLed
mid-stage, and a teardown that leaves no process behind.
"""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from stagebook import settings, storage
from stagebook.orchestration import cluster
from tests.support import DAG_ID, free_port, params_copy

DS = "2019-11-20"
pytestmark = pytest.mark.longest


def _pid(where: Path, program: str) -> int:
    out = subprocess.run(
        ["supervisorctl", "-c", str(cluster.supervisor_config(where)), "pid", f"airflow:{program}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def _kill_tree(pid: int) -> None:
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def _metastore(where: Path):
    import psycopg

    return psycopg.connect(cluster.metastore_url(where))


@pytest.fixture(scope="module")
def deployed():
    if os.geteuid() != 0:
        pytest.fail(
            "the cluster test converges as root (apt, su postgres): run `make test` as root"
        )
    # Not under pytest's own folder (0700): postgres and rabbitmq run as their own users.
    where = Path(tempfile.mkdtemp(prefix="stagebook-cluster-"))
    where.chmod(0o755)
    params = params_copy(where / "params", {"pipeline.retry_delay_s": 1})
    ports = {
        "postgresql_port": free_port(),
        "rabbitmq_port": free_port(),
        "rabbitmq_dist_port": free_port(),
        "rabbitmq_epmd_port": free_port(),
        "airflow_api_port": free_port(),
        "airflow_scheduler_health_port": free_port(),
    }
    extra = {**ports, "stagebook_params": str(params), "airflow_task_heartbeat_timeout_s": 20}
    os.environ["STAGEBOOK_CLUSTER_PREFIX"] = str(where)
    os.environ.setdefault(
        "STAGEBOOK_UV", shutil.which("uv") or str(settings.root() / ".tools" / "bin" / "uv")
    )
    started = time.monotonic()
    result = cluster.converge(extra_vars=extra)
    took = time.monotonic() - started
    try:
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        yield {
            "where": where,
            "extra": extra,
            "first": result,
            "took": took,
            "api": cluster.Client(
                f"http://127.0.0.1:{ports['airflow_api_port']}", where / "airflow"
            ),
        }
    finally:
        cluster.down(where)
        os.environ.pop("STAGEBOOK_CLUSTER_PREFIX", None)
        shutil.rmtree(where, ignore_errors=True)


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
        with _metastore(where) as db:
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
    os.kill(_pid(where, program), signal.SIGKILL)

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


def test_converging_again_changes_nothing(deployed):
    result = cluster.converge(extra_vars=deployed["extra"])
    assert result.returncode == 0, result.stdout[-4000:]
    counts = cluster.recap(result.stdout)
    assert counts["changed"] == 0 and counts["failed"] == 0, result.stdout[-4000:]
    deployed["again"] = result


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


def test_a_task_whose_worker_is_killed_is_retried_on_the_other_worker(deployed):
    api, where = deployed["api"], deployed["where"]
    run_id = api.trigger({"ds": DS, "phases": ["prod"]})
    deadline = time.monotonic() + 240
    while not (
        running := [
            t
            for t in api.tis(run_id)
            if t["task_id"] == "prod.train" and t["state"] == "running" and t["hostname"]
        ]
    ):
        assert time.monotonic() < deadline, api.tis(run_id)
        time.sleep(1)
    first = running[0]["hostname"]
    folder = where / "home" / "reports" / DAG_ID / DS / "prod" / storage.run_folder_name(run_id)
    while not (folder / "20-train.try1.ipynb").exists():  # mid-stage: its notebook is running
        assert time.monotonic() < deadline, api.tis(run_id)
        time.sleep(0.5)
    time.sleep(3)
    program = "-".join(first.rsplit("-", 3)[-3:])  # airflow-worker-N
    pid = _pid(where, program)
    _kill_tree(pid)
    subprocess.run(  # keep it down, so that the retry must go to the other worker
        [
            "supervisorctl",
            "-c",
            str(cluster.supervisor_config(where)),
            "stop",
            f"airflow:{program}",
        ],
        capture_output=True,
    )
    try:
        assert api.wait(run_id) == "success", api.tis(run_id)
    finally:
        subprocess.run(
            [
                "supervisorctl",
                "-c",
                str(cluster.supervisor_config(where)),
                "start",
                f"airflow:{program}",
            ],
            capture_output=True,
        )
    train = next(t for t in api.tis(run_id) if t["task_id"] == "prod.train")
    assert train["try_number"] == 2 and train["hostname"] != first
    archived = sorted(p.name for p in folder.glob("20-train.try*.ipynb"))
    assert "20-train.try1.ipynb" in archived and "20-train.try2.ipynb" in archived, archived
    first_try = json.loads((folder / "20-train.try1.json").read_text())
    assert first_try["state"] == "lost"  # the index does not show it running forever


def test_a_backup_restores_into_a_fresh_database_and_the_scheduler_runs_on_it(deployed):
    where = deployed["where"]
    with _metastore(where) as db:
        runs = db.execute("SELECT count(*) FROM dag_run").fetchone()[0]
    dump = cluster.backup(where / "manual-backups" / "airflow.dump", where)
    restored = dt.datetime.now(dt.UTC)
    cluster.restore(dump, where)
    with _metastore(where) as db:
        assert db.execute("SELECT count(*) FROM dag_run").fetchone()[0] == runs
    deadline = time.monotonic() + 120
    while True:  # a scheduler beats on the restored database
        with _metastore(where) as db:
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
    result = cluster.converge(str(inventory), deployed["extra"])
    assert result.returncode != 0
    assert "groups metastore (exactly one host)" in result.stdout, result.stdout[-3000:]
    assert "TASK [postgresql" not in result.stdout


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


def test_tearing_down_leaves_no_process_of_ours(deployed):
    left = cluster.down(deployed["where"])
    assert left == [], f"still running: {left}"
