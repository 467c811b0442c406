"""Cost of importing the DAG file beyond ``import airflow.sdk``, side by side in one run.

Each sample is a fresh interpreter (imports are cached within one), alternating
the reference (``import airflow.sdk``) and the DAG file (``import airflow.sdk``
then the file), so both see the same machine load. Prints the medians and the
difference, and writes ``benchmarks/results/dag_import.json``.

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
DAG_FILE = REPO / "dags" / "recommendation_pipeline.py"
TIMER = """
import time, sys
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
if sys.argv[1] == "dag":
    import runpy
    runpy.run_path(sys.argv[2])
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def sample(kind: str, env: dict) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", TIMER, kind, str(DAG_FILE)],
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
    from stagebook.orchestration import environment

    env = {**os.environ, **environment.airflow_environ()}
    sample("dag", env)  # warm the bytecode caches
    sdk, dag_total, dag_extra = [], [], []
    for _ in range(args.samples):
        a, _ = sample("sdk", env)
        b, c = sample("dag", env)
        sdk.append(a)
        dag_total.append(b + c)
        dag_extra.append(c)
    result = {
        "samples": args.samples,
        "import_airflow_sdk_s": statistics.median(sdk),
        "import_sdk_plus_dag_s": statistics.median(dag_total),
        "dag_file_beyond_sdk_s": statistics.median(dag_extra),
        "ratio_total_to_sdk": statistics.median(dag_total) / statistics.median(sdk),
    }
    print(json.dumps(result, indent=2))
    target = REPO / "benchmarks" / "results" / "dag_import.json"
    target.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
