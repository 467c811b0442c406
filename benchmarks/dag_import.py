"""Cost of building each pipeline's DAG beyond ``import airflow.sdk``, side by side in one run.

Each sample is a fresh interpreter (imports are cached within one), alternating
the reference (``import airflow.sdk``), each pipeline alone (``import
airflow.sdk``, then its declaration loaded and its DAG built by the factory) and
the dags folder's loader (every pipeline), so all see the same machine load.
Prints the medians and the differences, and writes
``benchmarks/results/dag_import.json``.

    .venv/bin/python benchmarks/dag_import.py [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOADER = REPO / "dags" / "pipelines.py"
TIMER = """
import time, sys
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
if sys.argv[1] == "loader":
    import runpy
    runpy.run_path(sys.argv[2])
elif sys.argv[1] != "sdk":
    from stagebook import pipelines
    from stagebook.orchestration.factory import pipeline_dag
    pipeline_dag(pipelines.get(sys.argv[1]))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def sample(kind: str, env: dict) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", TIMER, kind, str(LOADER)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "lib"))
    from stagebook import settings
    from stagebook.orchestration.commands import environment

    env = {**os.environ, **environment.airflow_environ()}
    kinds = [folder.name for folder in settings.pipeline_folders()] + ["loader"]
    sample("loader", env)  # warm the bytecode caches
    sdk: list[float] = []
    total: dict[str, list[float]] = {kind: [] for kind in kinds}
    extra: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.samples):
        sdk.append(sample("sdk", env)[0])
        for kind in kinds:
            a, b = sample(kind, env)
            total[kind].append(a + b)
            extra[kind].append(b)
    reference = statistics.median(sdk)
    result = {
        "samples": args.samples,
        "import_airflow_sdk_s": reference,
        "beyond_sdk_s": {kind: statistics.median(extra[kind]) for kind in kinds},
        "ratio_total_to_sdk": {kind: statistics.median(total[kind]) / reference for kind in kinds},
        "note": "each pipeline alone: its declaration and its DAG; loader: dags/pipelines.py, all",
    }
    print(json.dumps(result, indent=2))
    target = REPO / "benchmarks" / "results" / "dag_import.json"
    target.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
