"""The Ansible deployment converged over SSH onto eight hosts of production's shape, then broken.

The hosts are network namespaces of this machine (:mod:`stagebook_deploy.nshosts`),
each with its own address, hostname, ``/srv`` and sshd; the archive is one bind
mount on all of them. One module: the hosts up, every host answering over SSH
before anything starts, one converge of ``ansible/site.yml`` from nothing, then
the proofs that things cross the network by address (the metastore, the broker
cluster, the execution API over HTTPS with a self-signed certificate given as
the vault's, the workers' log servers), a run of the recommendation pipeline to
success, the UI in a browser that verifies the certificate, a second converge
that changes nothing, then four faults, each ending in a run in success whose
every stage did its work once (:mod:`tests.cluster.exactly_once`): a worker's
link cut mid-stage, a broker node stopped, the metastore away for 20 s, and
the busiest scheduler host losing every process. Last, a teardown that leaves
nothing behind.
"""

import http.client
import json
import shutil
import ssl
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from stagebook import settings
from stagebook_deploy import cluster, multihost, nsteardown
from stagebook_deploy.hostspec import GATEWAY
from tests.cluster import hostops, multihostops
from tests.cluster.hostops import ADDRESS, NAME, SUPERVISORCTL, rabbitmqctl, run, srv, wait_for
from tests.cluster.multihostops import (
    API,
    EXAMPLE_PASSWORD,
    HEALTH,
    SLOW_TRAIN,
    certificate_pin,
    mid_stage,
    now,
    once,
    queued_since,
    running,
    started,
)
from tests.support import DAG_ID

DS = "2019-11-20"
CERT_ON_HOST = "/srv/stagebook/airflow/tls/api.crt"  # airflow_tls_cert_file, on every Airflow host
pytestmark = pytest.mark.longest


@pytest.fixture(scope="module")
def deployed(machine):
    with multihostops.deployed() as deployment:
        yield deployment


def test_postgresql_listens_on_its_address_and_admits_only_the_airflow_hosts(deployed):
    workdir = deployed["workdir"]
    listening = run(workdir, "meta1", "ss -Hltn 'sport = :5432'").split()
    assert f"{ADDRESS['meta1']}:5432" in listening and "127.0.0.1:5432" not in listening
    url = cluster.metastore_url(srv(workdir, "meta1") / "stagebook")
    assert f"@{ADDRESS['meta1']}:5432/" in url
    with pytest.raises(psycopg.OperationalError) as refused:  # from the bridge: no Airflow host
        psycopg.connect(url, connect_timeout=5).close()
    assert f'no pg_hba.conf entry for host "{GATEWAY}"' in str(refused.value)
    probe = f"{settings.root()}/.venv/bin/python -c \"import psycopg; psycopg.connect('{url}').close()\""
    assert multihost.ssh(workdir, ADDRESS["work1"], probe).returncode == 0  # a worker may
    assert multihost.ssh(workdir, ADDRESS["mq1"], probe).returncode != 0  # a broker may not


def test_the_three_brokers_form_one_cluster_listening_on_their_addresses(deployed):
    workdir = deployed["workdir"]
    status = rabbitmqctl(workdir, "mq2", "cluster_status", "--formatter", "json")
    nodes = sorted(json.loads(status)["running_nodes"])
    assert nodes == ["stagebook@mq1", "stagebook@mq2", "stagebook@mq3"], status
    for host in ("mq1", "mq2", "mq3"):
        assert f"{ADDRESS[host]}:5672" in run(workdir, host, "ss -Hltn 'sport = :5672'")
    users = rabbitmqctl(workdir, "mq3", "list_users", "-q")
    assert "airflow" in users and "guest" not in users, users


def test_the_brokers_ports_are_open_only_to_the_hosts_that_need_them(deployed):
    workdir = deployed["workdir"]
    assert hostops.connects(workdir, "work1", "mq1", 5672)
    assert hostops.connects(workdir, "sched2", "mq3", 5672)
    assert not hostops.connects(workdir, "meta1", "mq1", 5672)  # the api-server sends no task
    for port in (4369, 25672):  # Erlang distribution: the brokers' own
        assert hostops.connects(workdir, "mq2", "mq1", port), port
        assert not hostops.connects(workdir, "work1", "mq1", port), port


