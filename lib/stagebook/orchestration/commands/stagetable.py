"""A row added to a declaration's stage table, in its source: ``stagebook new stage``.

The declaration is Python a person wrote. The row goes after the last row of the
literal ``stages=(...)`` of its ``Pipeline(...)`` call, at that row's indentation,
and nothing else of the file changes, comments included.
"""

from __future__ import annotations

import ast
from pathlib import Path

from stagebook.errors import PipelineError


def _table(tree: ast.AST) -> ast.Tuple | ast.List | None:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Pipeline"):
            continue
        for argument in node.keywords:
            if argument.arg == "stages" and isinstance(argument.value, ast.Tuple | ast.List):
                return argument.value
    return None


def appended(declaration: Path, row: str) -> str:
    """Return the declaration's source with ``row`` added as the last stage of ``stages=(...)``.

    Raises:
        PipelineError: when the file has no ``Pipeline(..., stages=(...))`` with a row in it.
    """
    text = declaration.read_text()
    try:
        table = _table(ast.parse(text))
    except SyntaxError as exc:
        raise PipelineError(f"{declaration}: line {exc.lineno}: {exc.msg}; fix it first") from None
    if table is None or not table.elts:
        raise PipelineError(
            f"{declaration}: no Pipeline(..., stages=(...)) with a stage to add after; "
            f"add {row} to its stage table by hand"
        )
    last = table.elts[-1]
    lines = text.splitlines(keepends=True)
    offset = sum(len(line.encode()) for line in lines[: last.end_lineno - 1])  # type: ignore[operator]
    end = len(text.encode()[: offset + last.end_col_offset].decode())  # type: ignore[operator]
    indent = " " * last.col_offset
    return f"{text[:end]},\n{indent}{row}{text[end:]}"
