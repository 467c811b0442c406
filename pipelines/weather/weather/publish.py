"""Tomorrow's forecast as records, their digest, and the outbox that takes each date once.

``outbox/ds=<ds>/`` holds ``forecast.jsonl`` (one JSON line per record) and
``meta.json`` (the digest, the run, the approval), swapped in together
(:func:`stagebook.atomic.replacing`): a reader never sees one without the other,
and a failed write leaves nothing. A date is published once: publishing the same
records again does nothing, other records for it are refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from stagebook import atomic
from weather import model
from weather.errors import AlreadyPublished
from weather.paths import File, WeatherPaths


def records(
    paths: WeatherPaths, frame: pd.DataFrame, fitted: Pipeline, info: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the forecast of the day after ``paths.ds`` as records: the model's, and persistence."""
    date, value = model.forecast(fitted, frame, info["lags"])
    return [
        {
            "ds": paths.ds.isoformat(),
            "date": date.isoformat(),
            "temp_max": round(value, 2),  # °C; the rounding makes the digest stable
            "naive_temp_max": float(frame[model.TARGET].iloc[-1]),
            "model_id": info["id"],
        }
    ]


def lines(found: list[dict[str, Any]]) -> str:
    """Return records as JSON lines, keys sorted: the bytes published and digested."""
    return "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in found)


def digest(found: list[dict[str, Any]]) -> str:
    """Return the sha256 of the records as published."""
    return hashlib.sha256(lines(found).encode()).hexdigest()


def write(outbox: Path, found: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """Publish ``found`` to the date folder ``outbox`` exactly once; return the ``published`` record.

    Raises:
        AlreadyPublished: the date holds other records (another digest): never replaced.
    """
    sha = digest(found)
    published = {"records": len(found), "digest": sha, "path": str(File.FORECAST.of(outbox))}
    with atomic.locked(outbox.with_name(f".{outbox.name}.lock")):  # two publishers: one writes
        kept = File.META.of(outbox)
        if kept.exists():
            earlier = json.loads(kept.read_text())["digest"]
            if earlier != sha:
                raise AlreadyPublished(
                    f"{outbox}: already published with sha256 {earlier[:12]}; this forecast is "
                    f"sha256 {sha[:12]}: a published date is never replaced (remove the folder "
                    "by hand to publish it again)"
                )
            return {**published, "action": "unchanged"}
        with atomic.replacing(outbox) as folder:
            File.FORECAST.of(folder).write_text(lines(found))
            text = json.dumps({**meta, "digest": sha}, indent=2, sort_keys=True, allow_nan=False)
            File.META.of(folder).write_text(text + "\n")
    return {**published, "action": "published"}