def test_every_airflow_host_reaches_the_execution_api_by_address(deployed):
    workdir = deployed["workdir"]
    for host in ("sched1", "sched2", "work1", "work2"):
        config = (srv(workdir, host) / "stagebook" / "airflow" / "airflow.cfg").read_text()
        assert f"execution_api_server_url = {API}/execution/" in config, host
        assert f"ssl_cert = {CERT_ON_HOST}" in config and "ssl_key" not in config, host
    # As the task runner's client does: the certificate on the worker is what it trusts.
    fetch = (
        "import ssl, sys, urllib.request; "
        "context = ssl.create_default_context(cafile=sys.argv[1] or None); "
        f"print(urllib.request.urlopen('{API}{HEALTH}', context=context).status)"
    )
    verified = run(workdir, "work2", f'python3 -c "{fetch}" {CERT_ON_HOST}')
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
    tls = srv(workdir, "meta1") / "stagebook" / "airflow" / "tls"
    assert (tls / "api.key").stat().st_mode & 0o777 == 0o600
    assert (tls / "api.crt").read_text().strip() == ca.read_text().strip()
    for host in ("sched1", "sched2", "work1", "work2"):  # the key stays on the api-server
        assert not (srv(workdir, host) / "stagebook" / "airflow" / "tls" / "api.key").exists()
    listening = run(workdir, "meta1", "ss -Hltn 'sport = :8080'").split()
    assert f"{ADDRESS['meta1']}:8080" in listening, listening


def test_a_run_succeeds_with_its_train_stage_on_the_train_worker(deployed):
    api = deployed["api"]
    run_id = api.trigger({"ds": DS, "phases": ["prod"]})
    began = time.monotonic()
    assert api.wait(run_id, timeout_s=900) == "success", api.tis(run_id)
    print(f"\nmultihost: the run took {time.monotonic() - began:.1f} s")
    tis = [t for t in api.tis(run_id) if t["hostname"]]
    hosts = {t["task_id"]: t["hostname"] for t in tis}
    assert hosts["prod.train"] == ADDRESS["work2"], hosts  # the train queue's worker
    assert set(hosts.values()) <= {ADDRESS["work1"], ADDRESS["work2"]}, hosts
    # Each worker's task runner reached the execution API only over HTTPS (nothing serves HTTP).
    for host in ("work1", "work2"):
        config = (srv(deployed["workdir"], host) / "stagebook/airflow/airflow.cfg").read_text()
        assert f"execution_api_server_url = {API}/execution/" in config, host
    deployed["run_id"], deployed["tis"] = run_id, tis


def test_a_workers_log_is_read_from_the_api_server_over_its_log_server(deployed):
    api, workdir = deployed["api"], deployed["workdir"]
    ti = next(t for t in deployed["tis"] if t["task_id"] == "prod.train")  # on work2
    relative = f"dag_id={DAG_ID}/run_id={deployed['run_id']}/task_id={ti['task_id']}"
    assert list((srv(workdir, "work2") / "stagebook/airflow/logs" / relative).glob("attempt=*"))
    assert not (srv(workdir, "meta1") / "stagebook/airflow/logs" / relative).exists()
    path = (
        api._run_path(deployed["run_id"])
        + f"/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
    )
    events = [line.get("event", "") for line in api.call(path)["content"]]
    assert any(f"http://{ADDRESS['work2']}:8793/log/" in event for event in events), events[:8]
    assert len(events) > 5, events


def test_a_browser_that_trusts_the_vaults_certificate_opens_the_ui_and_one_that_does_not_refuses(
    deployed,
):
    from playwright.sync_api import Error, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: `make services` installs Debian's chromium"
    api = deployed["api"]
    # Chromium trusts no self-signed certificate; pinned to the vault's public key, it accepts
    # the server that holds the vault's key and no other (a real certificate needs no pin).
    trusting = [
        "--no-sandbox",
        f"--ignore-certificate-errors-spki-list={certificate_pin(deployed['ca'])}",
    ]
    with sync_playwright() as driver:
        stranger = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            stranger.new_page().goto(f"{API}/", timeout=30_000)
        stranger.close()
        browser = driver.chromium.launch(executable_path=chromium, args=trusting)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_cookies([{"name": "_token", "value": api.token, "url": API}])
        page = context.new_page()
        answer = page.goto(f"{API}/dags/{DAG_ID}", timeout=60_000)
        assert answer is not None and answer.ok and page.url.startswith("https://")
        page.get_by_text(DAG_ID).first.wait_for(timeout=60_000)
        browser.close()


