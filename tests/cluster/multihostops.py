"""The multi-host test's deployment of production's shape, and how its tests follow a run on it.

:func:`deployed` brings up the eight namespace hosts of
:func:`stagebook_deploy.hostspec.prod_layout`, checks each answers over SSH,
converges ``ansible/site.yml`` onto them from nothing, and tears everything down
after. The other functions wait for a run's tasks and stages through the REST
API, read the scheduler's queueing from the metastore, and pin the vault's
self-signed certificate for a browser (:func:`certificate_pin`).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stagebook import storage
from stagebook_deploy import cluster, multihost, nshosts, nsteardown
from stagebook_deploy.hostspec import prod_layout
from tests.cluster import exactly_once, hostops
from tests.cluster.hostops import ADDRESS, NAME, srv, wait_for
from tests.support import DAG_ID, PIPELINE, TINY, params_copy

EXAMPLE_PASSWORD = cluster.ansible_dir() / cluster.VAULT_EXAMPLE
SHARED_VARS = cluster.ansible_dir() / multihost.SHARED_VARS
HOSTS = prod_layout()
API = f"https://{ADDRESS['meta1']}:8080"
HEALTH = "/api/v2/monitor/health"
# A train stage of about a minute (1000 epochs of 32,000 events), long enough to break mid-stage.
SLOW_TRAIN = {
    "data.events_per_day": 8000,
    "data.n_items": 600,
    "train.epochs": 1000,
    "train.patience": 1000,
    "train.batch_size": 256,
}


def new_workdir() -> Path:
    """Return a new folder for a set of hosts: their keys, inventory, archive and teardown."""
    # Not under pytest's own folder (0700): postgres and rabbitmq run as their own users.
    workdir = Path(tempfile.mkdtemp(prefix="stagebook-multihost-"))
    workdir.chmod(0o755)
    return workdir


def params(folder: Path) -> Path:
    """Tiny data; prod's train stage on the train worker, beta's on either (its failover)."""
    copied = params_copy(folder, {**TINY, "pipeline.retry_delay_s": 1})
    with (copied / "prod.yaml").open("a") as prod:
        prod.write("pipeline:\n  queues: {train: train}\n")
    return copied


@contextmanager
def deployed() -> Iterator[dict]:
    """Bring the hosts up, converge them from nothing, yield what the tests need; tear down."""
    workdir = new_workdir()
    extra = {
        "stagebook_params": {PIPELINE: str(params(workdir / "params"))},
        # A cut-off worker stops its task within about 20 s (3 heartbeats of 2 tries each),
        # well before the scheduler gives up on the task's heartbeats and retries it elsewhere.
        "airflow_task_heartbeat_timeout_s": 45,
        "airflow_execution_api_retries": 2,
        # The api-server's certificate and key, as a vault would hold them (made before the hosts).
        **multihost.tls_vars(workdir),
    }
    try:
        began = time.monotonic()
        nshosts.up(HOSTS, workdir)
        inventory = multihost.inventory(HOSTS, workdir, shared_vars=SHARED_VARS)
        multihost.check_reachable(inventory)  # before anything starts
        up_s = time.monotonic() - began
        began = time.monotonic()
        result = cluster.converge(str(inventory), extra, EXAMPLE_PASSWORD)
        took = time.monotonic() - began
        print(f"\nmultihost: hosts up {up_s:.1f} s; converge from nothing {took:.1f} s")
        assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
        home = srv(workdir, "meta1") / "stagebook" / "airflow"
        yield {
            "workdir": workdir,
            "inventory": inventory,
            "extra": extra,
            "took": took,
            "home": workdir / "archive",
            "ca": workdir / "tls" / "api.crt",
            "api": cluster.Client(API, home, DAG_ID, ca_file=workdir / "tls" / "api.crt"),
        }
    finally:
        nsteardown.down(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def certificate_pin(certificate: Path) -> str:
    """Return the certificate's public key pin: base64 of the SHA-256 of its SubjectPublicKeyInfo."""
    public = x509.load_pem_x509_certificate(certificate.read_bytes()).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def logs(workdir: Path) -> list[Path]:
    """Return the task log folders of both workers (each keeps its own)."""
    return [srv(workdir, host) / "stagebook/airflow/logs" for host in ("work1", "work2")]


def running(api: cluster.Client, run_id: str, task_id: str, timeout_s: float = 300) -> dict:
    """Return task ``task_id`` of the run once it runs on a host."""

    def found():
        tis = [t for t in api.tis(run_id) if t["task_id"] == task_id]
        return next((t for t in tis if t["state"] == "running" and t["hostname"]), None)

    return wait_for(f"{task_id} running in {run_id}", found, timeout_s)


def started(api: cluster.Client, run_id: str) -> bool:
    """Return whether a task of the run has started (running, or already done)."""
    return any(t["state"] in ("running", "success") for t in api.tis(run_id))


def mid_stage(deployed: dict, ds: str, phase: str, run_id: str, notebook: str) -> Path:
    """Wait until the try's notebook is being executed; return the run's report folder."""
    home = deployed["home"]
    folder = home / "reports" / DAG_ID / ds / phase / storage.run_folder_name(run_id)
    wait_for(f"{folder / notebook}", (folder / notebook).exists, 300, 0.5)
    time.sleep(3)
    return folder


def once(deployed: dict, run_id: str, ds: str, phase: str) -> None:
    """Assert the run succeeded and did every stage's work, and its publication, once."""
    api, workdir = deployed["api"], deployed["workdir"]
    assert api.wait(run_id, timeout_s=900) == "success", api.tis(run_id)
    exactly_once.check(api.tis(run_id), run_id, ds, deployed["home"], logs(workdir))
    exactly_once.published_once(run_id, ds, phase, deployed["home"])


def now(workdir: Path) -> str:
    """Return the metastore's clock now (the tasks' queued times are on it)."""
    return hostops.sql(workdir, "SELECT now()")[0][0]


def queued_since(workdir: Path, run_id: str, since: str = "-infinity") -> dict[str, int]:
    """Return how many of the run's tasks each scheduler host queued after ``since``."""
    rows = hostops.sql(
        workdir,
        "SELECT j.hostname, count(*) FROM task_instance t JOIN job j ON j.id = t.queued_by_job_id "
        f"WHERE t.run_id = '{run_id}' AND t.queued_dttm > '{since}' GROUP BY j.hostname",
    )
    return {NAME[host]: int(n) for host, n in rows}
