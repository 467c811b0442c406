"""What changed since last night: each stage's metrics by date and phase.

Read from the tries' sidecars only (:mod:`stagebook.orchestration.reviewing.review`), as the
index is. For each date and phase the latest run counts; in it, each stage's
latest try. Which metrics a stage has is data too: its latest try's sidecar
keeps the trends its stage declared (:mod:`stagebook.metrics`),
and every stage has its duration. A date whose try of a stage ran other code than
the date before (the ``source_sha256`` of their sidecars' ``code``) is a
:class:`CodeChanged`, marked on that stage's charts. The charts are drawn by
:mod:`stagebook.orchestration.reviewing.charts`; two runs are compared by
:mod:`stagebook.orchestration.reviewing.comparison`.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable

from stagebook import metrics, provenance, sidecars
from stagebook.metrics import Metric
from stagebook.orchestration.reviewing import comparison, review

DAYS = 90


@dataclasses.dataclass(frozen=True)
class Point:
    """One date's value of a metric in one phase; ``failed``: the stage's latest try failed."""

    ds: str
    value: float | None
    failed: bool
    crossed: bool = False


@dataclasses.dataclass(frozen=True)
class CodeChanged:
    """A date whose try of a stage and phase ran other code than the date before's (run ``run_id``)."""

    ds: str
    phase: str
    stage: str
    run_id: str


@dataclasses.dataclass
class Trend:
    """One stage's metric over the dates, per phase, with its limit per phase if it has one.

    ``thresholds``: each phase's limit in the params of its newest try that had one.
    ``changes``: the dates the stage's code changed.
    """

    stage: str
    metric: Metric
    points: dict[str, list[Point]]
    thresholds: dict[str, float]
    changes: list[CodeChanged] = dataclasses.field(default_factory=list)


Latest = dict[tuple[str, str], dict[str, list[review.Try]]]


def latest_tries(found: Iterable[review.Try]) -> Latest:
    """Return (ds, phase) -> stage -> its tries in the latest run that ran it, oldest first.

    The latest run of each stage, not of the date: a run that re-ran one stage
    (``stagebook run --only``) leaves the other stages' figures where they were.
    """
    runs: dict[tuple[str, str, str], dict[str, list[review.Try]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for t in found:
        runs[t.ds, t.phase, t.stage][t.run].append(t)
    out: Latest = defaultdict(dict)
    for (ds, phase, stage), by_run in runs.items():
        latest = max(by_run.values(), key=lambda tries: max(t.started for t in tries))
        out[ds, phase][stage] = sorted(latest, key=lambda t: t.number)
    return out


def declared(latest: Latest) -> list[tuple[str, Metric]]:
    """Return (stage, metric) of every stage in ``latest``, in stage order.

    A stage's metrics are those its latest try's sidecar keeps (a try archived
    before sidecars kept them has none), then its duration.
    """
    newest: dict[str, review.Try] = {}
    for stages in latest.values():
        for stage, tries in stages.items():
            if stage not in newest or tries[-1].started > newest[stage].started:
                newest[stage] = tries[-1]
    out = []
    for stage, t in sorted(newest.items()):
        kept = [Metric.from_json(m) for m in t.info.get("trends") or ()]
        out += [(stage, m) for m in kept if m is not None and m.key != "duration_s"]
        out.append((stage, metrics.duration(stage)))
    return out


def value_of(metric: Metric, tries: list[review.Try]) -> float | None:
    """Return the metric from a stage's tries in one run (the latest try's), or None."""
    if metric.key == "tries":
        return float(len(tries))
    last = tries[-1]
    if metric.key == "duration_s":
        found = last.info.get("duration_s")
    else:
        found = sidecars.figure_of(last.info.get("records") or {}, metric.key)
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    return float(found) if math.isfinite(found) else None


def threshold(metric: Metric, t: review.Try) -> float | None:
    """Return the metric's limit in the params try ``t`` ran with, or None (none, or unreadable)."""
    if metric.limit is None:
        return None
    value = comparison.merged_params(t).get(metric.limit[0])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _crossed(value: float | None, limit: float | None, side: str) -> bool:
    if value is None or limit is None:
        return False
    return value > limit if side == "max" else value < limit


def trend(stage: str, metric: Metric, latest: Latest, wanted: set[str]) -> Trend | None:
    """Return one stage's metric over the ``wanted`` dates, or None if it has no point."""
    points: dict[str, list[Point]] = defaultdict(list)
    limits: dict[str, float] = {}
    side = metric.limit[1] if metric.limit else "max"
    for (ds, phase), stages in sorted(latest.items()):
        tries = stages.get(stage)
        if ds not in wanted or not tries:
            continue
        value = value_of(metric, tries)
        failed = tries[-1].state == "failed"
        if value is None and not failed:
            continue  # the stage did not record this one: nothing to draw
        limit = threshold(metric, tries[-1])
        if limit is not None:
            limits[phase] = limit  # dates in order: the newest try's limit is drawn
        points[phase].append(Point(ds, value, failed, _crossed(value, limit, side)))
    return Trend(stage, metric, dict(sorted(points.items())), limits) if points else None


def trends(found: Iterable[review.Try], dag_id: str, days: int = DAYS) -> list[Trend]:
    """Return every stage's metrics for ``dag_id`` over its last ``days`` dates with reports.

    Dates are those the archive holds for the DAG, the newest ``days`` of them.
    A date whose stage never ran has no point; a failed latest try is a point
    marked failed (its value, if it recorded one before failing).
    """
    latest = latest_tries(t for t in found if t.dag_id == dag_id)
    wanted = set(sorted({ds for ds, _ in latest})[-days:])
    window: Latest = {key: stages for key, stages in latest.items() if key[0] in wanted}
    found_trends = (trend(stage, metric, window, wanted) for stage, metric in declared(window))
    changes = [c for c in code_changes(latest) if c.ds in wanted]  # the first date's: from before
    kept = [t for t in found_trends if t is not None]
    for t in kept:
        t.changes = [c for c in changes if c.stage == t.stage]
    return kept


def code_changes(latest: Latest) -> list[CodeChanged]:
    """Return each date whose try of a stage and phase ran other code than its previous date's.

    Read from the sidecars only: a try whose sidecar keeps no ``code`` (archived
    before they did) marks no change, and is marked by none.
    """
    previous: dict[tuple[str, str], str | None] = {}
    out = []
    for (ds, phase), stages in sorted(latest.items()):
        for stage, tries in sorted(stages.items()):
            sha = provenance.source_sha256(tries[-1].info)
            before = previous.get((phase, stage))
            if sha and before and sha != before:
                out.append(CodeChanged(ds, phase, stage, str(tries[-1].info.get("run_id") or "")))
            previous[phase, stage] = sha
    return out


def dates_of(trend_list: list[Trend]) -> list[str]:
    """Return every date any trend has a point for, in order."""
    return sorted({p.ds for t in trend_list for ps in t.points.values() for p in ps})
