"""The multi-host rehearsal's figures: hosts up, converge from nothing and again, the pipeline.

Brings up the eight namespace hosts of production's shape
(:mod:`stagebook_deploy.nshosts`), converges ``ansible/site.yml`` onto them over
SSH from nothing, converges again (``changed`` should be 0), runs
``recommendation_pipeline`` for the MovieLens date with both phases through the
REST API over HTTPS, tears everything down, and writes the figures into
``benchmarks/results/cluster.json`` under ``multihost`` (the single-host
figures beside it stay). The run's wall time is its own start and end, as
Airflow records them. Run as root, with nothing else on the machine:

    .venv/bin/python benchmarks/cluster_multihost.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lib")]

from cluster import run_seconds  # noqa: E402  (benchmarks/cluster.py)

from stagebook_deploy import cluster, multihost, nshosts, nsteardown  # noqa: E402
from stagebook_deploy.hostspec import prod_layout  # noqa: E402

DS = "2019-11-20"
RESULTS = REPO / "benchmarks" / "results" / "cluster.json"


def _timed(figures: dict, name: str, step):
    started = time.monotonic()
    result = step()
    figures[name] = round(time.monotonic() - started, 1)
    return result


def measure(workdir: Path) -> dict:
    """Return the figures of one rehearsal in ``workdir``: up, two converges, one run."""
    hosts = prod_layout()
    figures: dict = {"measured": dt.date.today().isoformat(), "ds": DS, "hosts": len(hosts)}
    figures["measured_by"] = "benchmarks/cluster_multihost.py"
    figures["machine_cores"] = os.cpu_count()
    extra = multihost.tls_vars(workdir)
    _timed(figures, "hosts_up_s", lambda: nshosts.up(hosts, workdir))
    shared = cluster.ansible_dir() / multihost.SHARED_VARS
    inventory = multihost.inventory(hosts, workdir, shared_vars=shared)
    multihost.check_reachable(inventory)
    password = cluster.ansible_dir() / cluster.VAULT_EXAMPLE
    for name in ("converge_from_nothing_s", "second_converge_s"):
        result = _timed(figures, name, lambda: cluster.converge(str(inventory), extra, password))
        assert result.returncode == 0, result.stdout[-3000:]
        figures[name.replace("_s", "_changed")] = cluster.recap(result.stdout).get("changed")
    meta = next(host for host in hosts if host.name == "meta1")
    api = cluster.Client(
        f"https://{meta.address}:8080",
        workdir / "sbh-meta1" / "srv" / "stagebook" / "airflow",
        "recommendation_pipeline",
        ca_file=workdir / "tls" / "api.crt",
    )
    run_id = api.trigger({"ds": DS})
    assert api.wait(run_id, timeout_s=1800) == "success", api.tis(run_id)
    run = api.run(run_id)
    figures["pipeline_run_s"] = run_seconds(run)
    return figures


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("benchmarks/cluster_multihost.py: namespace hosts need root: run it as root")
    os.environ.setdefault("STAGEBOOK_UV", shutil.which("uv") or str(REPO / ".tools/bin/uv"))
    workdir = Path(tempfile.mkdtemp(prefix="stagebook-multihost-bench-"))
    workdir.chmod(0o755)
    with nshosts.exclusive():
        try:
            figures = measure(workdir)
        finally:
            nsteardown.down(workdir)
            left = nsteardown.leftovers(workdir)
            shutil.rmtree(workdir, ignore_errors=True)
    figures["left_after_teardown"] = left
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["multihost"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
