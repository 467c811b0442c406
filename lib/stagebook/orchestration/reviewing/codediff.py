"""Whether a stage's code changed between two tries, and how: a diff of their code cells.

Whether it changed is the tries' sidecars' to say (the ``source_sha256`` of their
``code``, :mod:`stagebook.provenance`); how is read from the two archived notebooks,
only for a stage whose code changed (or is not known not to have). The diff is
:mod:`difflib`'s, of the code cells' sources as one text, papermill's injected
parameters left out, and is rendered here as HTML: no script, as the app's pages
allow none (nbdime's renderer is JavaScript).
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import json
from pathlib import Path
from typing import Any

from stagebook import provenance

INJECTED = "injected-parameters"  # papermill's tag on the cell it adds
HEADER = "# %%"  # each code cell's first line in the diffed text, as a percent script has it
CONTEXT = 3


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of a diff: ``kind`` is ``added``, ``removed``, ``same`` or ``hunk``."""

    kind: str
    text: str


@dataclasses.dataclass(frozen=True)
class CodeChange:
    """Whether a stage's code changed from try a to try b, and the diff of their code cells.

    ``changed``: None when unknown (a try's sidecar keeps no code, or a stage ran in
    one run only). ``lines``: the diff (empty when the code cells are the same), or
    None when it was not read (unchanged code) or could not be (``note`` says why).
    """

    changed: bool | None
    lines: list[Line] | None = None
    note: str = ""

    @property
    def removed(self) -> list[str]:
        """Return the removed lines' text."""
        return [line.text for line in self.lines or () if line.kind == "removed"]

    @property
    def added(self) -> list[str]:
        """Return the added lines' text."""
        return [line.text for line in self.lines or () if line.kind == "added"]


def code_cells(notebook: Path) -> list[str]:
    """Return the source of each code cell of an archived notebook, the injected parameters aside.

    Raises:
        OSError, ValueError: the notebook cannot be read as JSON.
    """
    cells = json.loads(notebook.read_text()).get("cells", [])
    found = []
    for cell in cells:
        tags = (cell.get("metadata") or {}).get("tags") or ()
        if cell.get("cell_type") != "code" or INJECTED in tags:
            continue
        source = cell.get("source", "")
        found.append("".join(source) if isinstance(source, list) else str(source))
    return found


def _numbered(cells: list[str]) -> tuple[list[str], list[str], list[int]]:
    """Return the cells as lines to diff (each opened by :data:`HEADER`), as shown, and their cells.

    The diffed header carries no number, so that a cell added or removed does not
    make every later header a change; the shown one does: ``# %% cell N``.
    """
    compared, shown, numbers = [], [], []
    for number, source in enumerate(cells, 1):
        lines = source.splitlines()
        compared += [HEADER, *lines]
        shown += [f"{HEADER} cell {number}", *lines]
        numbers += [number] * (len(lines) + 1)
    return compared, shown, numbers


def _same(a: str, b: str) -> str:
    """Return a line both sides have, as b shows it: a header says a's number when it differs."""
    return b if a == b else f"{b} (cell {a.rsplit(' ', 1)[-1]} in a)"


def diff_cells(a: list[str], b: list[str], context: int = CONTEXT) -> list[Line]:
    """Return the diff of two notebooks' code cells: hunks of ``context`` lines around each change.

    Each hunk opens with the cell of its first change, e.g. ``@@ cell 4 @@``.
    """
    a_lines, a_shown, a_cells = _numbered(a)
    b_lines, b_shown, b_cells = _numbered(b)
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    out: list[Line] = []
    for group in matcher.get_grouped_opcodes(context):
        tag, i1, _, j1, _ = next(op for op in group if op[0] != "equal")
        cell = a_cells[i1] if tag == "delete" else b_cells[j1]  # where the change is
        out.append(Line("hunk", f"@@ cell {cell} @@"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [
                    Line("same", _same(a_shown[i], b_shown[j1 + i - i1])) for i in range(i1, i2)
                ]
                continue
            out += [Line("removed", a_shown[i]) for i in range(i1, i2)]
            out += [Line("added", b_shown[j]) for j in range(j1, j2)]
    return out


def change(a: Any, b: Any) -> CodeChange:
    """Return how the code of stage try ``a`` became try ``b``'s (each a ``review.Try`` or None).

    The notebooks are read only when the sidecars do not say the code is the same.
    """
    if a is None or b is None:
        return CodeChange(None, note="the stage ran in one of the two runs only")
    sha_a, sha_b = provenance.source_sha256(a.info), provenance.source_sha256(b.info)
    changed = None if sha_a is None or sha_b is None else sha_a != sha_b
    if changed is False:
        return CodeChange(False)
    try:
        lines = diff_cells(code_cells(a.notebook), code_cells(b.notebook))
    except (OSError, ValueError) as exc:
        return CodeChange(changed, note=f"its notebooks could not be read ({exc})")
    return CodeChange(changed, lines)


def summary(found: CodeChange) -> str:
    """Return one line that says whether the code changed."""
    if found.changed is False:
        return "Code unchanged."
    if found.changed is None:
        if found.lines is None:
            return f"Code: unknown, {found.note}."
        said = "its code cells differ" if found.lines else "its code cells are the same"
        return f"Code: unknown (a try from before sidecars kept its code); {said}."
    if found.lines is None:
        return f"Code changed; {found.note}."
    if not found.lines:
        return "Code changed outside its code cells (markdown or metadata)."
    removed, added = len(found.removed), len(found.added)
    return f"Code changed: {removed} line{'s' * (removed != 1)} removed, {added} added."


def as_html(found: CodeChange) -> str:
    """Return the change as HTML: its summary, and the diff in a ``<pre>`` when there is one."""
    state = {True: "changed", False: "unchanged", None: "unknown"}[found.changed]
    head = f"<p class='code-summary {state}'>{html.escape(summary(found))}</p>"
    if not found.lines:
        return head
    sign = {"added": "+", "removed": "-", "same": " ", "hunk": ""}
    body = "".join(  # each line a block: no newline between them
        f"<span class='{line.kind}'>{html.escape(sign[line.kind] + line.text)}</span>"
        for line in found.lines
    )
    return f"{head}<pre class='codediff'>{body}</pre>"
