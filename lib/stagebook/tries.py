"""What an archived try's notebook says: its error, its timings, the last cell it started.

Read as plain JSON (no nbformat), from papermill's metadata; ``earlier_tries``
lets a later try show why the earlier ones of its stage failed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from stagebook import storage

_PARAMETER_TAGS = {"parameters", "injected-parameters"}  # papermill's cells, not the stage's


def error_of(notebook: Path) -> str:
    """Return the error an archived notebook ended with, or that it finished without one."""
    for cell in json.loads(notebook.read_text()).get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output['ename']}: {output['evalue']}"
    return "finished without an error"


def notebook_timings(notebook: Path) -> dict[str, float]:
    """Return how an executed notebook's time split: kernel start, the first code cell, the rest.

    From papermill's own metadata: ``kernel_start`` runs from papermill's start to
    the first cell's, ``first_cell`` is the imports and ``stagebook.stage()``,
    ``other_cells`` the stage's work. Empty when the notebook holds no timings.
    """
    try:
        nb = json.loads(notebook.read_text())
        began = _instant(nb["metadata"]["papermill"]["start_time"])
        ran = [
            (c["metadata"].get("tags", []), c["metadata"]["papermill"])
            for c in nb["cells"]
            if c.get("cell_type") == "code" and c["metadata"].get("papermill", {}).get("start_time")
        ]
        own = [timing for tags, timing in ran if not _PARAMETER_TAGS & set(tags)]
        return {
            "kernel_start": round((_instant(ran[0][1]["start_time"]) - began).total_seconds(), 3),
            "parameters": round(
                sum(t.get("duration") or 0.0 for _, t in ran)
                - sum(t.get("duration") or 0.0 for t in own),
                3,
            ),
            "first_cell": round(own[0].get("duration") or 0.0, 3) if own else 0.0,
            "other_cells": round(sum(t.get("duration") or 0.0 for t in own[1:]), 3),
        }
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return {}


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def last_started_cell(notebook: Path) -> int | None:
    """Return the number (from 1, as Jupyter shows it) of the last cell papermill started."""
    cells = json.loads(notebook.read_text()).get("cells", [])
    started = [
        n
        for n, c in enumerate(cells, 1)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def earlier_tries(notebook: Path | None, try_number: int) -> list[dict[str, object]]:
    """Return try number, path and error of each earlier try of the archived ``notebook``.

    ``notebook`` is this try's archive path (``StageContext.report``; None when
    run by hand, which has no earlier tries). A try whose notebook is missing says so.
    """
    if notebook is None:
        return []
    stage = storage.parse_try(notebook.name)[0]
    archived = dict(storage.tries(notebook.parent, stage, storage.NOTEBOOK))
    found = []
    for number in range(1, try_number):
        path = archived.get(number)
        error = error_of(path) if path else "no archived notebook"
        found.append({"try": number, "notebook": str(path) if path else None, "error": error})
    return found
