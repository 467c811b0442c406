"""Lineage through Airflow assets: from a published batch back to the raw partitions.

A stage with an ``outlet`` (the stage table's) updates an Airflow asset on
success; its event's ``extra`` holds ``ds``, ``phase``, ``run_id``,
``try_number``, ``report_url`` and the stage's lineage records. The outlets of
one phase, from the DAG's last to its first (``recommendations`` ← ``models``
← ``tables``), form the chain: each step is the newest event of the earlier
asset that shares the later one's ``model_signature`` if both name one, else
its ``run_id``, else its ``ds``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import dates, reports, settings, storage
from stagebook.errors import LineageError

JOINS = ("model_signature", "run_id", "ds")  # how a step finds the one before it, in order
_SHOWN = ("ds", "phase", "run_id", "try_number", "report_url")  # every step says these first


@dataclasses.dataclass(frozen=True)
class Step:
    """One asset event of the chain: the task that emitted it, its asset and its extra."""

    task_id: str
    uri: str
    extra: dict[str, Any]
    timestamp: str
    joined_on: str | None = None  # the key shared with the step after it


def outlets(dag: Any, phase: str) -> list[tuple[str, str]]:
    """Return ``(task_id, asset uri)`` of the DAG's outlets on ``phase``'s path, last first."""
    found = []
    for task in dag.topological_sort():
        task_phase = getattr(task, "phase", None)
        if task_phase not in (phase, "common") or not task.outlets:
            continue
        found += [(task.task_id, asset.uri) for asset in task.outlets]
    return found[::-1]


def events(uri: str) -> list[Step]:
    """Return every event of the asset ``uri`` in Airflow's metastore, newest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.source_task_id, AssetEvent.extra, AssetEvent.timestamp)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        ).all()
    return [
        Step(task or "", uri, dict(extra or {}), when.isoformat()) for task, extra, when in rows
    ]


def _join(later: Mapping[str, Any], candidates: list[Step]) -> tuple[Step | None, str | None]:
    for key in JOINS:
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
    (task_id, uri), earlier = found[0], found[1:]
    batches = [s for s in events(uri) if s.extra.get("ds") == ds]
    if not batches:
        dates = sorted({str(s.extra.get("ds")) for s in events(uri)}, reverse=True)[:10]
        raise LineageError(
            f"no published batch of {phase} for {ds}: no event of the asset {uri} (task "
            f"{task_id}) has ds {ds}; dates it has: {', '.join(dates) or 'none'}. Publish "
            f"that date first (stagebook run --ds {ds} --phases {phase})"
        )
    steps = [dataclasses.replace(batches[0], task_id=batches[0].task_id or task_id)]
    for task_id, uri in earlier:
        step, key = _join(steps[-1].extra, events(uri))
        if step is None:
            break  # an older run, before this asset had events: the chain ends here
        steps.append(dataclasses.replace(step, task_id=step.task_id or task_id, joined_on=key))
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


def received(events_found: list[Any]) -> dict[str, Any]:
    """Return the batch a consumer received: the newest event's extra, checked against the outbox.

    ``events_found``: the asset events a consumer task got (``triggering_asset_events``
    or ``inlet_events``), oldest first. ``verified`` says whether the outbox's
    metadata holds the same digest (None when the batch did not go to the outbox).
    """
    if not events_found:
        raise LineageError("no event of the recommendations asset yet: nothing to consume")
    extra = dict(events_found[-1].extra)
    verified = None
    if "outbox" in (extra.get("sinks") or []):
        outbox = storage.paths(dates.parse_ds(extra["ds"]), extra["phase"]).outbox
        meta = storage.outbox_meta(storage.outbox_file(outbox, extra["ds"]))
        found = json.loads(meta.read_text()) if meta.exists() else {}
        verified = found.get("digest") == extra.get("published_digest")
    return {**extra, "verified": verified}
