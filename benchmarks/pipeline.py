"""``make bench-pipeline``: what a stage costs, against plain Python, and as the data grows.

Four tables, one JSON (``benchmarks/results/pipeline.json``):

1. **Fixed cost of a stage.** A no-op stage notebook (its parameters cell and
   ``stagebook.stage(...)``) runs through ``StageNotebookOperator`` with
   ``stagebook run``, with warm kernels as ``stagebook run`` runs and cold as a
   Celery task does. The
   task's time (start to end in the metastore) is split into: task start (before
   the operator), prepare, papermill's import, kernel start, parameters, first
   cell (imports and ``stage()``), other cells, archive (redaction and HTML) and
   index (sidecar and ``index.html``). The same split is shown for the demo's
   real stages.
2. **Overhead against plain Python.** The six stages' code cells, run in order
   in one Python process with no Airflow, papermill or kernel, against
   ``stagebook run --phases prod`` for the same date and data, each in a fresh
   archive, as wall times of the whole command.
3. **Scaling.** ``stagebook run`` on synthetic data at several events per day
   (the same window and epochs): each stage's time, its time per event and its
   kernel's peak RSS.
4. **Landing.** The synthetic generator and the DuckDB table build on their own,
   at ``--landing-events`` a day over 60 days (``benchmarks/landing.py``).

    python benchmarks/pipeline.py [--scales 2000,32000,512000] [--bench-events 200000]
        [--landing-events 512000] [--skip fixed,overhead,scaling,landing] [--repeats 3]

Times are medians of ``--repeats`` runs (the no-op stages, and the overhead pairs);
the ratios are what to compare, not the seconds: this machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pipeline.json"
STAGEBOOK = Path(sys.executable).with_name("stagebook")
DS = "2019-11-20"  # a MovieLens date; synthetic data has every date
PHASES = ["00-input-tables", "10-features", "20-train", "30-inference", "40-validate", "50-publish"]
STAGE_TASKS = [
    "input_tables",
    "prod.features",
    "prod.train",
    "prod.inference",
    "prod.validate",
    "prod.publish",
]
SPLIT = [  # the sidecar's timings, in the order a try spends them
    "prepare",
    "kernel_start",
    "parameters",
    "first_cell",
    "other_cells",
    "archive",
    "index",
]

# The synthetic world has 500 items and, up to 512 k events a day, 2,000 users: past ~100 k
# events a day most users have seen most items, so few have a full top-10 of unseen ones left.
# The gate's user coverage is lowered so the run completes through publish (the stages' cost is
# what the table measures, not the lists' quality). Past 512 k a day the users grow with the
# events (256 a user a day, as at 512 k): at 8.4 M a day with 2,000 users every user had seen
# every item, no list was left, and the gate refused the run.
EVENTS_PER_USER_DAY = 256


def scale_params(events_per_day: int) -> dict:
    """Return the params of a scaling or capacity run at ``events_per_day``.

    The cell timeout guards a hung cell, not a big day: the scaled runs allow a cell four
    hours, because at capacity one cell can rightly run past the default hour (the window's
    landing did at 8.4 M a day, before the synthetic source made categoricals).
    """
    users = max(2000, events_per_day // EVENTS_PER_USER_DAY)
    return {
        "validation.min_user_coverage": 0.0,
        "data.n_users": users,
        "pipeline.cell_timeout_s": 4 * 3600,
    }


NOOPS = 4  # no-op stages one after the other in one run: the first pays the process's warm-up

NOOP_PIPELINE = f'''
"""No-op stages in a row: what every stage costs before its own work."""
from stagebook.declaration import Pipeline, Stage

PIPELINE = Pipeline(
    schedule=None,
    timezone="UTC",
    start="2019-01-01",
    stages=tuple(Stage(f"noop_{{n}}", f"9{{n}}-noop") for n in range(1, {NOOPS} + 1)),
)
'''


def _noop_notebook(stage: str) -> dict:
    def code(source: str, tags: list[str] | None = None) -> dict:
        meta = {"tags": tags} if tags else {}
        return {
            "cell_type": "code",
            "metadata": meta,
            "source": source,
            "outputs": [],
            "execution_count": None,
        }

    return {
        "cells": [
            code(
                'ds = "2019-11-20"\nphase = "common"\ntry_number = 1\nrun_id = "manual"\n'
                "overrides = {}\n",
                ["parameters"],
            ),
            code(
                f'import stagebook\n\nctx = stagebook.stage(\n    "{stage}", ds=ds, phase=phase, '
                "try_number=try_number, run_id=run_id, overrides=overrides\n)\n"
            ),
        ],
        "metadata": {
            "kernelspec": {
                "name": "stagebook",
                "display_name": "Python (stagebook)",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _env(home: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK_"))}
    return {
        **kept,
        "STAGEBOOK_HOME": str(home),
        "STAGEBOOK_PIPELINE": "recommendations",  # the pipeline measured, unless ``extra`` says
        "MPLBACKEND": "Agg",
        **extra,
    }


def _stagebook(env: dict[str, str], *args: str, check: bool = True) -> float:
    """Run ``stagebook ARGS``; return its wall time (it must succeed, if ``check``)."""
    started = time.perf_counter()
    result = subprocess.run([str(STAGEBOOK), *args], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode and check:
        raise SystemExit(
            f"stagebook {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return took


def _children_cpu() -> float:
    """Return the CPU seconds (user and system) of this process's finished children so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _task_seconds(home: Path) -> dict[tuple[str, str], float]:
    """Return each successful task's duration (metastore start to end), by (run id, task id)."""
    db = sqlite3.connect(home / "airflow" / "airflow.db")
    rows = db.execute(
        "SELECT run_id, task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
        "FROM task_instance WHERE end_date IS NOT NULL AND state = 'success'"
    ).fetchall()
    return {(run_id, task_id): seconds for run_id, task_id, seconds in rows}


