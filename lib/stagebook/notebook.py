"""The stage notebooks on disk, and the stage contract they must keep."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from stagebook import settings
from stagebook.errors import NotebookContractError

STAGES = ("00-input-tables", "10-features", "20-train", "30-inference", "40-validate", "50-publish")
INJECTED = ("ds", "phase", "try_number", "run_id", "overrides")


def path(stage: str) -> Path:
    """Return the committed notebook of ``stage``."""
    return settings.NOTEBOOKS / f"{stage}.ipynb"


def parameters(notebook: Path) -> dict[str, object]:
    """Return the names and literal defaults of the notebook's ``parameters`` cell.

    Raises:
        NotebookContractError: naming the notebook, if it has no kernelspec, not
            exactly one cell tagged ``parameters``, or a default that is not a literal.
    """
    nb = json.loads(notebook.read_text())
    if not nb.get("metadata", {}).get("kernelspec", {}).get("name"):
        raise NotebookContractError(
            f"{notebook}: no metadata.kernelspec: open it in Jupyter, pick the 'stagebook' kernel, save"
        )
    cells = [
        c
        for c in nb.get("cells", [])
        if c.get("cell_type") == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(cells) != 1:
        raise NotebookContractError(
            f"{notebook}: {len(cells)} cells tagged 'parameters', expected exactly one "
            "(tag the cell of defaults that the scheduler replaces)"
        )
    source = cells[0]["source"]
    source = "".join(source) if isinstance(source, list) else source
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise NotebookContractError(
                    f"{notebook}: parameter {node.targets[0].id!r} must default to a literal"
                ) from None
    return found
