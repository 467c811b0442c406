"""What a spare kernel imports ahead of its notebook (:mod:`stagebook.orchestration.execution.kernels`).

Only the top-level imports that nothing before them could change: a notebook
that sets ``os.environ`` or a library's config before its imports gets them in
that order, as a cold kernel would. Each runs in a namespace of its own, so the
notebook's cells still bind every name themselves.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from stagebook import notebook


def preloadable(path: Path) -> list[str]:
    """Return the notebook's top-level imports that a spare kernel may run ahead of it.

    The code cells are read in order up to the first statement that could change
    what an import does (a call, an assignment that is not a literal, a magic, a
    cell that is not Python): the imports before it, ``__future__`` aside. A
    parameters cell's literal defaults, docstrings and ``pass`` change nothing.
    """
    found: list[str] = []
    for cell in notebook.read(path).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:  # a magic (%env, %run): it may set anything
            return found
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                if getattr(node, "module", None) != "__future__":
                    found.append(ast.unparse(node))
            elif not _inert(node):
                return found
    return found


def _inert(node: ast.stmt) -> bool:
    """Whether a statement only binds a literal to a name, or does nothing."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and isinstance(node.annotation, ast.Name | ast.Constant):
        targets, value = [node.target], node.value  # a bare annotation binds nothing
    else:
        return False
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    if value is None:
        return True
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True


def preload_code(statements: Iterable[str]) -> str:
    """Return one line of Python that runs each import statement in a throwaway namespace.

    A failing import is passed over: the notebook's own cell reports it.
    """
    body = "".join(f"try:\n    {line}\nexcept Exception:\n    pass\n" for line in statements)
    return f"exec({body or 'pass'!r}, {{}})"
