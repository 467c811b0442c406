"""The single-machine deployment of test_cluster, and what its tests do to it.

:func:`deployed` converges ``ansible/inventories/local`` into a temporary prefix
(the path ``make cluster`` takes), on ports free at the time, and tears it down
after; the other functions run ``supervisorctl``, ``rabbitmqctl`` and SQL on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stagebook_deploy import cluster
from tests.support import DAG_ID, PIPELINE, free_port, params_copy


def supervisorctl(where: Path, *args: str, check: bool = False) -> str:
    """Run ``supervisorctl`` on the deployment at ``where``; return its output."""
    command = ["supervisorctl", "-c", str(cluster.supervisor_config(where)), *args]
    return subprocess.run(command, capture_output=True, text=True, check=check).stdout


def pid(where: Path, program: str) -> int:
    """Return the pid of Airflow's ``program`` (``scheduler-1``, ...) under supervisor."""
    return int(supervisorctl(where, "pid", f"airflow:{program}", check=True).strip())


def rabbitmqctl(deployed: dict, *args: str) -> str:
    """Run ``rabbitmqctl`` against the deployment's broker node; return its output."""
    broker = deployed["where"] / "rabbitmq"
    env = {
        "PATH": "/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(broker / "home"),
        "RABBITMQ_CONF_ENV_FILE": str(broker / "rabbitmq-env.conf"),
        "ERL_EPMD_PORT": str(deployed["extra"]["rabbitmq_epmd_port"]),
    }
    command = ["rabbitmqctl", "-n", "stagebook@localhost", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout


def metastore(where: Path):
    """Return a connection to the deployment's metastore."""
    import psycopg

    return psycopg.connect(cluster.metastore_url(where))


@contextmanager
def deployed() -> Iterator[dict]:
    """Converge a deployment, yield what the tests need of it, then tear it down."""
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
    extra = {
        **ports,
        "stagebook_params": {PIPELINE: str(params)},
        "airflow_task_heartbeat_timeout_s": 20,
    }
    os.environ["STAGEBOOK_CLUSTER_PREFIX"] = str(where)
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
                f"http://127.0.0.1:{ports['airflow_api_port']}", where / "airflow", DAG_ID
            ),
        }
    finally:
        cluster.down(where)
        os.environ.pop("STAGEBOOK_CLUSTER_PREFIX", None)
        shutil.rmtree(where, ignore_errors=True)
