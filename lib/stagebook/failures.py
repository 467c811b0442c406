"""Whether another try can help a failed stage: said by its kernel, read back by the operator.

The operator runs in a worker that may not import a pipeline's error classes (a
class may even be defined in the notebook), so a class name alone cannot tell it
whether a retry helps. :func:`install`, called by ``stagebook.stage``, makes the
stage's kernel say it: when a cell raises a ``StagebookError``, the kernel displays
the error's ``retryable`` under :data:`MIME` just before IPython's usual
traceback. After the failure the operator reads it from the executed notebook
with :func:`retryable_in`; an error that says nothing (a library's, a crash) is
retried.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stagebook.errors import StagebookError

MIME = "application/vnd.stagebook.error+json"


def marker(exc: BaseException) -> dict[str, Any] | None:
    """Return the output that says whether a retry can help ``exc``, or None if it does not say.

    Only a ``StagebookError`` (the framework's, a pipeline's, a notebook's own
    subclass) says: another exception's ``retryable``, if any, means something else.
    """
    if not isinstance(exc, StagebookError):
        return None
    ename, retryable = type(exc).__name__, bool(exc.retryable)
    verdict = "another try may help" if retryable else "not retried: another try cannot help"
    return {MIME: {"ename": ename, "retryable": retryable}, "text/plain": f"{ename}: {verdict}"}


def _report(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
    """Display the error's marker, then its traceback exactly as IPython shows it."""
    found = marker(value)
    if found is not None:
        from IPython.display import display

        display(found, raw=True)
    # the cell still fails with its usual error output, so papermill still raises
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def install() -> None:
    """Make the running IPython kernel report, for each error a cell raises, whether to retry.

    Outside IPython (plain Python, a test) it does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((Exception,), _report)


def retryable_in(notebook: str | Path | dict) -> bool | None:
    """Return what the kernel said of the error that stopped ``notebook`` (a path or its JSON).

    True or False from the failed cell's marker; None when that cell has none
    (an error that is not a ``StagebookError``, a kernel that died), when no cell
    failed, or when the notebook cannot be read (then it is retried, as a crash is).
    """
    if not isinstance(notebook, dict):
        try:
            notebook = json.loads(Path(notebook).read_text())
        except (OSError, ValueError):
            return None
    for cell in notebook.get("cells", []):
        outputs = cell.get("outputs", []) if cell.get("cell_type") == "code" else []
        if not any(output.get("output_type") == "error" for output in outputs):
            continue
        for output in outputs:
            data = output.get("data", {}).get(MIME)
            if isinstance(data, dict) and isinstance(data.get("retryable"), bool):
                return data["retryable"]
        return None
    return None
