"""Whether a cluster run did every stage's work exactly once, read from what it left behind.

Three witnesses, none of them Airflow's own word: the sidecars of the archived
tries (exactly one ``success`` per stage that succeeded), the task logs (each
try began its stage at most once: no redelivered message ran it again), and the outbox
(one record per user, published by this run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from stagebook import storage
from tests.support import DAG_ID, PIPELINE


def check(
    tis: list[dict], run_id: str, ds: str, home: Path, log_roots: Iterable[Path]
) -> dict[str, int]:
    """Assert that run ``run_id`` did each stage's work once; return each stage's successes."""
    notebooks = [t for t in tis if t["operator"] == "StageNotebookOperator"]
    assert notebooks and all(t["state"] in ("success", "skipped") for t in tis), tis
    ran = [t for t in notebooks if t["state"] == "success"]
    reports = home / "reports" / DAG_ID / ds
    done: dict[str, int] = {}
    stage_of: dict[str, str] = {}
    for sidecar in reports.glob(f"*/{storage.run_folder_name(run_id)}/*.try*.json"):
        info = json.loads(sidecar.read_text())
        stage_of[info["task_id"]] = info["stage"]
        done[info["task_id"]] = done.get(info["task_id"], 0) + (info["state"] == "success")
    assert done == {t["task_id"]: 1 for t in ran}, done  # each stage ran to its end once
    roots = list(log_roots)
    run_logs = f"dag_id={DAG_ID}/run_id={run_id}"
    for ti in ran:  # and began at most once per try, wherever its tries ran
        began = [
            log.read_text().count(f"Stage {stage_of[ti['task_id']]}, ")
            for root in roots
            for log in (root / run_logs / f"task_id={ti['task_id']}").glob("attempt=*.log")
        ]
        # a try reset before it started (its scheduler lost) has no log, or one without a start
        assert max(began, default=0) == 1 and sum(began) <= ti["try_number"], (ti, began)
    return done


def published_once(run_id: str, ds: str, phase: str, home: Path) -> int:
    """Assert the outbox holds one publication of ``ds`` by ``run_id``, each user once; count them."""
    folder = storage.data_area(PIPELINE, home) / "outbox" / phase / f"ds={ds}"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["run_id"] == run_id, meta
    users = [json.loads(line)["user_id"] for line in (folder / "records.jsonl").open()]
    assert users and len(users) == len(set(users)), f"{len(users)} records, users repeated"
    return len(users)
