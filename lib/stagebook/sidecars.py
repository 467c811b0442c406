"""The sidecar of an archived try: a JSON file beside its notebook that pages read instead.

It holds the try's state, records, figure, parameters and timings, so that the
index, the review pages and the cards never parse a notebook. A try whose
process died never finishes its sidecar: a later try marks it :data:`LOST`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import atomic, storage

log = logging.getLogger("stagebook.sidecars")

LOST = "lost"


def figure_of(records: Mapping[str, Any], dotted: str) -> Any:
    """Return the value at ``dotted`` in a try's records (``metrics.test_auc``, ``published.0.records``)."""
    found: Any = records
    for part in dotted.split("."):
        if isinstance(found, Mapping) and part in found:
            found = found[part]
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found if isinstance(found, int | float | str) or found is None else None


def write_sidecar(notebook: Path, **fields: Any) -> Path:
    """Write (or update) the sidecar of an archived try: its state, records, figure, parameters."""
    path = storage.sidecar(notebook)
    data = {**(read_sidecar(path) or {}), **fields}
    return atomic.write_json(path, data)


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """Return a sidecar's fields, or None (logged) when it is missing or malformed."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Skipping the malformed report sidecar %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("Skipping the malformed report sidecar %s: not a JSON object", path)
        return None
    return data


def mark_lost(notebook: Path, try_number: int) -> list[int]:
    """Mark earlier tries of this stage and run still "running" as lost; return their numbers.

    A try whose process died (its worker killed, out of memory) never finished its
    sidecar; the next try says so, so that no report shows it running forever.
    """
    stage = storage.parse_try(notebook.name)[0]
    error = "its process died before it finished (worker lost, killed or out of memory)"
    earlier = [(n, notebook.parent / storage.try_name(stage, n)) for n in range(1, try_number)]
    return [number for number, path in earlier if lose(path, error)]


def lose(notebook: Path, error: str) -> bool:
    """Mark a try whose sidecar still says "running" as lost, with ``error``; True if it was."""
    info = read_sidecar(storage.sidecar(notebook))
    if not info or info.get("state") != "running":
        return False
    write_sidecar(notebook, state=LOST, error=error)
    return True
