"""What a stage declares for its reviewers: its trend metrics and its card's summary rows.

Plain data, no Airflow: the stage table (:mod:`stagebook.declaration`)
declares them, the operator writes them into each try's sidecar, and the
reviewing app reads them back from there (it never imports a DAG).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

SIDES = ("max", "min")
# keys that read the try itself, not its records: its time, and how many tries its run took
OWN = ("duration_s", "tries")


@dataclasses.dataclass(frozen=True)
class Metric:
    """One number a stage records, drawn by date on the trends page.

    Args:
        label: the chart's title, e.g. ``"score mean"``.
        key: a dotted path in the try's records (``scores.mean``, ``published.0.rows``),
            or ``duration_s`` (the try's own time) or ``tries`` (how many tries the
            stage took in its run).
        limit: ``(params key, "max" | "min")``: the value the metric must keep, read
            from the params each try ran with, e.g. ``("checks.max_drift", "max")``;
            drawn as a dashed line, and a value past it is red.
    """

    label: str
    key: str
    limit: tuple[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the metric as the sidecar keeps it."""
        return {"label": self.label, "key": self.key, "limit": list(self.limit or ()) or None}

    @classmethod
    def from_json(cls, data: Any) -> Metric | None:
        """Return the metric a sidecar kept, or None when it is malformed (skipped)."""
        if not isinstance(data, Mapping):
            return None
        label, key, limit = data.get("label"), data.get("key"), data.get("limit")
        if not isinstance(label, str) or not isinstance(key, str):
            return None
        if isinstance(limit, list | tuple) and len(limit) == 2 and limit[1] in SIDES:
            return cls(label, key, (str(limit[0]), str(limit[1])))
        return cls(label, key)


def duration(stage: str) -> Metric:
    """Return the trend every stage has, declared or not: the time of its latest try."""
    return Metric(f"{stage} duration (s)", "duration_s")


def check(
    stage: str, records: Iterable[str], trends: Iterable[Any], summary: Iterable[Any]
) -> None:
    """Raise ``ValueError`` (one line, naming the stage and key) for a bad declaration.

    Each trend must be a :class:`Metric` with a ``(section.key, "max" | "min")`` limit
    or none, each summary row a ``(label, key)`` pair; every key must read a record
    the stage declares (or be ``duration_s`` or ``tries``).
    """
    records = tuple(records)
    keys = []
    for metric in trends:
        if not isinstance(metric, Metric):
            raise ValueError(f"stage {stage}: trend {metric!r} is not a Metric(label, key)")
        limit = metric.limit
        if limit is not None and (
            len(limit) != 2 or limit[1] not in SIDES or len(str(limit[0]).split(".")) != 2
        ):
            raise ValueError(
                f"stage {stage}: trend {metric.key!r} has limit {limit!r}; "
                "write it as ('section.key', 'max') or ('section.key', 'min')"
            )
        keys.append(("trend", metric.key))
    for row in summary:
        if not (
            isinstance(row, tuple | list) and len(row) == 2 and all(isinstance(v, str) for v in row)
        ):
            raise ValueError(f"stage {stage}: summary row {row!r} is not a (label, key) pair")
        keys.append(("summary", row[1]))
    for kind, key in keys:
        if key not in OWN and key.split(".")[0] not in records:
            raise ValueError(
                f"stage {stage}: {kind} {key!r} reads a record the stage does not declare "
                f"(its records: {', '.join(records) or 'none'}); declare it, or fix the key"
            )
