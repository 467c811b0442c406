"""What every table of ``make bench-pipeline`` shares: the date, the commands, the metastore's figures."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
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


def environ(home: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK_"))}
    return {
        **kept,
        "STAGEBOOK_HOME": str(home),
        "STAGEBOOK_PIPELINE": "recommendations",  # the pipeline measured, unless ``extra`` says
        "MPLBACKEND": "Agg",
        **extra,
    }


def stagebook(env: dict[str, str], *args: str, check: bool = True) -> float:
    """Run ``stagebook ARGS``; return its wall time (it must succeed, if ``check``)."""
    started = time.perf_counter()
    result = subprocess.run([str(STAGEBOOK), *args], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode and check:
        raise SystemExit(
            f"stagebook {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return took


@contextmanager
def warm(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Hold ``stagebook warm`` for ``env``'s home, ready for a run; stop it by its PID after."""
    out = Path(env["STAGEBOOK_HOME"]) / "warm.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as log:
        process = subprocess.Popen([str(STAGEBOOK), "warm"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while "ready for the next run" not in out.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"stagebook warm never got ready:\n{out.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=120)


def tree_pss_mib(pid: int) -> float:
    """Return the proportional set size of ``pid`` and its descendants, in MiB.

    PSS, not RSS: forked processes share their parent's pages, and RSS would count
    those pages once for each process.
    """
    root = psutil.Process(pid)
    held = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            held += process.memory_full_info().pss
        except psutil.NoSuchProcess:  # ended since it was listed: it holds nothing now
            pass
    return round(held / 2**20, 1)


def children_cpu() -> float:
    """Return the CPU seconds (user and system) of this process's finished children so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def task_seconds(home: Path) -> dict[tuple[str, str], float]:
    """Return each successful task's duration (metastore start to end), by (run id, task id)."""
    db = sqlite3.connect(home / "airflow" / "airflow.db")
    rows = db.execute(
        "SELECT run_id, task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
        "FROM task_instance WHERE end_date IS NOT NULL AND state = 'success'"
    ).fetchall()
    return {(run_id, task_id): seconds for run_id, task_id, seconds in rows}


def sidecars(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "reports").rglob("*.try*.json"))]


def params_file(where: Path, changes: dict[str, object]) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.support import params_copy

    return params_copy(where, changes)


def disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def table(title: str, header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([title, line(header), *(line(r) for r in rows), ""])
