"""What changed since last night: each metric by date and phase, and two runs side by side.

Read from the tries' sidecars only (:mod:`stagebook.orchestration.review`), as the
index is. For each date and phase the latest run counts; in it, each stage's
latest try. Charts are SVG drawn here, on the server: no script, nothing loaded
from elsewhere, so they pass the app's Content-Security-Policy.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from stagebook import params, reports, settings
from stagebook.errors import ParamsError
from stagebook.orchestration import review

DAYS = 90
COLORS = {"prod": "#1f6fb4", "beta": "#e07b17", "common": "#4a4a4a"}


@dataclasses.dataclass(frozen=True)
class Metric:
    """One number a stage records, as a trend shows it.

    ``key``: a dotted path in the try's records, or ``duration_s`` (the try's own
    time) or ``tries`` (how many tries the stage took in its run). ``threshold``:
    ``(section.key, "max" | "min")`` of the params that the value must keep.
    """

    stage: str
    label: str
    key: str
    threshold: tuple[str, str] | None = None


METRICS = (
    Metric("20-train", "test AUC", "metrics.test_auc"),
    Metric("20-train", "test logloss", "metrics.test_logloss"),
    Metric("20-train", "base-rate logloss", "metrics.base_rate_logloss"),
    Metric("20-train", "epochs", "metrics.epochs"),
    Metric("20-train", "learning rate", "metrics.learning_rate"),
    Metric("20-train", "train tries", "tries"),
    Metric(
        "40-validate", "KL divergence", "validation.kl_divergence", ("validation.max_kl", "max")
    ),
    Metric("40-validate", "JS distance", "validation.js_distance", ("validation.max_js", "max")),
    Metric(
        "40-validate",
        "user coverage",
        "validation.user_coverage",
        ("validation.min_user_coverage", "min"),
    ),
    Metric(
        "40-validate",
        "catalogue coverage",
        "validation.catalogue_coverage",
        ("validation.min_catalogue_coverage", "min"),
    ),
    Metric("40-validate", "score mean", "validation.score_mean"),
    Metric("00-input-tables", "events in the window", "table_rows.events"),
    Metric("00-input-tables", "users", "table_rows.users"),
    Metric("00-input-tables", "items", "table_rows.items"),
    Metric("50-publish", "published records", "published.0.records"),
)
DURATION_STAGES = (
    "00-input-tables",
    "10-features",
    "20-train",
    "30-inference",
    "40-validate",
    "50-publish",
)


@dataclasses.dataclass(frozen=True)
class Point:
    """One date's value of a metric in one phase; ``failed``: the stage's latest try failed."""

    ds: str
    value: float | None
    failed: bool
    crossed: bool = False


@dataclasses.dataclass
class Trend:
    """One metric over the dates, per phase, with its threshold per phase if it has one."""

    metric: Metric
    points: dict[str, list[Point]]
    thresholds: dict[str, float]


def latest_tries(found: Iterable[review.Try]) -> dict[tuple[str, str], dict[str, list[review.Try]]]:
    """Return (ds, phase) -> stage -> its tries in the latest run that ran it, oldest first.

    The latest run of each stage, not of the date: a run that re-ran one stage
    (``stagebook run --only``) leaves the other stages' figures where they were.
    """
    runs: dict[tuple[str, str, str], dict[str, list[review.Try]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for t in found:
        runs[t.ds, t.phase, t.stage][t.run].append(t)
    out: dict[tuple[str, str], dict[str, list[review.Try]]] = defaultdict(dict)
    for (ds, phase, stage), by_run in runs.items():
        latest = max(by_run.values(), key=lambda tries: max(t.started for t in tries))
        out[ds, phase][stage] = sorted(latest, key=lambda t: t.number)
    return out


def value_of(metric: Metric, tries: list[review.Try]) -> float | None:
    """Return the metric from a stage's tries in one run (the latest try's), or None."""
    if metric.key == "tries":
        return float(len(tries))
    last = tries[-1]
    if metric.key == "duration_s":
        found = last.info.get("duration_s")
    else:
        found = reports.figure_of(last.info.get("records") or {}, metric.key)
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    return float(found) if math.isfinite(found) else None


def threshold(metric: Metric, phase: str, loaded: Any = None) -> float | None:
    """Return the metric's threshold in ``phase``'s params, or None (none, or params unreadable).

    ``loaded``: that phase's params, when the caller has them already.
    """
    if metric.threshold is None:
        return None
    section, key = metric.threshold[0].split(".")
    loaded = _params(phase) if loaded is None else loaded
    value = getattr(getattr(loaded, section, None), key, None)
    return float(value) if isinstance(value, int | float) else None


def _params(phase: str) -> Any:
    try:
        return params.load(None if phase == "common" else phase)
    except ParamsError:
        return None


def _crossed(value: float | None, limit: float | None, side: str) -> bool:
    if value is None or limit is None:
        return False
    return value > limit if side == "max" else value < limit


def trends(found: Iterable[review.Try], dag_id: str, days: int = DAYS) -> list[Trend]:
    """Return every metric's trend for ``dag_id`` over its last ``days`` dates with reports.

    Dates are those the archive holds for the DAG, the newest ``days`` of them.
    A date whose stage never ran has no point; a failed latest try is a point
    marked failed (its value, if it recorded one before failing).
    """
    latest = latest_tries(t for t in found if t.dag_id == dag_id)
    dates = sorted({ds for ds, _ in latest})[-days:]
    wanted = set(dates)
    metrics = [*METRICS, *(Metric(s, f"{s} duration (s)", "duration_s") for s in DURATION_STAGES)]
    loaded = {phase: _params(phase) for phase in {p for _, p in latest}}  # once per phase
    out = []
    for metric in metrics:
        points: dict[str, list[Point]] = defaultdict(list)
        limits: dict[str, float] = {}
        for (ds, phase), stages in sorted(latest.items()):
            tries = stages.get(metric.stage)
            if ds not in wanted or not tries:
                continue
            limit = threshold(metric, phase, loaded[phase]) if phase not in limits else None
            if limit is not None:
                limits[phase] = limit
            value = value_of(metric, tries)
            failed = tries[-1].state == "failed"
            if value is None and not failed:
                continue  # the stage did not record this one: nothing to draw
            side = metric.threshold[1] if metric.threshold else "max"
            points[phase].append(
                Point(
                    ds,
                    value,
                    failed=failed,
                    crossed=_crossed(value, limits.get(phase), side),
                )
            )
        if points:
            out.append(Trend(metric, dict(sorted(points.items())), limits))
    return out


# --- SVG ----------------------------------------------------------------------------------

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 520, 190, 56, 12, 26, 34


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def svg(trend: Trend, dates: list[str]) -> str:
    """Return the trend as an SVG line chart: one line per phase, failures and breaches marked.

    A failed date is a hollow marker (at its value, or on the axis when it has
    none); a value past its threshold is red, beside the threshold's dashed line.
    """
    values = [p.value for ps in trend.points.values() for p in ps if p.value is not None]
    values += list(trend.thresholds.values())
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - (abs(low) or 1) * 0.1, high + (abs(high) or 1) * 0.1
    span = high - low
    low, high = low - span * 0.08, high + span * 0.08
    index = {ds: n for n, ds in enumerate(dates)}
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ds: str) -> float:
        return LEFT + (index[ds] + 0.5) * inner_w / max(len(dates), 1)

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * inner_h

    title = html.escape(trend.metric.label)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='trend' role='img' "
        f"width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' "
        f"aria-label='{title}' data-metric='{html.escape(trend.metric.key)}'>",
        f"<text x='{LEFT}' y='16' font-size='13' font-weight='600'>{title}</text>",
        f"<line x1='{LEFT}' y1='{TOP + inner_h}' x2='{WIDTH - RIGHT}' y2='{TOP + inner_h}' "
        "stroke='#999'/>",
        f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{TOP + inner_h}' stroke='#999'/>",
    ]
    for value in (low + span * 0.08, high - span * 0.08):
        parts.append(
            f"<text x='{LEFT - 4}' y='{y(value) + 4:.1f}' font-size='10' text-anchor='end'>"
            f"{_fmt(value)}</text>"
        )
    if dates:
        for ds in {dates[0], dates[-1]}:
            anchor = "start" if ds == dates[0] else "end"
            parts.append(
                f"<text x='{x(ds):.1f}' y='{HEIGHT - 18}' font-size='10' text-anchor='{anchor}'>"
                f"{ds}</text>"
            )
    for phase, limit in trend.thresholds.items():
        parts.append(
            f"<line class='threshold' x1='{LEFT}' y1='{y(limit):.1f}' x2='{WIDTH - RIGHT}' "
            f"y2='{y(limit):.1f}' stroke='#c0392b' stroke-dasharray='5 3'>"
            f"<title>{html.escape(phase)} threshold {_fmt(limit)}</title></line>"
        )
    legend_x = LEFT
    for phase, points in trend.points.items():
        color = COLORS.get(phase, "#777")
        line = [f"{x(p.ds):.1f},{y(p.value):.1f}" for p in points if p.value is not None]
        if len(line) > 1:
            parts.append(
                f"<polyline fill='none' stroke='{color}' stroke-width='1.5' "
                f"points='{' '.join(line)}'/>"
            )
        for p in points:
            tip = f"{phase} {p.ds}: " + (_fmt(p.value) if p.value is not None else "no value")
            tip += " (failed)" if p.failed else ""
            tip += " (past its threshold)" if p.crossed else ""
            cy = y(p.value) if p.value is not None else TOP + inner_h
            fill = "#c0392b" if p.crossed else ("#fff" if p.failed else color)
            stroke = "#c0392b" if p.failed or p.crossed else color
            kind = "failed" if p.failed else ("crossed" if p.crossed else "ok")
            parts.append(
                f"<circle class='point {kind}' data-phase='{html.escape(phase)}' "
                f"data-ds='{p.ds}' cx='{x(p.ds):.1f}' cy='{cy:.1f}' r='3.5' fill='{fill}' "
                f"stroke='{stroke}' stroke-width='1.5'><title>{html.escape(tip)}</title></circle>"
            )
        parts.append(
            f"<rect x='{legend_x}' y='{HEIGHT - 10}' width='10' height='4' fill='{color}'/>"
            f"<text x='{legend_x + 14}' y='{HEIGHT - 5}' font-size='10'>"
            f"{html.escape(phase)}</text>"
        )
        legend_x += 60
    parts.append("</svg>")
    return "".join(parts)


# --- two runs compared --------------------------------------------------------------------


def run_tries(
    found: Iterable[review.Try], dag_id: str, run_id: str
) -> dict[tuple[str, str], review.Try]:
    """Return (phase, stage) -> the latest try of each stage that run ``run_id`` archived."""
    mine: dict[tuple[str, str], review.Try] = {}
    for t in found:
        if t.dag_id == dag_id and t.info.get("run_id") == run_id:
            key = (t.phase, t.stage)
            if key not in mine or t.number > mine[key].number:
                mine[key] = t
    return dict(sorted(mine.items()))


def latest_run(found: Iterable[review.Try], before: str | None = None) -> str | None:
    """Return the run id of the latest run of the latest date (before ``before``, if given)."""
    found = [t for t in found if before is None or t.ds < before]
    if not found:
        return None
    ds = max(t.ds for t in found)
    return max((t for t in found if t.ds == ds), key=lambda t: t.started).info.get("run_id")


def previous_run(found: Iterable[review.Try], dag_id: str, run_id: str) -> str | None:
    """Return the run to compare ``run_id`` with: the latest run of the previous date it has."""
    found = [t for t in found if t.dag_id == dag_id]
    mine = [t.ds for t in found if t.info.get("run_id") == run_id]
    return latest_run(found, before=min(mine)) if mine else None


def merged_params(t: review.Try | None) -> dict[str, Any]:
    """Return the params a try ran with (its run's overrides merged), flattened.

    From its sidecar; a try archived before sidecars kept them gets today's params
    files under its overrides. Empty if there is no try, or the files are unreadable.
    """
    if t is None:
        return {}
    if isinstance(t.info.get("params"), Mapping):
        return reports.flatten(t.info["params"])
    overrides = (t.info.get("parameters") or {}).get("overrides") or {}
    return dict(_merged(t.phase, json.dumps(overrides, sort_keys=True), _params_version()))


def _params_version() -> tuple[tuple[str, int], ...]:
    """Return the params files' names and mtimes: a changed file is read again."""
    folder = settings.params_dir()
    return tuple(sorted((f.name, f.stat().st_mtime_ns) for f in folder.glob("*.yaml")))


@functools.lru_cache(maxsize=64)
def _merged(phase: str, overrides: str, version: tuple) -> tuple[tuple[str, Any], ...]:
    """Return a phase's params under ``overrides`` (JSON), flattened; ``version``: the files'."""
    try:
        loaded = params.load(None if phase == "common" else phase, json.loads(overrides) or None)
    except ParamsError:
        return ()
    return tuple(reports.flatten(loaded.model_dump(mode="json")).items())


@dataclasses.dataclass(frozen=True)
class Row:
    """One compared value: ``changed`` when a and b differ; ``delta`` for two numbers."""

    key: str
    a: Any
    b: Any

    @property
    def changed(self) -> bool:
        """Return whether a and b differ."""
        return self.a != self.b

    @property
    def delta(self) -> float | None:
        """Return b - a when both are numbers, else None."""
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (self.a, self.b)
        )
        return float(self.b) - float(self.a) if numbers else None


