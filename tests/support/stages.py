"""Stage notebooks of a test's own: the parameters cell the operator expects, then given cells."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

from tests.support import PIPELINE

# the injected values a test passes to StageNotebookOperator.run
VALUES = {"ds": "2019-11-20", "phase": "common", "try_number": 1, "run_id": "m", "overrides": {}}


DECLARATION = """from stagebook.declaration import Pipeline, Stage

PIPELINE = Pipeline(schedule=None, timezone="UTC", start="2019-11-01", stages=(Stage("t", "{stage}"),))
"""


def stage_notebook(root: Path, stage: str, cells: list[str], pipeline: str = PIPELINE) -> Path:
    """Write ``<root>/pipelines/<pipeline>/notebooks/<stage>.py``: a parameters cell, then ``cells``.

    The pipeline's folder gets a declaration of one stage (the first notebook
    written) if it has none, so that the folder is a pipeline. A cell starting
    with ``# markdown`` is a Markdown cell (the rest of it); the others are code.
    Returns the notebook's path.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "stagebook", "display_name": "s", "language": "python"}
    params = nbformat.v4.new_code_cell(
        "ds = '2019-11-20'\nphase = 'common'\ntry_number = 1\nrun_id = 'm'\noverrides = {}"
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [
        nbformat.v4.new_markdown_cell(c.removeprefix("# markdown\n"))
        if c.startswith("# markdown\n")
        else nbformat.v4.new_code_cell(c)
        for c in cells
    ]
    folder = root / "pipelines" / pipeline
    path = folder / "notebooks" / f"{stage}.py"  # a stage source: jupytext's percent format
    path.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, path, fmt="py:percent")
    if not (folder / "pipeline.py").exists():
        (folder / "pipeline.py").write_text(DECLARATION.format(stage=stage))
    return path
