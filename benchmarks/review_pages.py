"""How fast the Stagebook app answers on a year of archive: index, trends, compare.

    python benchmarks/review_pages.py [--dates 365] [--repeats 7]

Builds a synthetic archive of sidecars (``--dates`` dates x 2 runs x 2 phases x
6 stages, ``input_tables`` once per run as in the DAG: 22 a date), then asks each page through
the app (FastAPI's TestClient, in this process; the api-server's auth is not
part of the measure) ``--repeats`` times and keeps the median, the first answer
apart (it fills the process's sidecar cache). The goal: each page in at most
300 ms. Written to ``benchmarks/results/review_pages.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "review_pages.json"
DAG = "recommendation_pipeline"
STAGES = ["00-input-tables", "10-features", "20-train", "30-inference", "40-validate", "50-publish"]
GOAL_MS = 300


def _records(stage: str, n: int) -> dict:
    wave = (n % 17) / 100
    return {
        "00-input-tables": {"table_rows": {"events": 25_000 + n, "users": 370, "items": 1500}},
        "10-features": {"vocabulary_sizes": {"user_id": 370, "item_id": 1500}},
        "20-train": {
            "metrics": {
                "test_auc": 0.66 + wave,
                "test_logloss": 0.61 - wave,
                "base_rate_logloss": 0.65,
                "epochs": 7,
                "learning_rate": 0.1,
            }
        },
        "30-inference": {"inference": {"users": 370}},
        "40-validate": {
            "validation": {
                "kl_divergence": 0.3 + wave,
                "js_distance": 0.1,
                "user_coverage": 1.0,
                "catalogue_coverage": 0.16,
                "score_mean": 0.93,
            }
        },
        "50-publish": {"published": [{"sink": "outbox", "records": 370}]},
    }[stage]


def build(home: Path, dates: int) -> int:
    """Write the sidecars of ``dates`` dates x 2 phases x 6 stages x 2 runs; return how many."""
    from stagebook import sidecars, storage

    first = dt.date(2019, 1, 1)
    written = 0
    for n in range(dates):
        ds = first + dt.timedelta(days=n)
        for hour in (1, 9):
            run_id = f"scheduled__{ds}T{hour:02d}:00:00+00:00"
            for phase in ("prod", "beta"):
                for stage in STAGES:
                    where = "common" if stage == "00-input-tables" else phase
                    if where == "common" and phase == "beta":
                        continue  # one input_tables per run, as the DAG has
                    notebook = storage.report_path(DAG, ds, where, run_id, stage, 1, home)
                    notebook.parent.mkdir(parents=True, exist_ok=True)
                    sidecars.write_sidecar(
                        notebook,
                        dag_id=DAG,
                        run_id=run_id,
                        task_id=stage,
                        stage=stage,
                        phase=where,
                        ds=ds.isoformat(),
                        try_number=1,
                        state="success",
                        started=f"{ds}T{hour:02d}:00:00+00:00",
                        duration_s=3.0 + n % 5,
                        records=_records(stage, n),
                        parameters={"ds": ds.isoformat(), "overrides": {}},
                    )
                    written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dates", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stagebook-pages-") as home:
        os.environ["STAGEBOOK_HOME"] = home
        from fastapi.testclient import TestClient

        from stagebook.orchestration.reviewing import web

        started = time.perf_counter()
        sidecars = build(Path(home), args.dates)
        built = time.perf_counter() - started
        app = web.create_app()
        app.dependency_overrides[web.AUTHENTICATED] = lambda: None
        app.dependency_overrides[web.READS_DAG] = lambda: None
        app.dependency_overrides[web.readable_dags] = lambda: {DAG}
        client = TestClient(app, root_path="/stagebook")
        pages = {
            "index": "/stagebook/",
            "trends": f"/stagebook/trends/{DAG}",
            "compare": f"/stagebook/compare?dag_id={DAG}",
        }
        found = {}
        for name, path in pages.items():
            times = []
            for _ in range(args.repeats + 1):
                began = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{path}: {answer.status_code} {answer.text[:500]}")
            found[name] = {
                "first_ms": round(times[0], 1),
                "median_ms": round(statistics.median(times[1:]), 1),
                "bytes": len(answer.content),
            }
    result = {
        "measured": dt.date.today().isoformat(),
        "dates": args.dates,
        "sidecars": sidecars,
        "archive_build_s": round(built, 1),
        "goal_ms": GOAL_MS,
        "pages": found,
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    slow = [n for n, f in found.items() if f["median_ms"] > GOAL_MS]
    if slow:
        print(f"over {GOAL_MS} ms: {', '.join(slow)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
