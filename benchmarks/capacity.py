"""The capacity row of ``make bench-pipeline``: the largest synthetic day this machine handles.

"Handles" means the whole pipeline completes, every stage in success, over a
60-day window, with no stage's kernel above ``LIMIT_MIB`` of peak RSS.

Two figures:

- **measured**: ``stagebook run`` at ``--capacity-events`` a day, every stage's
  peak and state, its wall time per event and that against the 32 k/day run's
  (the goal: at most 1.1x);
- **memory would allow**: each stage's peak as a straight line in the events a
  day, through the two largest scales of the scaling table (and the measured
  run), extrapolated to ``LIMIT_MIB``; the stage that gets there first is the
  limit. Where no stage grows, memory sets no limit and the disk does: the
  run's data per event against the free space of the disk it ran on.
"""

from __future__ import annotations

import shutil
import tempfile

LIMIT_MIB = 20 * 1024
DAYS = 60


def _lines(points: dict[int, dict]) -> dict[str, tuple[float, float]]:
    """Return each stage's ``(intercept MiB, MiB per event a day)`` through the two largest scales."""
    scales = sorted(points)[-2:]
    lines = {}
    for task in points[scales[-1]]["stages"]:
        low, high = (points[s]["stages"].get(task, {}).get("kernel_peak_rss_mb") for s in scales)
        if low is None or high is None or len(scales) < 2:
            continue
        slope = (high - low) / (scales[1] - scales[0])
        lines[task] = (high - slope * scales[1], slope)
    return lines


def memory_limit(points: dict[int, dict]) -> dict:
    """Return where each stage's extrapolated peak reaches ``LIMIT_MIB``, and the first to."""
    reach = {}
    for task, (intercept, slope) in _lines(points).items():
        # under 1 MiB per 100 k events a day: flat, within the noise of RSS
        reach[task] = None if slope < 1e-5 else int((LIMIT_MIB - intercept) / slope)
    bounded = {t: r for t, r in reach.items() if r is not None}
    first = min(bounded, key=bounded.get) if bounded else None
    return {
        "events_per_day": bounded.get(first) if first else None,
        "limited_by": first,
        "stage_reaches_limit_at": reach,
    }


def disk_limit(run: dict) -> dict:
    """Return the events a day the free disk would hold, at the measured run's bytes per event."""
    free = shutil.disk_usage(tempfile.gettempdir()).free + run["disk_mb"] * 2**20
    per_event = run["disk_mb"] * 2**20 / (run["events_per_day"] * DAYS)
    return {"bytes_per_event": round(per_event, 1), "events_per_day": int(free / per_event / DAYS)}


def row(scaling: dict, measured: dict, reference: dict | None) -> dict:
    """Return the capacity row from the scaling table, the run at capacity and the 32 k/day run."""
    points = {int(k): v for k, v in scaling.items()}
    points[measured["events_per_day"]] = measured
    peaks = {t: s["kernel_peak_rss_mb"] for t, s in measured["stages"].items()}
    failed = sorted(t for t, s in measured["stages"].items() if s["state"] != "success")
    over = sorted(t for t, peak in peaks.items() if peak and peak > LIMIT_MIB)
    events = measured["events_per_day"] * DAYS
    found = {
        "limit_mib": LIMIT_MIB,
        "events_per_day": measured["events_per_day"],
        "completes": not failed and not over and len(peaks) == 6,
        "failed": failed,
        "errors": {t: s["error"] for t, s in measured["stages"].items() if s.get("error")},
        "over_limit": over,
        "run_s": measured["run_s"],
        "us_per_event": round(measured["run_s"] / events * 1e6, 3),
        "stage_peak_mib": peaks,
        "stage_s": {t: s["task_s"] for t, s in measured["stages"].items()},
        "memory_would_allow": memory_limit(points),
        "disk_would_allow": disk_limit(measured),
    }
    if reference:
        per = reference["run_s"] / (reference["events_per_day"] * DAYS) * 1e6
        found["us_per_event_at_32k"] = round(per, 3)
        found["per_event_vs_32k"] = round(found["us_per_event"] / per, 3)
    return found
