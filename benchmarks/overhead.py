"""Table 2 of ``make bench-pipeline``: ``stagebook run``, cold and warm, against plain Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import runs


def _plain_python(home: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Run the six stages' code cells in order in one Python process.

    Return its wall time, and each stage's (its imports included: the first stage
    to import a library pays for it).
    """
    script = f"""
import json, sys, time
import jupytext
took = {{}}
for stage, phase in {[(s, "common" if s.startswith("00") else "prod") for s in runs.PHASES]!r}:
    began = time.perf_counter()
    nb = jupytext.read({str(runs.ROOT / "pipelines" / "recommendations" / "notebooks")!r} + "/" + stage + ".py")
    scope = {{}}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        exec(compile("".join(cell["source"]), stage, "exec"), scope)
        if "parameters" in cell["metadata"].get("tags", []):
            scope.update(ds={runs.DS!r}, phase=phase, run_id="plain", try_number=1)
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


def _stagebook_run(home: Path, params: Path) -> tuple[float, dict[str, float], float]:
    """Run ``stagebook run --phases prod`` in ``home``; return its wall time, stages and CPU."""
    env = runs.environ(home, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
    runs.stagebook(env, "setup")  # the metastore exists before the timing, as on a deployment
    cpu = runs.children_cpu()  # the run's process and its kernels (each waited for)
    took = runs.stagebook(env, "run", "--ds", runs.DS, "--phases", "prod")
    cpu = runs.children_cpu() - cpu
    return took, _stages(home), cpu


def _warm_run(home: Path, params: Path) -> tuple[float, dict[str, float], float]:
    """Run ``stagebook run --phases prod`` through ``stagebook warm``; return its wall time,
    its stages and the memory (MiB of PSS) the ready warm process held, kernels included.

    The warm process starts first and gets ready (as it is between a user's runs),
    outside the timing; it is stopped by its PID after.
    """
    env = runs.environ(home, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
    runs.stagebook(env, "setup")
    with runs.warm(env) as process:
        held = runs.tree_pss_mib(process.pid)
        started = time.perf_counter()
        done = subprocess.run(
            [str(runs.STAGEBOOK), "run", "--ds", runs.DS, "--phases", "prod"],
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
    if done.returncode or "run by the warm process" not in done.stderr:
        raise SystemExit(f"the warm run failed, or ran cold:\n{done.stderr[-3000:]}")
    return took, _stages(home), held


def _stages(home: Path) -> dict[str, float]:
    """Return each stage task's seconds in ``home``'s run (0 where it did not succeed)."""
    tasks = {task: round(s, 2) for (_, task), s in runs.task_seconds(home).items()}
    return {task: tasks.get(task, 0.0) for task in runs.STAGE_TASKS}


def _median(rows: list[tuple]) -> tuple:
    """Return the row of the median wall time (its first item); the higher of two middles."""
    return sorted(rows, key=lambda r: r[0])[len(rows) // 2]


def _homes(tmp: Path, n: int, landed: Path) -> dict[str, Path]:
    """Return repeat ``n``'s fresh homes (plain, stagebook, warm), each with the landed data."""
    homes = {name: tmp / f"{name}-{n}" for name in ("plain", "stagebook", "warm")}
    for home in homes.values():
        home.mkdir()
        if (landed / "data" / "recommendations" / "raw").exists():
            shutil.copytree(
                landed / "data" / "recommendations" / "raw",
                home / "data" / "recommendations" / "raw",
            )
    return homes


def overhead(scale: str, events_per_day: int | None, repeats: int) -> dict:
    """Table 2: plain Python against ``stagebook run --phases prod``, cold and warm, same data.

    ``repeats`` rounds, interleaved (plain, stagebook, warm, plain, ...), each in
    fresh copies of the landed data; the ratios are of the medians. Training's time alone
    varies by up to half between runs on this machine, either way.
    """
    with tempfile.TemporaryDirectory(prefix="stagebook-overhead-") as tmp:
        changes: dict[str, object] = {}
        if events_per_day:
            changes = {"data.source": "synthetic", "data.events_per_day": events_per_day}
        params = runs.params_file(Path(tmp) / "params", changes)
        # land the raw data once, outside both timings (both read the same landed days)
        landed = Path(tmp) / "landed"
        base = runs.environ(landed, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
        runs.stagebook(base, "run", "--ds", runs.DS, "--phases", "prod", "--only", "input_tables")
        plains, ours, warms = [], [], []
        for n in range(repeats):
            homes = _homes(Path(tmp), n, landed)
            env = runs.environ(homes["plain"], STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
            cpu = runs.children_cpu()
            took, plain_stages = _plain_python(homes["plain"], env)
            plains.append((took, plain_stages, runs.children_cpu() - cpu))
            ours.append(_stagebook_run(homes["stagebook"], params))
            warms.append(_warm_run(homes["warm"], params))
            for home in homes.values():
                shutil.rmtree(home)
    plain, plain_stages, plain_cpu = _median(plains)
    mine, stages, my_cpu = _median(ours)
    warm, warm_stages, _ = _median(warms)
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
        # the same run handed to `stagebook warm` (its start-up done before the command)
        "stagebook_warm_run_s": round(warm, 1),
        "warm_ratio": round(warm / plain, 3),
        "stagebook_warm_each_s": [round(t, 1) for t, _, _ in warms],
        "stagebook_warm_stages_s": warm_stages,
        "stagebook_warm_outside_stages_s": round(warm - sum(warm_stages.values()), 1),
        # what a ready warm process holds between runs (itself, its child, the spare kernels)
        "stagebook_warm_ready_mib": _median([(held,) for _, _, held in warms])[0],
    }
