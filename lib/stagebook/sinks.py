"""Stream output: the published record per user, and the sinks that receive them.

The local outbox is the embedded default: one JSON-lines file per (phase, ds),
written atomically, so publishing a date again replaces that date's file and
never duplicates it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from stagebook import storage


def format_records(recs: pd.DataFrame, *, ds: str, phase: str) -> list[dict]:
    """Return one record per user: ``user_id``, ranked ``item_ids`` and ``scores``, and provenance."""
    out = []
    for user_id, group in recs.sort_values(["user_id", "rank"]).groupby("user_id", sort=True):
        out.append(
            {
                "user_id": str(user_id),
                "item_ids": group["item_id"].astype(str).tolist(),
                "scores": [round(float(s), 6) for s in group["score"]],
                "model_signature": str(group["model_signature"].iloc[0]),
                "ds": ds,
                "phase": phase,
            }
        )
    return out


class OutboxSink:
    """The local outbox: ``outbox/<phase>/ds=YYYY-MM-DD.jsonl``."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def target(self, ds: str) -> Path:
        """Return the file of date ``ds``."""
        return self.folder / f"ds={ds}.jsonl"

    def publish(self, records: list[dict], *, ds: str) -> Path:
        """Write the records of ``ds``, replacing any earlier publication of that date."""
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        return storage.write_text(self.target(ds), lines)
