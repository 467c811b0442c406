"""Live progress of a stage in its task log: a line per cell, progress bars collapsed.

papermill's own engine, with two changes, registered as the ``stagebook``
engine (the operator runs every notebook with it):

- each code cell logs one line when it starts and one when it ends, with its
  number out of the notebook's code cells, its first source line and the time
  it took (``cell 4/9 done in 12.3 s: losses = model.fit(``);
- a cell's output reaches the task log with carriage returns applied: a progress
  bar shows its latest state at most every :data:`PROGRESS_EVERY_S` seconds and
  when its line ends, not one line per tick. Library log noise is dropped
  (:func:`stagebook.reports.quiet`);
- every line a kernel's output puts in the task log is redacted as the archive
  is (:func:`stagebook.orchestration.execution.secrets.redacted`): a task log is what every
  reader of the DAG sees in the Airflow UI. A line is logged whole, once it ends
  (a progress bar's line, which carriage returns rewrite, now and then before),
  so no secret reaches the log cut in two;
- the notebook saved into the archive while it runs is redacted too, so the
  archive never holds a secret, even of a try whose process is killed;
- a cell does not start once a stop was asked for
  (:func:`stagebook.orchestration.execution.stopping.check`).

The output notebook is saved at the end of every cell and, during a long cell,
whenever an output arrives :data:`AUTOSAVE_S` seconds after the last save, so a
running report is never more than that behind.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.iorw import write_ipynb
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

from stagebook import reports
from stagebook.orchestration.execution import secrets, stopping

log = logging.getLogger("stagebook.progress")

NAME = "stagebook"
AUTOSAVE_S = 30
PROGRESS_EVERY_S = 10.0


def first_line(source: str, width: int = 70) -> str:
    """Return the first line of a cell that is not blank or a comment, cut to ``width``."""
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line if len(line) <= width else line[: width - 1] + "…"
    return "(no code)"


class ProgressManager(NotebookExecutionManager):
    """papermill's execution manager, logging each code cell's start and end."""

    def notebook_start(self, **kwargs: Any) -> None:
        """Count the code cells, then start as papermill does."""
        self.code_cells = [i for i, c in enumerate(self.nb.cells) if c.get("cell_type") == "code"]
        self.started_at: dict[int, float] = {}
        self.redacted_cells: set[int] = set()  # each logged once, at the save that first redacts it
        super().notebook_start(**kwargs)

    def _label(self, cell: Any, cell_index: int | None) -> str | None:
        if cell.get("cell_type") != "code" or cell_index not in self.code_cells:
            return None
        number = self.code_cells.index(cell_index) + 1
        return f"cell {number}/{len(self.code_cells)}"

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        """Log the cell's start, then start it as papermill does."""
        stopping.check()
        label = self._label(cell, cell_index)
        if label:
            self.started_at[cell_index] = time.monotonic()
            log.info("%s started: %s", label, first_line(cell.source))
        super().cell_start(cell, cell_index, **kwargs)

    def save(self, **kwargs: Any) -> None:
        """Save the notebook so far, as papermill does, with every known secret redacted."""
        if self.output_path:
            name = Path(str(self.output_path)).name
            redacted = secrets.redacted_notebook(self.nb, name, self.redacted_cells)
            write_ipynb(redacted, self.output_path)
        self.last_save_time = self.now()

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        """End the cell as papermill does (it saves the notebook), then log its time."""
        super().cell_complete(cell, cell_index, **kwargs)
        label = self._label(cell, cell_index)
        if label and cell_index in self.started_at:
            took = time.monotonic() - self.started_at.pop(cell_index)
            failed = cell.metadata.get("papermill", {}).get("status") == self.FAILED
            what = "failed after" if failed else "done in"
            log.info("%s %s %.1f s: %s", label, what, took, first_line(cell.source))


class ProgressClient(PapermillNotebookClient):
    """papermill's notebook client, logging outputs with carriage returns applied."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, str] = {}  # stream -> the latest state of an unfinished line
        self._shown_at: dict[str, float] = {}

    def log_output_message(self, output: Any) -> None:
        """Log a stream's finished lines (each line's last state), and its bar now and then."""
        if output.output_type != "stream":
            text = "".join((output.get("data") or {}).get("text/plain") or "")
            if self.log_output and text:
                self.log.info(secrets.redacted(text))
            return None
        name = output.name
        text = self._pending.pop(name, "") + "".join(output.text)
        *done, rest = text.split("\n")
        lines = [line.rsplit("\r", 1)[-1] for line in done]
        self._emit(name, lines)
        if rest:
            self._pending[name] = rest
            now = time.monotonic()
            shown = self._shown_at.setdefault(name, now)  # a bar waits, as a line does, to be whole
            if "\r" in rest and now - shown >= PROGRESS_EVERY_S:
                self._shown_at[name] = now
                self._emit(name, [rest.rsplit("\r", 1)[-1]])
        return None

    def flush_pending(self) -> None:
        """Log what is left of an unfinished line (a progress bar's final state)."""
        for name in list(self._pending):
            self._emit(name, [self._pending.pop(name).rsplit("\r", 1)[-1]])

    def _emit(self, name: str, lines: list[str]) -> None:
        text = reports.quiet("\n".join(line for line in lines if line.strip()))
        if text.strip():
            text = secrets.redacted(text)
            (self.log.warning if name == "stderr" else self.log.info)(text)

    def papermill_execute_cells(self) -> None:
        """Execute the cells as papermill does, flushing each cell's unfinished line after it."""
        complete = self.nb_man.cell_complete

        def completed(cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            self.flush_pending()
            complete(cell, cell_index=cell_index, **kwargs)

        self.nb_man.cell_complete = completed
        try:
            super().papermill_execute_cells()
        finally:
            self.nb_man.cell_complete = complete


class StageEngine(NBClientEngine):
    """papermill's nbclient engine with :class:`ProgressManager` and :class:`ProgressClient`."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = False,
        log_output: bool = False,
        autosave_cell_every: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Execute ``nb`` as papermill's engine does, with this module's manager."""
        recorded = nb.metadata.papermill
        if not isinstance(recorded.get("input_path"), str | None):  # a notebook, not its path
            recorded["input_path"] = nb.metadata.get("stagebook", {}).get("source")
        if autosave_cell_every is None:
            autosave_cell_every = AUTOSAVE_S
        # papermill's manager would log "Executing Cell N----": ours logs its own lines
        nb_man = ProgressManager(
            nb,
            output_path=output_path,
            progress_bar=False,
            log_output=False,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the notebook with :class:`ProgressClient`, as papermill runs its own client."""
        kwargs = remove_args(["input_path"], **kwargs)
        final = merge_kwargs(
            remove_args(["timeout", "startup_timeout"], **kwargs),
            timeout=execution_timeout or kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        # A kernel handed in (km, a spare started ahead) is this try's too: stopped after it.
        return ProgressClient(nb_man, **final).execute(cleanup_kc=True)


papermill_engines.register(NAME, StageEngine)