def diff(a: Mapping[str, Any], b: Mapping[str, Any], skip: Iterable[str] = ()) -> list[Row]:
    """Return every key of ``a`` or ``b`` (but ``skip``) as a row, in key order."""
    keys = sorted((set(a) | set(b)) - set(skip))
    return [Row(k, a.get(k), b.get(k)) for k in keys]


@dataclasses.dataclass
class StageComparison:
    """One stage of one phase in two runs: injected parameters, merged params, records."""

    phase: str
    stage: str
    a: review.Try | None
    b: review.Try | None
    parameters: list[Row]
    params: list[Row]
    metrics: list[Row]


# injected values that differ between any two runs by design
_ALWAYS_DIFFERENT = ("run_id", "try_number")


def compare(found: Iterable[review.Try], dag_id: str, a: str, b: str) -> list[StageComparison]:
    """Return each stage of each phase of run ``a`` or run ``b``, compared.

    Raises:
        review.Unknown: a run that archived nothing for ``dag_id``.
    """
    found = list(found)
    tries = {}
    for name, run_id in (("a", a), ("b", b)):
        tries[name] = run_tries(found, dag_id, run_id)
        if not tries[name]:
            raise review.Unknown(f"unknown run {run_id!r} of {dag_id}: it archived no report")
    out = []
    for phase, stage in sorted(set(tries["a"]) | set(tries["b"])):
        ta, tb = tries["a"].get((phase, stage)), tries["b"].get((phase, stage))
        out.append(
            StageComparison(
                phase,
                stage,
                ta,
                tb,
                parameters=diff(_injected(ta), _injected(tb), _ALWAYS_DIFFERENT),
                params=[r for r in diff(merged_params(ta), merged_params(tb)) if r.changed],
                metrics=diff(_recorded(ta), _recorded(tb)),
            )
        )
    return out


def _injected(t: review.Try | None) -> dict[str, Any]:
    return reports.flatten(t.info.get("parameters") or {}) if t else {}


def _recorded(t: review.Try | None) -> dict[str, Any]:
    """Return a try's records (flattened) and its duration: what it measured."""
    if t is None:
        return {}
    found = reports.flatten(t.info.get("records") or {})
    found["duration_s"] = t.info.get("duration_s")
    return {k: v for k, v in found.items() if isinstance(v, int | float | str | None)}


def dates_of(trend_list: list[Trend]) -> list[str]:
    """Return every date any trend has a point for, in order."""
    return sorted({p.ds for t in trend_list for ps in t.points.values() for p in ps})