def _sidecars(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "reports").rglob("*.try*.json"))]


def _split(sidecar: dict, task_s: float) -> dict[str, float]:
    timings = dict(sidecar.get("timings") or {})
    notebook = timings.pop("notebook", 0.0)
    inside = sum(
        timings.get(k, 0.0) for k in ("kernel_start", "parameters", "first_cell", "other_cells")
    )
    row = {k: timings.get(k, 0.0) for k in SPLIT}
    row["papermill_import_and_kernel_stop"] = round(max(notebook - inside, 0.0), 3)
    row["task_start"] = round(max(task_s - sum(row.values()), 0.0), 3)
    row["task"] = round(task_s, 3)
    row["kernel_peak_rss_mb"] = sidecar.get("kernel_peak_rss_mb")
    return row


def fixed_cost(repeats: int) -> dict:
    """Table 1: no-op stages through the operator, ``repeats`` runs in fresh processes.

    With warm kernels (``stagebook run``'s default) and without (a Celery task's case).

    The first stage of a run also pays its process's warm-up (Airflow's in-process
    execution API, papermill's and nbconvert's imports), once per ``stagebook run``
    or Celery task; the later ones show what each further stage costs.
    """
    with tempfile.TemporaryDirectory(prefix="stagebook-noop-") as tmp:
        root = Path(tmp) / "root"
        folder = root / "pipelines" / "noop_stage"  # a pipeline: a declaration, its notebooks
        (folder / "notebooks").mkdir(parents=True)
        (root / "dags").mkdir()
        (root / "plugins").mkdir()
        shutil.copy(ROOT / "dags" / "pipelines.py", root / "dags")
        (folder / "pipeline.py").write_text(NOOP_PIPELINE)
        for n in range(1, NOOPS + 1):
            stage = f"9{n}-noop"
            source = nbformat.from_dict(_noop_notebook(stage))
            jupytext.write(source, folder / "notebooks" / f"{stage}.py", fmt="py:percent")
        rows: dict[str, tuple[list[dict], list[dict]]] = {}
        for mode, warm in (("warm", "1"), ("cold", "0")):
            home = Path(tmp) / mode
            env = _env(
                home,
                STAGEBOOK_ROOT=str(root),
                STAGEBOOK_PIPELINE="noop_stage",
                STAGEBOOK_WARM_KERNELS=warm,
            )
            for _ in range(repeats):
                _stagebook(env, "run", "--pipeline", "noop_stage", "--ds", DS)
            durations = _task_seconds(home)
            first, later = rows.setdefault(mode, ([], []))
            for sidecar in _sidecars(home):
                row = _split(sidecar, durations[sidecar["run_id"], sidecar["task_id"]])
                (first if sidecar["task_id"] == "noop_1" else later).append(row)

    def median(rows: list[dict]) -> dict:
        keys = [k for k in rows[0] if k != "kernel_peak_rss_mb"]
        return {k: round(statistics.median(r[k] for r in rows), 3) for k in keys}

    return {
        "repeats": repeats,
        "stages_per_run": NOOPS,
        # warm kernels, as stagebook run runs
        "median": median(rows["warm"][1]),
        "first_in_process": median(rows["warm"][0]),
        # each kernel started by its own stage, as in a Celery task
        "cold_median": median(rows["cold"][1]),
        "cold_first_in_process": median(rows["cold"][0]),
        "kernel_peak_rss_mb": statistics.median(
            r["kernel_peak_rss_mb"] or 0 for r in rows["warm"][1]
        ),
    }


