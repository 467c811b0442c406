"""Table 1 of ``make bench-pipeline``: what a stage costs before its own work.

No-op stage notebooks (the parameters cell and ``stagebook.stage(...)``) run
through ``StageNotebookOperator`` with ``stagebook run``, with warm kernels as
``stagebook run`` runs and cold as a Celery task does; each task's time is split
as its sidecar's timings say.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

import jupytext
import nbformat
import runs

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


def _split(sidecar: dict, task_s: float) -> dict[str, float]:
    timings = dict(sidecar.get("timings") or {})
    notebook = timings.pop("notebook", 0.0)
    inside = sum(
        timings.get(k, 0.0) for k in ("kernel_start", "parameters", "first_cell", "other_cells")
    )
    row = {k: timings.get(k, 0.0) for k in runs.SPLIT}
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
        shutil.copy(runs.ROOT / "dags" / "pipelines.py", root / "dags")
        (folder / "pipeline.py").write_text(NOOP_PIPELINE)
        for n in range(1, NOOPS + 1):
            stage = f"9{n}-noop"
            source = nbformat.from_dict(_noop_notebook(stage))
            jupytext.write(source, folder / "notebooks" / f"{stage}.py", fmt="py:percent")
        rows: dict[str, tuple[list[dict], list[dict]]] = {}
        walls: dict[str, list[float]] = {}  # each whole run, the CLI's start to its exit
        for mode, warm in (("warm", "1"), ("cold", "0")):
            home = Path(tmp) / mode
            env = runs.environ(
                home,
                STAGEBOOK_ROOT=str(root),
                STAGEBOOK_PIPELINE="noop_stage",
                STAGEBOOK_WARM_KERNELS=warm,
            )
            walls[mode] = [
                runs.stagebook(env, "run", "--pipeline", "noop_stage", "--ds", runs.DS)
                for _ in range(repeats)
            ]
            durations = runs.task_seconds(home)
            first, later = rows.setdefault(mode, ([], []))
            for sidecar in runs.sidecars(home):
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
        # a whole `stagebook run` with no work in it: what any run pays around its stages
        "noop_run_s": round(statistics.median(walls["warm"]), 2),
    }
