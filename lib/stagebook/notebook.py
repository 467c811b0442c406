"""The stage sources on disk, and the stage contract they must keep.

A stage's committed source is a jupytext percent script, ``notebooks/NN-stage.py``:
text a reviewer reads in a diff, which JupyterLab (jupytext's contents manager)
opens as a notebook. :func:`read` turns it into the notebook papermill executes;
the executed notebook is archived as ``.ipynb``. An ``.ipynb`` beside a source
(a pair jupytext made in JupyterLab) must hold the same cells and no outputs.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from stagebook import settings
from stagebook.errors import NotebookContractError

INJECTED = ("ds", "phase", "try_number", "run_id", "overrides")
SOURCE = ".py"  # a stage's committed source: jupytext's percent format
_parsed: dict[tuple[Path, int, int], Any] = {}
_STAGE = re.compile(r"^\d\d-[a-z0-9-]+$")


def path(stage: str) -> Path:
    """Return the committed source of ``stage``."""
    return settings.notebooks_dir() / f"{stage}{SOURCE}"


def stages() -> list[str]:
    """Return the names of the stage sources (``NN-<stage>``), in order."""
    return sorted(
        p.stem for p in settings.notebooks_dir().glob(f"*{SOURCE}") if _STAGE.match(p.stem)
    )


def read(notebook: Path) -> Any:
    """Return the notebook (an ``nbformat`` node) of a stage source or of an ``.ipynb``.

    Raises:
        NotebookContractError: naming the file, when it cannot be read as a notebook.
    """
    import nbformat

    try:
        if notebook.suffix == ".ipynb":
            return nbformat.reads(notebook.read_text(), as_version=4)
        stat = notebook.stat()  # a try reads its source 3-4 times: parsed once while unchanged
        key = (notebook.resolve(), stat.st_mtime_ns, stat.st_size)
        if key not in _parsed:
            import jupytext

            _parsed.clear()  # the latest source only: a process runs one stage at a time
            _parsed[key] = jupytext.reads(notebook.read_text(), fmt="py:percent")
        return copy.deepcopy(_parsed[key])  # callers may change theirs (executable does)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, yaml.YAMLError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise NotebookContractError(
            f"{notebook}: not a notebook ({message}); open and save it in JupyterLab"
        ) from None


def executable(source: Path) -> Any:
    """Return the notebook papermill executes for a stage source, naming the source in its metadata."""
    nb = read(source)
    nb.metadata["stagebook"] = {"source": str(source)}
    return nb


def _code(notebook: Path) -> tuple[Any, list[Any]]:
    nb = read(notebook)
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    return nb, cells


def _tree(notebook: Path, nb: Any, cell: Any) -> ast.Module:
    """Return the parsed code of a cell; a syntax error names the source, cell and line."""
    try:
        return ast.parse(_source(cell))
    except SyntaxError as exc:
        number = next(n for n, c in enumerate(nb.cells, start=1) if c is cell)
        raise NotebookContractError(
            f"{notebook}: cell {number}: line {exc.lineno}: {exc.msg}; fix the code of that cell"
        ) from None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def pair_problems(folder: Path) -> list[str]:
    """Return what is wrong with the ``.ipynb`` files of a notebooks folder, one line each.

    An ``.ipynb`` is committed only as the pair of a stage source (jupytext's
    pairing), holding the very cells of the source and no outputs; the source is
    what runs.
    """
    problems = []
    for paired in sorted(folder.glob("*.ipynb")):
        source = paired.with_suffix(SOURCE)
        if not source.is_file():
            problems.append(
                f"{paired}: a stage source is a percent script: run "
                f"`jupytext --to py:percent {paired}`, then remove the .ipynb"
            )
            continue
        try:
            nb = read(paired)
        except NotebookContractError as exc:
            problems.append(str(exc))
            continue
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells):
            problems.append(
                f"{paired}: holds outputs; clear them (nbstripout {paired}) or remove the file: "
                "executed notebooks are archived, never committed"
            )
        elif (ours := _readable(source)) is not None and _cells(nb) != _cells(ours):
            problems.append(
                f"{paired}: out of sync with {source.name}; run `jupytext --sync {source}` "
                "(or remove the .ipynb: the .py is what runs)"
            )
    return problems


def _readable(source: Path) -> Any:
    try:
        return read(source)
    except NotebookContractError:
        return None  # the source's own problem, reported with it


def _cells(nb: Any) -> list[tuple[str, str, list[str]]]:
    return [
        (c.cell_type, _source(c).strip(), sorted(c.get("metadata", {}).get("tags", [])))
        for c in nb.cells
    ]


def parameters(notebook: Path) -> dict[str, object]:
    """Return the names and literal defaults of the notebook's ``parameters`` cell.

    Raises:
        NotebookContractError: naming the notebook, if it has no kernelspec, not
            exactly one cell tagged ``parameters``, or a default that is not a literal.
    """
    nb, code = _code(notebook)
    if not nb.get("metadata", {}).get("kernelspec", {}).get("name"):
        raise NotebookContractError(
            f"{notebook}: no metadata.kernelspec: open it in Jupyter, pick the 'stagebook' kernel, save"
        )
    cells = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise NotebookContractError(
            f"{notebook}: {len(cells)} cells tagged 'parameters', expected exactly one "
            "(tag the cell of defaults that the scheduler replaces)"
        )
    found: dict[str, object] = {}
    for node in _tree(notebook, nb, cells[0]).body:
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


def kernel_name(notebook: Path) -> str | None:
    """Return the name of the kernel the notebook is saved with (its kernelspec), or None."""
    nb, _ = _code(notebook)
    return nb.get("metadata", {}).get("kernelspec", {}).get("name")


def imports(notebook: Path) -> list[str]:
    """Return the notebook's top-level import statements, in order.

    A cell that is not plain Python (a magic) is skipped, and so is ``__future__``.
    """
    _, code = _code(notebook)
    found = []
    for cell in code:
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            continue
        found += [
            ast.unparse(node)
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            and getattr(node, "module", None) != "__future__"
        ]
    return found


def recorded(notebook: Path) -> dict[str, int]:
    """Return each name the notebook records (``stagebook.record("name", ...)``) and its cell.

    Cells are numbered from 1 as Jupyter shows them, Markdown cells included.

    Raises:
        NotebookContractError: naming the notebook and cell of a record whose name is
            not a string literal (the contract check could not compare it).
    """
    nb = read(notebook)
    found: dict[str, int] = {}
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        for node in ast.walk(_tree(notebook, nb, cell)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name != "record":
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                raise NotebookContractError(
                    f"{notebook}: cell {number}: record() must name its record with a string literal"
                )
            found.setdefault(first.value, number)
    return found


def record_problems(notebook: Path, declared: Sequence[str]) -> list[str]:
    """Return how the records a stage table declares differ from what the notebook records.

    Each problem names the notebook, and the cell of a record no stage declares.
    """
    recorded_names = recorded(notebook)
    problems = [
        f"{notebook}: cell {cell}: records {name!r}, which the stage table does not declare"
        for name, cell in recorded_names.items()
        if name not in declared
    ]
    problems += [
        f"{notebook}: declares record {name!r} in the stage table, but no cell records it"
        for name in declared
        if name not in recorded_names
    ]
    return problems
