"""Values a stage hands to later tasks: recorded in the notebook, read back by the operator.

The notebook kernel cannot push XCom itself. ``record`` displays the value as an
output of its own MIME type (plus a plain-text line a reviewer can read); the
operator reads those outputs from the executed notebook and pushes each one as
an XCom under its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stagebook.errors import RecordError

MIME = "application/vnd.stagebook.record+json"


def record(name: str, value: Any) -> Any:
    """Record ``value`` (JSON-serializable) under ``name`` for later tasks; return the value."""
    if not name.isidentifier():
        raise RecordError(
            f"record name {name!r} must be a Python identifier (it becomes a parameter)"
        )
    try:
        payload = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"record {name!r}: value must be JSON (no nan/inf): {exc}") from None
    from IPython.display import display

    text = json.dumps(payload)
    display(
        {MIME: {"name": name, "value": payload}, "text/plain": f"record {name} = {text[:300]}"},
        raw=True,
    )
    return value


def read_records(notebook: str | Path | dict) -> dict[str, Any]:
    """Return every record of an executed notebook (a path or its JSON), the last one per name."""
    if not isinstance(notebook, dict):
        notebook = json.loads(Path(notebook).read_text())
    found: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {}).get(MIME)
            if data is not None:
                found[data["name"]] = data["value"]
    return found
