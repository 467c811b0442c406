"""The Ansible deployment converged over SSH onto eight hosts of production's shape.

The hosts are network namespaces of this machine (:mod:`stagebook_deploy.nshosts`),
each with its own address, hostname, ``/srv`` and sshd; the archive is one bind
mount on all of them. One module: the hosts up, every host answering over SSH
before anything starts, one converge of ``ansible/site.yml`` from nothing, then
the proofs that things cross the network by address (the metastore, the broker
cluster, the execution API over HTTPS with a self-signed certificate given as
the vault's, the workers' log servers), one run of the
recommendation pipeline to success, a second converge, and a teardown that
leaves nothing behind. Last, a host whose archive is not the shared one stops a
converge before anything starts, naming it.
"""

import http.client
import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from stagebook import settings
from stagebook_deploy import cluster, multihost, nshosts, nsteardown
from stagebook_deploy.hostspec import GATEWAY, prod_layout
from tests.support import DAG_ID, PIPELINE, TINY, params_copy

DS = "2019-11-20"
EXAMPLE_PASSWORD = cluster.ansible_dir() / cluster.VAULT_EXAMPLE
SHARED_VARS = cluster.ansible_dir() / multihost.SHARED_VARS
HOSTS = prod_layout()
ADDRESS = {host.name: host.address for host in HOSTS}
API = f"https://{ADDRESS['meta1']}:8080"
HEALTH = "/api/v2/monitor/health"
CERT_ON_HOST = "/srv/stagebook/airflow/tls/api.crt"  # airflow_tls_cert_file, on every Airflow host
RABBITMQ_ENV = (
    "env HOME=/srv/stagebook/rabbitmq/home ERL_EPMD_PORT=4369 "
    "RABBITMQ_CONF_ENV_FILE=/srv/stagebook/rabbitmq/rabbitmq-env.conf "
    "PATH=/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)
pytestmark = pytest.mark.longest


def _srv(workdir: Path, host: str) -> Path:
    """Return what ``host`` sees as ``/srv``, from this (the root) namespace."""
    return workdir / f"sbh-{host}" / "srv"


def _ssh(workdir: Path, host: str, command: str) -> str:
    result = multihost.ssh(workdir, ADDRESS[host], command)
    assert result.returncode == 0, f"{host}: {command}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def machine():
    if os.geteuid() != 0:
        pytest.fail("namespace hosts need root (ip netns, mount, sshd): run the tests as root")
    os.environ.setdefault(
        "STAGEBOOK_UV", shutil.which("uv") or str(settings.root() / ".tools/bin/uv")
    )
    with nshosts.exclusive():  # one set of namespace hosts per machine: one bridge, one range
        yield


def _workdir() -> Path:
    # Not under pytest's own folder (0700): postgres and rabbitmq run as their own users.
    workdir = Path(tempfile.mkdtemp(prefix="stagebook-multihost-"))
    workdir.chmod(0o755)
    return workdir


@pytest.fixture(scope="module")
def deployed(machine):
    workdir = _workdir()
    params = params_copy(
        workdir / "params",
        {**TINY, "pipeline.retry_delay_s": 1, "pipeline.queues": {"train": "train"}},
    )
    # The api-server's certificate and key, as a vault would hold them (made before the hosts).
    extra = {"stagebook_params": {PIPELINE: str(params)}, **multihost.tls_vars(workdir)}
    try:
        started = time.monotonic()
        nshosts.up(HOSTS, workdir)
        inventory = multihost.inventory(HOSTS, workdir, shared_vars=SHARED_VARS)
        multihost.check_reachable(inventory)  # before anything starts
        up_s = time.monotonic() - started
        started = time.monotonic()
        result = cluster.converge(str(inventory), extra, EXAMPLE_PASSWORD)
        took = time.monotonic() - started
        print(f"\nmultihost: hosts up {up_s:.1f} s; converge from nothing {took:.1f} s")
        assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
        home = _srv(workdir, "meta1") / "stagebook" / "airflow"
        yield {
            "workdir": workdir,
            "inventory": inventory,
            "extra": extra,
            "took": took,
            "ca": workdir / "tls" / "api.crt",
            "api": cluster.Client(API, home, DAG_ID, ca_file=workdir / "tls" / "api.crt"),
        }
    finally:
        nsteardown.down(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgresql_listens_on_its_address_and_admits_only_the_airflow_hosts(deployed):
    workdir = deployed["workdir"]
    listening = _ssh(workdir, "meta1", "ss -Hltn 'sport = :5432'").split()
    assert f"{ADDRESS['meta1']}:5432" in listening and "127.0.0.1:5432" not in listening
    url = cluster.metastore_url(_srv(workdir, "meta1") / "stagebook")
    assert f"@{ADDRESS['meta1']}:5432/" in url
    with pytest.raises(psycopg.OperationalError) as refused:  # from the bridge: no Airflow host
        psycopg.connect(url, connect_timeout=5).close()
    assert f'no pg_hba.conf entry for host "{GATEWAY}"' in str(refused.value)
    probe = f"{settings.root()}/.venv/bin/python -c \"import psycopg; psycopg.connect('{url}').close()\""
    assert multihost.ssh(workdir, ADDRESS["work1"], probe).returncode == 0  # a worker may
    assert multihost.ssh(workdir, ADDRESS["mq1"], probe).returncode != 0  # a broker may not


def test_the_three_brokers_form_one_cluster_listening_on_their_addresses(deployed):
    workdir = deployed["workdir"]
    status = _ssh(
        workdir,
        "mq2",
        f"{RABBITMQ_ENV} rabbitmqctl -n stagebook@mq2 cluster_status --formatter json",
    )
    running = sorted(json.loads(status)["running_nodes"])
    assert running == ["stagebook@mq1", "stagebook@mq2", "stagebook@mq3"], status
    for host in ("mq1", "mq2", "mq3"):
        assert f"{ADDRESS[host]}:5672" in _ssh(workdir, host, "ss -Hltn 'sport = :5672'")
    users = _ssh(workdir, "mq3", f"{RABBITMQ_ENV} rabbitmqctl -n stagebook@mq3 list_users -q")
    assert "airflow" in users and "guest" not in users, users


def test_every_airflow_host_reaches_the_execution_api_by_address(deployed):
    workdir = deployed["workdir"]
    for host in ("sched1", "sched2", "work1", "work2"):
        config = (_srv(workdir, host) / "stagebook" / "airflow" / "airflow.cfg").read_text()
        assert f"execution_api_server_url = {API}/execution/" in config, host
        assert f"ssl_cert = {CERT_ON_HOST}" in config and "ssl_key" not in config, host
    # As the task runner's client does: the certificate on the worker is what it trusts.
    fetch = (
        "import ssl, sys, urllib.request; "
        "context = ssl.create_default_context(cafile=sys.argv[1] or None); "
        f"print(urllib.request.urlopen('{API}{HEALTH}', context=context).status)"
    )
    verified = _ssh(workdir, "work2", f'python3 -c "{fetch}" {CERT_ON_HOST}')
    assert verified.strip() == "200"
    unverified = multihost.ssh(workdir, ADDRESS["work2"], f"python3 -c \"{fetch}\" ''")
    assert "CERTIFICATE_VERIFY_FAILED" in unverified.stderr, unverified.stderr[-2000:]


def test_the_api_server_serves_only_https_verified_with_the_vaults_certificate(deployed):
    workdir, ca = deployed["workdir"], deployed["ca"]
    context = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(f"{API}{HEALTH}", context=context, timeout=10) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError) as unverified:  # a browser without the certificate
        urllib.request.urlopen(f"{API}{HEALTH}", timeout=10)
    assert isinstance(unverified.value.reason, ssl.SSLCertVerificationError), unverified.value
    plain = API.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        urllib.request.urlopen(f"{plain}{HEALTH}", timeout=10).read()
    tls = _srv(workdir, "meta1") / "stagebook" / "airflow" / "tls"
    assert (tls / "api.key").stat().st_mode & 0o777 == 0o600
    assert (tls / "api.crt").read_text().strip() == ca.read_text().strip()
    for host in ("sched1", "sched2", "work1", "work2"):  # the key stays on the api-server
        assert not (_srv(workdir, host) / "stagebook" / "airflow" / "tls" / "api.key").exists()
    listening = _ssh(workdir, "meta1", "ss -Hltn 'sport = :8080'").split()
    assert f"{ADDRESS['meta1']}:8080" in listening, listening


def test_a_run_succeeds_with_its_tasks_on_both_worker_hosts(deployed):
    api = deployed["api"]
    run_id = api.trigger({"ds": DS, "phases": ["prod"]})
    started = time.monotonic()
    assert api.wait(run_id, timeout_s=900) == "success", api.tis(run_id)
    print(f"\nmultihost: the run took {time.monotonic() - started:.1f} s")
    tis = [t for t in api.tis(run_id) if t["hostname"]]
    hosts = {t["task_id"]: t["hostname"] for t in tis}
    assert hosts["prod.train"] == ADDRESS["work2"], hosts  # the train queue's worker
    assert set(hosts.values()) == {ADDRESS["work1"], ADDRESS["work2"]}, hosts
    # Each worker's task runner reached the execution API only over HTTPS (nothing serves HTTP).
    for host in ("work1", "work2"):
        config = (_srv(deployed["workdir"], host) / "stagebook/airflow/airflow.cfg").read_text()
        assert f"execution_api_server_url = {API}/execution/" in config, host
    deployed["run_id"], deployed["tis"] = run_id, tis


def test_a_workers_log_is_read_from_the_api_server_over_its_log_server(deployed):
    api, workdir = deployed["api"], deployed["workdir"]
    ti = next(t for t in deployed["tis"] if t["hostname"] == ADDRESS["work1"])
    relative = f"dag_id={DAG_ID}/run_id={deployed['run_id']}/task_id={ti['task_id']}"
    assert list((_srv(workdir, "work1") / "stagebook/airflow/logs" / relative).glob("attempt=*"))
    assert not (_srv(workdir, "meta1") / "stagebook/airflow/logs" / relative).exists()
    path = (
        api._run_path(deployed["run_id"])
        + f"/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
    )
    events = [line.get("event", "") for line in api.call(path)["content"]]
    assert any(f"http://{ADDRESS['work1']}:8793/log/" in event for event in events), events[:8]
    assert len(events) > 5, events


def test_converging_again_changes_nothing(deployed):
    started = time.monotonic()
    result = cluster.converge(str(deployed["inventory"]), deployed["extra"], EXAMPLE_PASSWORD)
    took = time.monotonic() - started
    counts = cluster.recap(result.stdout)
    print(f"\nmultihost: second converge {took:.1f} s: {counts}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert counts["changed"] == 0, result.stdout[-6000:]


def test_tearing_down_leaves_nothing_behind(deployed):
    nsteardown.down(deployed["workdir"])
    assert nsteardown.leftovers(deployed["workdir"]) == []
    with pytest.raises((urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"{API}{HEALTH}", timeout=3)


def test_a_host_without_the_shared_archive_stops_the_converge_naming_it(machine):
    workdir = _workdir()
    try:
        nshosts.up(HOSTS, workdir, private_archive="work2")
        inventory = multihost.inventory(HOSTS, workdir, shared_vars=SHARED_VARS)
        multihost.check_reachable(inventory)
        result = cluster.converge(str(inventory), {}, EXAMPLE_PASSWORD)
    finally:
        nsteardown.down(workdir)
        left = nsteardown.leftovers(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    assert left == []
    assert result.returncode != 0
    said = " ".join(result.stdout.split())
    assert "work2: /srv/stagebook/home (stagebook_home) is not the folder that" in said, said[
        -3000:
    ]
    assert "TASK [postgresql" not in result.stdout  # nothing started
    assert "work1: /srv/stagebook/home" not in said  # the hosts that share it pass
