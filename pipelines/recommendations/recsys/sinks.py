"""Stream output: the published record per user, and the sinks that receive them.

One interface (``publish(records, ds=..., phase=...) -> Published``), two sinks:

- :class:`OutboxSink`, the embedded default: one folder per (phase, ds), its
  JSON-lines records and their metadata, published as one; publishing a date
  again replaces that date's folder.
- :class:`~recsys.redis_sink.RedisStreamSink`: one stream entry per
  user, published in chunks, exactly once per (ds, phase) (see that module).

The Redis connection is an Airflow connection. The stage operator passes it to
the kernel in its environment (``AIRFLOW_CONN_<ID>``, JSON or URI, the format
Airflow itself reads), never as a notebook parameter: parameters are written
into the archived notebook.

:func:`publish` reaches every sink before writing to any, writes Redis before
the outbox, and each write is all-or-nothing, so an unreachable Redis leaves
the outbox as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from recsys.paths import File, outbox_file, outbox_folder, outbox_legacy, outbox_meta
from stagebook import atomic


def format_records(recs: pd.DataFrame, *, ds: str, phase: str) -> list[dict]:
    """Return one record per user: ``user_id``, ranked ``item_ids`` and ``scores``, and provenance."""
    ordered = recs.sort_values(["user_id", "rank"], kind="stable")
    grouped = ordered.groupby("user_id", sort=True).agg(
        item_ids=("item_id", list),
        scores=("score", list),
        model_signature=("model_signature", "first"),
    )
    return [
        {
            "user_id": str(user_id),
            "item_ids": [str(item) for item in item_ids],
            "scores": [round(float(score), 6) for score in scores],
            "model_signature": str(signature),
            "ds": ds,
            "phase": phase,
        }
        for user_id, item_ids, scores, signature in zip(
            grouped.index,
            grouped["item_ids"],
            grouped["scores"],
            grouped["model_signature"],
            strict=True,
        )
    ]


def record_lines(records: list[dict]) -> list[str]:
    """Return each record as the JSON line a sink publishes (keys sorted)."""
    return [json.dumps(r, sort_keys=True) for r in records]


def digest(records: list[dict]) -> str:
    """Return the SHA-256 of the records as published: equal digests, equal publications."""
    return hashlib.sha256("\n".join(record_lines(records)).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Published:
    """What one sink did with one date's records."""

    sink: str
    target: str
    action: str  # "published", "replaced" (an earlier publication of the date) or "skipped"
    records: int
    removed: int = 0  # earlier entries of the date deleted (Redis)


class Sink(Protocol):
    """Where published records go."""

    name: str

    def check(self) -> None:
        """Raise :class:`SinkUnavailable` if the sink cannot be written now."""

    def publish(
        self, records: list[dict], *, ds: str, phase: str, meta: Mapping | None = None
    ) -> Published:
        """Publish one date's records, exactly once per (ds, phase), with their ``meta``data."""


@dataclasses.dataclass(frozen=True)
class Publication:
    """One date's publication as the outbox holds it: its records and their metadata."""

    lines: str  # the records, one JSON line each
    meta: dict


class OutboxSink:
    """The local outbox: ``outbox/<phase>/ds=YYYY-MM-DD/``, ``records.jsonl`` and ``meta.json``.

    A date's folder is published whole (:func:`stagebook.atomic.replacing`): a
    reader finds the records and metadata of one publication, or of the one
    before, never a mix, and never metadata without records, even when the
    disk fills or the process dies half-way.
    """

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def target(self, ds: str) -> Path:
        """Return the records file of date ``ds``."""
        return outbox_file(self.folder, ds)

    def check(self) -> None:
        """Nothing to reach: the folder is created on write."""

    def read(self, ds: str) -> Publication | None:
        """Return the publication of ``ds``, or None if there is none.

        The date's folder is resolved once, so both files come from the same
        publication even while another replaces it (the one replaced stays a while).
        """
        try:
            records = self.target(ds).resolve(strict=True)
        except FileNotFoundError:
            return None
        meta = outbox_meta(records)
        return Publication(records.read_text(), json.loads(meta.read_text()))

    def publish(
        self, records: list[dict], *, ds: str, phase: str = "", meta: Mapping | None = None
    ) -> Published:
        """Write the records of ``ds`` and their ``meta``, replacing any earlier publication.

        ``meta`` (JSON-ready: who approved) goes into ``meta.json`` with the digest.
        The same records again are skipped; with new ``meta`` (a new approval), the
        metadata is replaced as Redis's marker is, and the records stay as they were.
        A failed write (a full disk) raises and leaves the earlier publication whole.
        """
        lines = "".join(line + "\n" for line in record_lines(records))
        described = {"digest": digest(records), **(meta or {})}
        current = self.read(ds)
        legacy = [path for path in outbox_legacy(self.folder, ds) if path.exists()]
        same = current is not None and current.lines == lines
        if same and not legacy and (not meta or current.meta == described):
            return Published(self.name, str(self.target(ds)), "skipped", len(records))
        action = "skipped" if same else "replaced" if current or legacy else "published"
        with atomic.replacing(outbox_folder(self.folder, ds)) as folder:
            written = File.OUTBOX_RECORDS.of(folder)
            written.write_text(lines)
            text = json.dumps(described, indent=2, sort_keys=True, default=str) + "\n"
            outbox_meta(written).write_text(text)
        for path in legacy:  # the date's files from before it had a folder: replaced now
            path.unlink(missing_ok=True)
        return Published(self.name, str(self.target(ds)), action, len(records))


def open_sinks(
    names: Sequence[str],
    *,
    outbox: Path,
    redis_conn_id: str,
    timeout_s: float,
    retention_days: int = 30,
) -> list:
    """Return the sinks named in ``publish.sinks``, Redis first so the outbox is written last."""
    order = sorted(names, key=lambda n: n != "redis")
    sinks: list[Any] = []
    for name in order:
        if name == "redis":
            from recsys.redis_sink import RedisSettings, RedisStreamSink

            sinks.append(
                RedisStreamSink(RedisSettings.from_env(redis_conn_id), timeout_s, retention_days)
            )
        else:
            sinks.append(OutboxSink(outbox))
    return sinks


def publish(
    records: list[dict],
    sinks: Sequence[Sink],
    *,
    ds: str,
    phase: str,
    meta: Mapping | None = None,
) -> list[Published]:
    """Publish to every sink, after checking that each can be reached.

    ``meta``: the publication's metadata (e.g. the reviewer's approval), kept
    where a sink has room for it: the outbox's ``meta.json``, Redis's marker.
    """
    for sink in sinks:
        sink.check()
    return [sink.publish(records, ds=ds, phase=phase, meta=meta) for sink in sinks]
