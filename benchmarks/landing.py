"""Landing and building the input tables at scale: the synthetic generator, then DuckDB.

    python benchmarks/landing.py [--events 512000] [--days 60]

Lands ``--days`` days of synthetic events (``data.land``, the generator and the
Parquet writes, a thread per core) into a fresh archive, then builds the input
tables from them (``tables.build``: DuckDB, straight to Parquet), and prints
each part's wall time and the total. Written to
``benchmarks/results/pipeline.json`` under ``landing``. The goal: 512 k events
a day for 60 days in at most 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# the pipeline these figures are of: its params, whatever else the project holds
os.environ.setdefault("STAGEBOOK_PIPELINE", "recommendations")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pipeline.json"


def measure(events: int, days: int) -> dict:
    """Land ``days`` days of ``events`` a day into a fresh archive, build the tables; time both."""
    saved = os.environ.get("STAGEBOOK_HOME")
    with tempfile.TemporaryDirectory(prefix="stagebook-landing-") as home:
        os.environ["STAGEBOOK_HOME"] = home
        try:
            from recsys import data, tables
            from stagebook import dates, params, settings

            with settings.using("recommendations"):  # the pipeline measured
                p = params.load("prod")
            source = p.data.model_copy(update={"source": "synthetic", "events_per_day": events})
            ds = source.anchor_date
            paths = p.paths(ds, "common", Path(home))  # its pipeline: from the class's own
            started = time.perf_counter()
            files, missing = data.land_window(source, paths, dates.window(ds, days))
            landed = time.perf_counter() - started
            started = time.perf_counter()
            built = tables.build(
                files, data.source("synthetic"), paths, p.tables.min_events, p.tables
            )
            build = time.perf_counter() - started
        finally:
            if saved is None:
                os.environ.pop("STAGEBOOK_HOME", None)
            else:
                os.environ["STAGEBOOK_HOME"] = saved
    if missing:
        raise SystemExit(f"landing: no events for {', '.join(map(str, missing))}")
    return {
        "events_per_day": events,
        "days": len(files),
        "events": int(built.rows["events"]),
        "cores": os.cpu_count(),
        "land_s": round(landed, 1),
        "build_s": round(build, 1),
        "total_s": round(landed + build, 1),
        "goal_s": 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=512_000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    found = measure(args.events, args.days)
    print(json.dumps(found))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["landing"] = found
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