def _plain_python(home: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Run the six stages' code cells in order in one Python process.

    Return its wall time, and each stage's (its imports included: the first stage
    to import a library pays for it).
    """
    script = f"""
import json, sys, time
import jupytext
took = {{}}
for stage, phase in {[(s, "common" if s.startswith("00") else "prod") for s in PHASES]!r}:
    began = time.perf_counter()
    nb = jupytext.read({str(ROOT / "pipelines" / "recommendations" / "notebooks")!r} + "/" + stage + ".py")
    scope = {{}}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        exec(compile("".join(cell["source"]), stage, "exec"), scope)
        if "parameters" in cell["metadata"].get("tags", []):
            scope.update(ds={DS!r}, phase=phase, run_id="plain", try_number=1)
    import matplotlib.pyplot as plt
    plt.close("all")
    took[stage] = round(time.perf_counter() - began, 2)
print("STAGES " + json.dumps(took))
"""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"plain Python failed:\n{result.stderr[-3000:]}")
    stages = [line for line in result.stdout.splitlines() if line.startswith("STAGES ")]
    return took, json.loads(stages[-1].removeprefix("STAGES "))


def _params(where: Path, changes: dict[str, object]) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.support import params_copy

    return params_copy(where, changes)


def overhead(scale: str, events_per_day: int | None, repeats: int) -> dict:
    """Table 2: plain Python against ``stagebook run --phases prod``, same date and data.

    ``repeats`` pairs, interleaved (plain, stagebook, plain, ...), each in fresh
    copies of the landed data; the ratio is of the medians. Training's time alone
    varies by up to half between runs on this machine, either way.
    """
    with tempfile.TemporaryDirectory(prefix="stagebook-overhead-") as tmp:
        changes: dict[str, object] = {}
        if events_per_day:
            changes = {"data.source": "synthetic", "data.events_per_day": events_per_day}
        params = _params(Path(tmp) / "params", changes)
        # land the raw data once, outside both timings (both read the same landed days)
        landed = Path(tmp) / "landed"
        base = _env(landed, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
        _stagebook(base, "run", "--ds", DS, "--phases", "prod", "--only", "input_tables")
        plains, ours = [], []
        for n in range(repeats):
            homes = {name: Path(tmp) / f"{name}-{n}" for name in ("plain", "stagebook")}
            for home in homes.values():
                home.mkdir()
                if (landed / "data" / "recommendations" / "raw").exists():
                    shutil.copytree(
                        landed / "data" / "recommendations" / "raw",
                        home / "data" / "recommendations" / "raw",
                    )
            env = _env(homes["plain"], STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
            cpu = _children_cpu()
            took, plain_stages = _plain_python(homes["plain"], env)
            plains.append((took, plain_stages, _children_cpu() - cpu))
            env = _env(homes["stagebook"], STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
            _stagebook(env, "setup")  # the metastore exists before the timing, as on a deployment
            cpu = _children_cpu()  # the run's process and its kernels (each waited for)
            took = _stagebook(env, "run", "--ds", DS, "--phases", "prod")
            cpu = _children_cpu() - cpu
            tasks = {
                task: round(s, 2) for (_, task), s in _task_seconds(homes["stagebook"]).items()
            }
            ours.append((took, {task: tasks.get(task, 0.0) for task in STAGE_TASKS}, cpu))
            shutil.rmtree(homes["plain"])
            shutil.rmtree(homes["stagebook"])
    plain, plain_stages, plain_cpu = sorted(plains, key=lambda r: r[0])[len(plains) // 2]
    mine, stages, my_cpu = sorted(ours, key=lambda r: r[0])[len(ours) // 2]
    return {
        "scale": scale,
        "repeats": repeats,
        "plain_python_s": round(plain, 1),
        "stagebook_run_s": round(mine, 1),
        "ratio": round(mine / plain, 3),
        "plain_python_each_s": [round(t, 1) for t, _, _ in plains],
        "stagebook_run_each_s": [round(t, 1) for t, _, _ in ours],
        # CPU seconds of the median runs, kernels included: on 2 cores a run cannot take less
        # wall time than half its CPU
        "plain_python_cpu_s": round(plain_cpu, 1),
        "stagebook_run_cpu_s": round(my_cpu, 1),
        # the profile of the difference, in the median runs: each stage both ways,
        # and stagebook's time outside its stages
        "plain_stages_s": plain_stages,
        "stagebook_stages_s": stages,
        "stagebook_outside_stages_s": round(mine - sum(stages.values()), 1),
    }


def _disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def scaling(scales: list[int]) -> dict:
    """Table 3: ``stagebook run`` on synthetic data at each scale; per stage time, per event, RSS.

    The synthetic days' items are as many as the catalogue (``data.n_items``); the
    validation gate's catalogue coverage is lowered to what a synthetic day reaches, so
    the run completes through publish at every scale (:func:`scale_params`).
    """
    found = {}
    for events in scales:
        with tempfile.TemporaryDirectory(prefix=f"stagebook-scale-{events}-") as tmp:
            changes = {"data.source": "synthetic", "data.events_per_day": events}
            changes.update(scale_params(events))
            params = _params(Path(tmp) / "params", changes)
            home = Path(tmp) / "home"
            env = _env(home, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
            _stagebook(env, "setup")
            # a run the validation gate refuses still measured every stage before it
            wall = _stagebook(env, "run", "--ds", DS, "--phases", "prod", check=False)
            tasks = {task: seconds for (_, task), seconds in _task_seconds(home).items()}
            stages = {}
            for sidecar in _sidecars(home):
                task = sidecar["task_id"]
                stages[task] = {
                    "task_s": round(tasks.get(task, 0.0), 2),
                    "work_s": round((sidecar.get("timings") or {}).get("other_cells", 0.0), 2),
                    "kernel_peak_rss_mb": sidecar.get("kernel_peak_rss_mb"),
                    "state": sidecar.get("state"),
                    **({"error": sidecar["error"][:300]} if sidecar.get("error") else {}),
                }
            found[str(events)] = {
                "events_per_day": events,
                "run_s": round(wall, 1),
                "disk_mb": _disk_mb(Path(tmp)),
                "stages": stages,
            }
    return found


def _table(title: str, header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([title, line(header), *(line(r) for r in rows), ""])


def _capacity(results: dict, events_per_day: int) -> dict:
    """Table 5: the run at ``events_per_day`` and what memory and disk would allow (``capacity``)."""
    import capacity

    measured = scaling([events_per_day])[str(events_per_day)]
    scaled = results.get("scaling", {})
    found = capacity.row(scaled, measured, scaled.get("32000"))
    found["before"] = results.get("capacity", {}).get("before")  # measured on the code before
    memory, disk = found["memory_would_allow"], found["disk_would_allow"]
    rows = [
        [
            found["events_per_day"],
            "yes" if found["completes"] else f"no: {found['failed'] + found['over_limit']}",
            max(p or 0 for p in found["stage_peak_mib"].values()),
            found["us_per_event"],
            found.get("per_event_vs_32k"),
            f"{memory['events_per_day']} ({memory['limited_by']})",
            disk["events_per_day"],
        ]
    ]
    header = ["events/day", "completes", "peak MiB", "us/event", "vs 32k", "memory allows"]
    print(
        _table("5. Capacity (60-day window, no stage over 20 GiB)", [*header, "disk allows"], rows)
    )
    print(
        _table(
            "   per-stage peak MiB",
            list(found["stage_peak_mib"]),
            [list(found["stage_peak_mib"].values())],
        )
    )
    return found


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
    results.update(machine_cores=os.cpu_count(), measured=dt.date.today().isoformat(), ds=DS)

    if "fixed" not in skip:
        results["fixed_cost"] = fixed_cost(args.repeats)
        cost = results["fixed_cost"]
        rows = [
            ["each further stage", *cost["median"].values()],
            ["first in a process", *cost["first_in_process"].values()],
            ["cold: each further", *cost["cold_median"].values()],
            ["cold: first", *cost["cold_first_in_process"].values()],
        ]
        title = "1. Fixed cost of a no-op stage (median, seconds)"
        print(_table(title, ["", *cost["median"]], rows))
        first = results["first_stage_s"] = cost["first_in_process"]["task"]
        print(f"first stage of a run: {first:.2f} s, each further {cost['median']['task']:.2f} s\n")
    if "overhead" not in skip:
        results["overhead"] = [overhead("movielens", None, args.repeats)]
        if args.bench_events:
            results["overhead"].append(
                overhead(f"synthetic {args.bench_events}/day", args.bench_events, args.repeats)
            )
        keys = ("scale", "plain_python_s", "stagebook_run_s", "ratio")
        keys += ("plain_python_cpu_s", "stagebook_run_cpu_s")
        each = ("plain_python_each_s", "stagebook_run_each_s")
        rows = [
            [*(o[k] for k in keys), *(" ".join(map(str, o[k])) for k in each)]
            for o in results["overhead"]
        ]
        print(
            _table(
                "2. Overhead against plain Python (medians)",
                ["scale", "plain s", "stagebook s", "ratio", "plain CPU s", "stagebook CPU s"]
                + ["plain runs", "stagebook runs"],
                rows,
            )
        )
        movielens = results["overhead"][0]
        results["movielens_ratio"] = movielens["ratio"]
        print(f"MovieLens: stagebook run {movielens['ratio']:.2f}x plain Python, side by side\n")
    if "scaling" not in skip:
        scales = [int(s) for s in args.scales.split(",") if s]
        results["scaling"] = scaling(scales)
        rows = []
        for events, run in results["scaling"].items():
            for task, s in sorted(run["stages"].items()):
                per = s["work_s"] / (int(events) * 60) * 1e6
                rows.append(
                    [events, task, s["task_s"], s["work_s"], round(per, 3), s["kernel_peak_rss_mb"]]
                )
        print(
            _table(
                "3. Scaling (synthetic, 60-day window)",
                ["events/day", "task", "task s", "work s", "us/event", "peak RSS MiB"],
                rows,
            )
        )
    if "capacity" not in skip:
        results["capacity"] = _capacity(results, args.capacity_events)
    if "landing" not in skip:
        from landing import measure

        found = results["landing"] = measure(args.landing_events, 60)
        rows = [[found[k] for k in ("events_per_day", "days", "land_s", "build_s", "total_s")]]
        print(
            _table(
                "4. Landing and building the input tables (goal: 60 s at 512 k a day)",
                ["events/day", "days", "land s", "build s", "total s"],
                rows,
            )
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
