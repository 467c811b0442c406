"""Lineage through Airflow assets: from a published batch back to the raw partitions.

A stage with an ``outlet`` (the stage table's) updates an Airflow asset on
success; its event's ``extra`` holds ``ds``, ``phase``, ``run_id``,
``try_number``, ``report_url`` and the stage's lineage records. The outlets of
one phase, from the DAG's last to its first (e.g. ``scores`` ← ``models`` ←
``tables``), form the chain: each step is the newest event of the earlier asset
that shares the later one's value of a lineage record both stages declare (in
the later stage's declared order; e.g. a model's id), else its ``run_id``, else
its ``ds`` (:func:`joins`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stagebook import reports, settings
from stagebook.errors import LineageError

RUN_KEYS = ("run_id", "ds")  # how a step finds the one before it when no lineage record joins
_SHOWN = ("ds", "phase", "run_id", "try_number", "report_url")  # every step says these first


@dataclasses.dataclass(frozen=True)
class Step:
    """One asset event of the chain: the task that emitted it, its asset and its extra."""

    task_id: str
    uri: str
    extra: dict[str, Any]
    timestamp: str
    joined_on: str | None = None  # the key shared with the step after it


def outlets(dag: Any, phase: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return ``(task_id, asset uri, declared lineage)`` of the outlets on ``phase``'s path, last first."""
    found = []
    for task in dag.topological_sort():
        task_phase = getattr(task, "phase", None)
        if task_phase not in (phase, "common") or not task.outlets:
            continue
        lineage = tuple(getattr(task, "lineage", ()))
        found += [(task.task_id, asset.uri, lineage) for asset in task.outlets]
    return found[::-1]


def joins(later: Sequence[str], earlier: Sequence[str]) -> tuple[str, ...]:
    """Return the keys that find an earlier step's event, in order: shared lineage, run, date.

    ``later`` and ``earlier``: the lineage records the two stages declare (the
    stage table's ``lineage=``). A record both carry (e.g. a model's id) is the
    strongest link, in ``later``'s order; then the run; then the date.
    """
    shared = tuple(key for key in later if key in earlier and key not in RUN_KEYS)
    return (*shared, *RUN_KEYS)


def events(uri: str) -> list[Step]:
    """Return every event of the asset ``uri`` in Airflow's metastore, newest first.

    Read through :func:`stagebook.orchestration.compat.asset_events` (item 3): no
    public interface reads asset events outside a task without an API server.
    """
    from stagebook.orchestration import compat

    return [
        Step(task or "", uri, extra, when.isoformat())
        for task, extra, when in compat.asset_events(uri)
    ]


def _join(
    later: Mapping[str, Any], candidates: list[Step], keys: Sequence[str]
) -> tuple[Step | None, str | None]:
    for key in keys:
        if later.get(key) is None:
            continue
        found = [s for s in candidates if key in s.extra]
        if found:  # both name it: it must match, or no event is the one
            match = next((s for s in found if s.extra[key] == later[key]), None)
            return match, key
    return None, None


def chain(dag: Any, ds: str, phase: str) -> list[Step]:
    """Return the lineage of the batch published for ``ds`` and ``phase``, published batch first.

    Raises:
        LineageError: no event of the phase's last asset has ``ds`` (naming the asset
            and the dates it has), or the DAG has no outlet on ``phase``.
    """
    found = outlets(dag, phase)
    if not found:
        raise LineageError(
            f"DAG {dag.dag_id} has no asset outlet on phase {phase!r}: check the phase "
            "(and the stage table's outlet= entries)"
        )
    (task_id, uri, declared), earlier = found[0], found[1:]
    batches = [s for s in events(uri) if s.extra.get("ds") == ds]
    if not batches:
        dates = sorted({str(s.extra.get("ds")) for s in events(uri)}, reverse=True)[:10]
        raise LineageError(
            f"no published batch of {phase} for {ds}: no event of the asset {uri} (task "
            f"{task_id}) has ds {ds}; dates it has: {', '.join(dates) or 'none'}. Publish "
            f"that date first (stagebook run --pipeline {dag.dag_id} --ds {ds}"
            + ("" if phase == "common" else f" --phases {phase}")
            + ")"
        )
    steps = [dataclasses.replace(batches[0], task_id=batches[0].task_id or task_id)]
    for task_id, uri, lineage in earlier:
        step, key = _join(steps[-1].extra, events(uri), joins(declared, lineage))
        if step is None:
            break  # an older run, before this asset had events: the chain ends here
        steps.append(dataclasses.replace(step, task_id=step.task_id or task_id, joined_on=key))
        declared = lineage
    return steps


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(_value, value)) if len(value) <= 6 else f"{len(value)} items"
    return reports.shown(value) if isinstance(value, float) else str(value)


def text(steps: list[Step], home: Path | None = None) -> str:
    """Return the chain as the lines ``stagebook lineage`` prints."""
    home = home or settings.home()
    first = steps[0].extra
    lines = [f"lineage of {first.get('phase')} ds {first.get('ds')}"]
    for number, step in enumerate(steps):
        arrow = "published batch" if number == 0 else f"<- matched on {step.joined_on}:"
        lines.append(f"{arrow} {step.uri} (task {step.task_id}, event {step.timestamp})")
        lines.append(
            f"    run {step.extra.get('run_id')}, try {step.extra.get('try_number')}, "
            f"ds {step.extra.get('ds')}, report {step.extra.get('report_url')}"
        )
        for key, value in step.extra.items():
            if key in _SHOWN:
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
                lines.append(f"    {key} ({len(value)}):")
                lines += [f"      {v}{_exists(home, v)}" for v in value]
            else:
                lines.append(f"    {key}: {_value(value)}")
    return "\n".join(lines)


def _exists(home: Path, relative: str) -> str:
    """Return a mark for a path of the archive that is gone (``relative`` to it), else ``""``."""
    if "/" not in relative:
        return ""
    return "" if (home / relative).exists() else "  (no longer in the archive)"
