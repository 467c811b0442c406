"""``make bench-pipeline``: what a stage costs, against plain Python, and as the data grows.

Five tables, one JSON (``benchmarks/results/pipeline.json``); this module runs
them and prints them, each table's module measures it:

1. **Fixed cost of a stage** (``stagecost.py``). No-op stage notebooks (the
   parameters cell and ``stagebook.stage(...)``) run through
   ``StageNotebookOperator`` with ``stagebook run``, with warm kernels as
   ``stagebook run`` runs and cold as a Celery task does. The task's time (start
   to end in the metastore) is split into: task start (before the operator),
   prepare, papermill's import, kernel start, parameters, first cell (imports and
   ``stage()``), other cells, archive (redaction and HTML) and index (sidecar and
   ``index.html``). The whole run's wall time is kept too (``noop_run_s``): what
   any ``stagebook run`` pays around its stages.
2. **Overhead against plain Python** (``overhead.py``). The six stages' code
   cells, run in order in one Python process with no Airflow, papermill or
   kernel, against ``stagebook run --phases prod`` for the same date and data,
   each in a fresh archive, as wall times of the whole command: run in its own
   process (cold), and handed to a ready ``stagebook warm`` (warm).
3. **Scaling** (``scaling.py``). ``stagebook run`` on synthetic data at several
   events per day (the same window and epochs): each stage's time, its time per
   event and its kernel's peak RSS.
4. **Landing.** The synthetic generator and the DuckDB table build on their own,
   at ``--landing-events`` a day over 60 days (``landing.py``).
5. **Capacity** (``scaling.py`` and ``capacity.py``). The run at
   ``--capacity-events`` a day, and what memory and disk would allow.

    python benchmarks/pipeline.py [--scales 2000,32000,512000] [--bench-events 200000]
        [--landing-events 512000] [--skip fixed,overhead,scaling,landing,capacity] [--repeats 3]

Times are medians of ``--repeats`` runs (the no-op stages, and the overhead pairs);
the ratios are what to compare, not the seconds: this machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

import overhead
import runs
import scaling
import stagecost

RESULTS = runs.ROOT / "benchmarks" / "results" / "pipeline.json"


def _fixed(results: dict, repeats: int) -> None:
    cost = results["fixed_cost"] = stagecost.fixed_cost(repeats)
    rows = [
        ["each further stage", *cost["median"].values()],
        ["first in a process", *cost["first_in_process"].values()],
        ["cold: each further", *cost["cold_median"].values()],
        ["cold: first", *cost["cold_first_in_process"].values()],
    ]
    print(
        runs.table("1. Fixed cost of a no-op stage (median, seconds)", ["", *cost["median"]], rows)
    )
    first = results["first_stage_s"] = cost["first_in_process"]["task"]
    print(f"first stage of a run: {first:.2f} s, each further {cost['median']['task']:.2f} s")
    print(f"a whole run of {stagecost.NOOPS} no-op stages: {cost['noop_run_s']:.2f} s\n")


def _overhead(results: dict, repeats: int, bench_events: int, noop_s: float | None) -> None:
    """Table 2; ``noop_s``: this invocation's whole no-op run, set beside MovieLens's plain Python."""
    found = results["overhead"] = [overhead.overhead("movielens", None, repeats)]
    if bench_events:
        found.append(overhead.overhead(f"synthetic {bench_events}/day", bench_events, repeats))
    keys = ("scale", "plain_python_s", "stagebook_run_s", "ratio", "stagebook_warm_run_s")
    keys += ("warm_ratio", "plain_python_cpu_s", "stagebook_run_cpu_s")
    each = ("plain_python_each_s", "stagebook_run_each_s", "stagebook_warm_each_s")
    rows = [[*(o[k] for k in keys), *(" ".join(map(str, o[k])) for k in each)] for o in found]
    header = ["scale", "plain s", "stagebook s", "ratio", "warm s", "warm ratio", "plain CPU s"]
    header += ["stagebook CPU s", "plain runs", "stagebook runs", "warm runs"]
    print(runs.table("2. Overhead against plain Python (medians)", header, rows))
    movielens = found[0]
    results["movielens_ratio"] = movielens["ratio"]
    results["movielens_warm_ratio"] = movielens["warm_ratio"]
    print(
        f"MovieLens: stagebook run {movielens['ratio']:.2f}x plain Python, side by side; "
        f"handed to stagebook warm {movielens['warm_ratio']:.2f}x"
    )
    first = movielens["stagebook_warm_stages_s"]["input_tables"]
    print(f"first stage of a warm MovieLens run: {first:.2f} s")
    held = ", ".join(f"{o['scale']} {o['stagebook_warm_ready_mib']:.0f} MiB" for o in found)
    print(f"a ready stagebook warm holds (PSS, kernels included): {held}")
    results.pop("movielens_noop_ratio", None)  # never against another invocation's no-op run
    if noop_s:
        floor = results["movielens_noop_ratio"] = round(noop_s / movielens["plain_python_s"], 3)
        print(
            f"a run of {stagecost.NOOPS} no-op stages: {noop_s:.1f} s, {floor:.2f}x that plain Python"
        )
    print()


def _scaling(results: dict, scales: list[int]) -> None:
    found = results["scaling"] = scaling.scaling(scales)
    rows = []
    for events, run in found.items():
        for task, s in sorted(run["stages"].items()):
            per = s["work_s"] / (int(events) * 60) * 1e6
            rows.append(
                [events, task, s["task_s"], s["work_s"], round(per, 3), s["kernel_peak_rss_mb"]]
            )
    header = ["events/day", "task", "task s", "work s", "us/event", "peak RSS MiB"]
    print(runs.table("3. Scaling (synthetic, 60-day window)", header, rows))


def _landing(results: dict, events: int) -> None:
    from landing import measure

    found = results["landing"] = measure(events, 60)
    rows = [[found[k] for k in ("events_per_day", "days", "land_s", "build_s", "total_s")]]
    title = "4. Landing and building the input tables (goal: 60 s at 512 k a day)"
    print(runs.table(title, ["events/day", "days", "land s", "build s", "total s"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scales", default="2000,32000,512000")
    parser.add_argument("--bench-events", type=int, default=200_000)
    parser.add_argument("--landing-events", type=int, default=512_000)
    parser.add_argument("--capacity-events", type=int, default=6_000_000)
    parser.add_argument(
        "--skip", default="", help="comma-separated: fixed, overhead, scaling, landing, capacity"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(machine_cores=os.cpu_count(), measured=dt.date.today().isoformat(), ds=runs.DS)
    if "fixed" not in skip:
        _fixed(results, args.repeats)
    if "overhead" not in skip:
        noop_s = None if "fixed" in skip else results["fixed_cost"]["noop_run_s"]
        _overhead(results, args.repeats, args.bench_events, noop_s)
    if "scaling" not in skip:
        _scaling(results, [int(s) for s in args.scales.split(",") if s])
    if "capacity" not in skip:
        results["capacity"] = scaling.capacity_row(results, args.capacity_events)
    if "landing" not in skip:
        _landing(results, args.landing_events)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(runs.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
