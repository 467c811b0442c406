"""A trend as an SVG line chart, drawn on the server.

No script, nothing loaded from elsewhere, so a chart passes the app's
Content-Security-Policy. The data comes from :mod:`stagebook.orchestration.reviewing.trends`.
"""

from __future__ import annotations

import dataclasses
import html

from stagebook.orchestration.reviewing.trends import Point, Trend

CODE_CHANGED = "#7d3c98"
COLORS = {"prod": "#1f6fb4", "beta": "#e07b17", "common": "#4a4a4a"}

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 520, 190, 56, 12, 26, 34


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclasses.dataclass(frozen=True)
class Scale:
    """Where a date and a value go in the chart: dates evenly spaced, values padded by 8 %.

    ``low`` and ``high``: the lowest and highest value or threshold, labelled on the axis.
    """

    dates: list[str]
    low: float
    high: float

    @classmethod
    def of(cls, trend: Trend, dates: list[str]) -> Scale:
        """Return the scale that holds every value and threshold of ``trend``."""
        values = [p.value for ps in trend.points.values() for p in ps if p.value is not None]
        values += list(trend.thresholds.values())
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high == low:
            low, high = low - (abs(low) or 1) * 0.1, high + (abs(high) or 1) * 0.1
        return cls(dates, low, high)

    def x(self, ds: str) -> float:
        """Return the x of date ``ds``."""
        inner_w = WIDTH - LEFT - RIGHT
        return LEFT + (self.dates.index(ds) + 0.5) * inner_w / max(len(self.dates), 1)

    def y(self, value: float) -> float:
        """Return the y of ``value``."""
        pad = (self.high - self.low) * 0.08
        inner_h = HEIGHT - TOP - BOTTOM
        return TOP + (self.high + pad - value) / (self.high - self.low + 2 * pad) * inner_h


def svg(trend: Trend, dates: list[str]) -> str:
    """Return the trend as an SVG line chart: one line per phase, failures and breaches marked.

    A failed date is a hollow marker (at its value, or on the axis when it has
    none); a value past its threshold is red, beside the threshold's dashed line;
    a date the stage's code changed, a dotted vertical line labelled "code changed".
    """
    scale = Scale.of(trend, dates)
    parts = _frame(trend, scale) + _code_changes(trend, scale)
    for phase, limit in trend.thresholds.items():
        y = scale.y(limit)
        parts.append(
            f"<line class='threshold' x1='{LEFT}' y1='{y:.1f}' x2='{WIDTH - RIGHT}' "
            f"y2='{y:.1f}' stroke='#c0392b' stroke-dasharray='5 3'>"
            f"<title>{html.escape(phase)} threshold {_fmt(limit)}</title></line>"
        )
    for n, (phase, points) in enumerate(trend.points.items()):
        parts += _phase(phase, points, scale, legend_x=LEFT + 60 * n)
    parts.append("</svg>")
    return "".join(parts)


def _frame(trend: Trend, scale: Scale) -> list[str]:
    """Return the chart's opening tag, title, axes, and the labels of its values and dates."""
    title = html.escape(trend.metric.label)
    bottom = HEIGHT - BOTTOM
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='trend' role='img' "
        f"width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' "
        f"aria-label='{title}' data-stage='{html.escape(trend.stage)}' "
        f"data-metric='{html.escape(trend.metric.key)}'>",
        f"<text x='{LEFT}' y='16' font-size='13' font-weight='600'>{title}</text>",
        f"<line x1='{LEFT}' y1='{bottom}' x2='{WIDTH - RIGHT}' y2='{bottom}' stroke='#999'/>",
        f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{bottom}' stroke='#999'/>",
    ]
    for value in (scale.low, scale.high):
        parts.append(
            f"<text x='{LEFT - 4}' y='{scale.y(value) + 4:.1f}' font-size='10' "
            f"text-anchor='end'>{_fmt(value)}</text>"
        )
    dates = scale.dates
    for ds in {dates[0], dates[-1]} if dates else ():
        anchor = "start" if ds == dates[0] else "end"
        parts.append(
            f"<text x='{scale.x(ds):.1f}' y='{HEIGHT - 18}' font-size='10' "
            f"text-anchor='{anchor}'>{ds}</text>"
        )
    return parts


def _code_changes(trend: Trend, scale: Scale) -> list[str]:
    """Return a vertical line at each date the stage's code changed, its phases in its tooltip."""
    phases: dict[str, list[str]] = {}
    for change in trend.changes:
        phases.setdefault(change.ds, []).append(change.phase)
    parts = []
    for ds, which in sorted(phases.items()):
        if ds not in scale.dates:
            continue
        x, tip = scale.x(ds), f"code changed on {ds} ({', '.join(sorted(which))})"
        left = x > WIDTH - RIGHT - 70  # the label on the line's left, near the right edge
        parts.append(
            f"<g class='code-changed' data-ds='{html.escape(ds)}'><title>{html.escape(tip)}</title>"
            f"<line x1='{x:.1f}' y1='{TOP}' x2='{x:.1f}' y2='{HEIGHT - BOTTOM}' "
            f"stroke='{CODE_CHANGED}' stroke-dasharray='2 2'/>"
            f"<text x='{x - 3 if left else x + 3:.1f}' y='{TOP + 8}' font-size='9' "
            f"text-anchor='{'end' if left else 'start'}' fill='{CODE_CHANGED}'>"
            "code changed</text></g>"
        )
    return parts


def _phase(phase: str, points: list[Point], scale: Scale, legend_x: float) -> list[str]:
    """Return one phase's line, its points (each with its tooltip) and its legend."""
    color = COLORS.get(phase, "#777")
    parts = []
    line = [f"{scale.x(p.ds):.1f},{scale.y(p.value):.1f}" for p in points if p.value is not None]
    if len(line) > 1:
        parts.append(
            f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{' '.join(line)}'/>"
        )
    for p in points:
        tip = f"{phase} {p.ds}: " + (_fmt(p.value) if p.value is not None else "no value")
        tip += " (failed)" if p.failed else ""
        tip += " (past its threshold)" if p.crossed else ""
        cy = scale.y(p.value) if p.value is not None else HEIGHT - BOTTOM
        fill = "#c0392b" if p.crossed else ("#fff" if p.failed else color)
        stroke = "#c0392b" if p.failed or p.crossed else color
        kind = "failed" if p.failed else ("crossed" if p.crossed else "ok")
        parts.append(
            f"<circle class='point {kind}' data-phase='{html.escape(phase)}' "
            f"data-ds='{p.ds}' cx='{scale.x(p.ds):.1f}' cy='{cy:.1f}' r='3.5' fill='{fill}' "
            f"stroke='{stroke}' stroke-width='1.5'><title>{html.escape(tip)}</title></circle>"
        )
    parts.append(
        f"<rect x='{legend_x}' y='{HEIGHT - 10}' width='10' height='4' fill='{color}'/>"
        f"<text x='{legend_x + 14}' y='{HEIGHT - 5}' font-size='10'>{html.escape(phase)}</text>"
    )
    return parts
