"""The cluster's figures: converge from nothing, re-converge, and the pipeline's wall time.

Converges ``ansible/inventories/local`` into a temporary prefix (free ports),
converges it again, runs ``recommendation_pipeline`` for a MovieLens date with
both phases through the REST API, then ``stagebook run`` for the same date in a
fresh archive, and writes ``benchmarks/results/cluster.json``. The wall times
are each run's own start and end, as Airflow records them. Run as root:

    .venv/bin/python benchmarks/cluster.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lib")]

from stagebook_deploy import cluster  # noqa: E402
from tests.support import free_port  # noqa: E402

DS = "2019-11-20"


def run_seconds(run: dict) -> float:
    """Return a DAG run's wall time, its start to its end as Airflow records them (the REST API's)."""
    start, end = (dt.datetime.fromisoformat(run[key]) for key in ("start_date", "end_date"))
    return round((end - start).total_seconds(), 1)


def stagebook_run_seconds() -> float:
    """Return the run's total of ``stagebook run`` for ``DS``, both phases, in a fresh archive."""
    home = Path(tempfile.mkdtemp(prefix="stagebook-cli-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK_"))}
    env["STAGEBOOK_HOME"] = str(home)
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "run"]
    command += ["--ds", DS, "--pipeline", "recommendations"]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    return float(total.split()[-2])


def main() -> None:
    where = Path(tempfile.mkdtemp(prefix="stagebook-cluster-bench-"))
    where.chmod(0o755)
    os.environ["STAGEBOOK_CLUSTER_PREFIX"] = str(where)
    os.environ.setdefault("STAGEBOOK_UV", shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv"))
    extra = {
        name: free_port()
        for name in (
            "postgresql_port",
            "rabbitmq_port",
            "rabbitmq_dist_port",
            "rabbitmq_epmd_port",
            "airflow_api_port",
            "airflow_scheduler_health_port",
        )
    }
    figures: dict[str, object] = {"ds": DS, "machine_cores": os.cpu_count()}
    try:
        for name in ("converge_from_nothing_s", "converge_again_s"):
            started = time.monotonic()
            result = cluster.converge(extra_vars=extra)
            figures[name] = round(time.monotonic() - started, 1)
            assert result.returncode == 0, result.stdout[-3000:]
            figures[name.replace("_s", "_changed")] = cluster.recap(result.stdout).get("changed")
        api = cluster.Client(
            f"http://127.0.0.1:{extra['airflow_api_port']}",
            where / "airflow",
            "recommendation_pipeline",
        )
        run_id = api.trigger({"ds": DS})
        assert api.wait(run_id) == "success", api.tis(run_id)
        run = api.run(run_id)
        figures["cluster_run_s"] = run_seconds(run)
    finally:
        figures["leftover_pids"] = cluster.down(where)
        shutil.rmtree(where, ignore_errors=True)
    figures["stagebook_run_s"] = stagebook_run_seconds()
    figures["cluster_over_stagebook_run"] = round(
        figures["cluster_run_s"] / figures["stagebook_run_s"], 2
    )
    target = REPO / "benchmarks" / "results" / "cluster.json"
    if target.exists() and "multihost" in (kept := json.loads(target.read_text())):
        figures["multihost"] = kept["multihost"]  # benchmarks/cluster_multihost.py's
    target.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