def test_converging_again_changes_nothing(deployed):
    began = time.monotonic()
    result = cluster.converge(str(deployed["inventory"]), deployed["extra"], EXAMPLE_PASSWORD)
    took = time.monotonic() - began
    counts = cluster.recap(result.stdout)
    print(f"\nmultihost: second converge {took:.1f} s: {counts}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert counts["changed"] == 0, result.stdout[-6000:]


# --- faults: each run ends in success, every stage's work done once ---------------------------


def test_a_stage_whose_worker_is_cut_off_is_retried_on_the_other_worker(deployed):
    api, ds = deployed["api"], "2019-11-19"
    run_id = api.trigger({"ds": ds, "phases": ["beta"], "overrides": SLOW_TRAIN})
    first = NAME[running(api, run_id, "beta.train")["hostname"]]  # either worker: beta's queue
    other = ({"work1", "work2"} - {first}).pop()
    folder = mid_stage(deployed, ds, "beta", run_id, "20-train.try1.ipynb")
    hostops.cut(first)
    try:  # its heartbeats lapse; the scheduler retries the stage on the host still there

        def retried():
            ti = next(t for t in api.tis(run_id) if t["task_id"] == "beta.train")
            return ti["try_number"] == 2 and ti["state"] == "running" and ti["hostname"]

        wait_for("beta.train's second try running", retried, 300)
    finally:
        hostops.mend(first)
    assert api.wait(run_id, timeout_s=900) == "success", api.tis(run_id)
    train = next(t for t in api.tis(run_id) if t["task_id"] == "beta.train")
    assert train["try_number"] == 2 and train["hostname"] == ADDRESS[other], train
    archived = sorted(p.name for p in folder.glob("20-train.try*.ipynb"))
    assert archived == ["20-train.try1.ipynb", "20-train.try2.ipynb"], archived
    first_try = json.loads((folder / "20-train.try1.json").read_text())
    assert first_try["state"] == "interrupted", first_try  # its cut-off worker stopped it
    once(deployed, run_id, ds, "beta")


def test_a_run_goes_on_while_the_queues_leading_broker_node_is_stopped(deployed):
    api, workdir, ds = deployed["api"], deployed["workdir"], "2019-11-18"
    run_id = api.trigger({"ds": ds, "phases": ["prod"]})
    wait_for("a stage of the run started", lambda: started(api, run_id), 300)
    queues = rabbitmqctl(
        workdir, "mq1", "list_queues", "-p", "stagebook", "name", "leader", "--formatter", "json"
    )
    leader = next(q["leader"] for q in json.loads(queues) if q["name"] == "default")
    host = leader.split("@")[1]  # stagebook@mqN
    stopped = now(workdir)
    run(workdir, host, f"{SUPERVISORCTL} stop rabbitmq")
    try:
        other = "mq1" if host != "mq1" else "mq2"
        status = json.loads(rabbitmqctl(workdir, other, "cluster_status", "--formatter", "json"))
        assert leader not in status["running_nodes"], status
        assert api.wait(run_id, timeout_s=900) == "success", api.tis(run_id)
    finally:
        run(workdir, host, f"{SUPERVISORCTL} start rabbitmq")
        hostops.await_broker(workdir, host)
    assert sum(queued_since(workdir, run_id, stopped).values()) >= 3  # sent with the node away
    once(deployed, run_id, ds, "prod")


def test_a_run_resumes_after_the_metastore_is_away_for_20_s(deployed):
    api, workdir, ds = deployed["api"], deployed["workdir"], "2019-11-17"
    run_id = api.trigger({"ds": ds, "phases": ["prod"], "overrides": SLOW_TRAIN})
    running(api, run_id, "prod.train")
    mid_stage(deployed, ds, "prod", run_id, "20-train.try1.ipynb")
    run(workdir, "meta1", f"{SUPERVISORCTL} stop postgresql")
    try:
        time.sleep(20)
    finally:
        run(workdir, "meta1", f"{SUPERVISORCTL} start postgresql")
    once(deployed, run_id, ds, "prod")
    for host in ("meta1", "sched1", "sched2", "work1", "work2"):  # what exited has restarted

        def all_running(host=host):
            states = run(workdir, host, f"{SUPERVISORCTL} status").splitlines()
            return all(" RUNNING " in line for line in states)

        wait_for(f"every program of {host} running", all_running, 120)


def test_the_other_scheduler_finishes_a_run_whose_busiest_scheduler_host_dies(deployed):
    api, workdir, ds = deployed["api"], deployed["workdir"], "2019-11-16"
    run_id = api.trigger({"ds": ds, "phases": ["prod"]})
    queued = wait_for(
        "3 tasks queued",
        lambda: (q := queued_since(workdir, run_id)) and sum(q.values()) >= 3 and q,
    )
    busiest = max(queued, key=queued.get)
    assert busiest in ("sched1", "sched2"), queued
    killed = hostops.kill_supervisor_tree(busiest)
    assert len(killed) > 1, killed  # supervisord and its scheduler at least
    dead = now(workdir)
    once(deployed, run_id, ds, "prod")
    after = queued_since(workdir, run_id, dead)
    assert busiest not in after and after, after  # the other scheduler queued the rest


def test_tearing_down_leaves_nothing_behind(deployed):
    nsteardown.down(deployed["workdir"])
    assert nsteardown.leftovers(deployed["workdir"]) == []
    with pytest.raises((urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"{API}{HEALTH}", timeout=3)
