"""Tables 3 and 5 of ``make bench-pipeline``: the pipeline on synthetic data as the days grow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import runs

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
            params = runs.params_file(Path(tmp) / "params", changes)
            home = Path(tmp) / "home"
            env = runs.environ(home, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
            runs.stagebook(env, "setup")
            # a run the validation gate refuses still measured every stage before it
            wall = runs.stagebook(env, "run", "--ds", runs.DS, "--phases", "prod", check=False)
            tasks = {task: seconds for (_, task), seconds in runs.task_seconds(home).items()}
            stages = {}
            for sidecar in runs.sidecars(home):
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
                "disk_mb": runs.disk_mb(Path(tmp)),
                "stages": stages,
            }
    return found


def capacity_row(results: dict, events_per_day: int) -> dict:
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
        runs.table(
            "5. Capacity (60-day window, no stage over 20 GiB)", [*header, "disk allows"], rows
        )
    )
    print(
        runs.table(
            "   per-stage peak MiB",
            list(found["stage_peak_mib"]),
            [list(found["stage_peak_mib"].values())],
        )
    )
    return found
