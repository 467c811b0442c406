"""Stopping a run cleanly: TERM or INT interrupts the running stage and ends the run at once.

Under ``stagebook run`` (:func:`handling`), SIGTERM and SIGINT do the same thing:

- the running stage's kernel is interrupted (SIGINT, then SIGKILL after
  :data:`GRACE_S`), so papermill saves the notebook up to the cell it stopped
  in and stops the kernel as after any failure (no connection file is left);
  a stage whose kernel is not started yet stops before its first cell
  (:func:`check`, before each cell);
- the operator archives that try as ``interrupted`` (redaction, HTML and card
  are never cut short: inside a stage a stop is only recorded) and fails it
  without a retry (:func:`ends_run`);
- when the task has returned, :func:`after_task` raises :class:`Interrupted`,
  which leaves ``dag.test()``; the CLI marks the run failed and exits with
  ``128 + signal``, as a shell does for a process a signal stopped. Between two
  tasks, the signal raises :class:`Interrupted` at once.

While a task runs, Airflow's task runner owns SIGTERM and calls the task's
``on_kill``: every Stagebook operator's ``on_kill`` calls :func:`interrupt`.
In a Celery worker (a redeploy, an eviction) the same ``on_kill`` stops the
stage's kernel the same way, and the try is retried as after any lost worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from stagebook.orchestration.execution import runlock

log = logging.getLogger(__name__)

GRACE_S = 2.0  # an interrupted kernel's time to stop its cell (a worker's task is killed at 5 s)
SIGNALS = (signal.SIGTERM, signal.SIGINT)

_requested: int | None = None
_kernel: dict[str, Any] | None = None  # what the running stage's kernel manager saw (its pid)
_in_stage = False  # a stage task is between its start and its archived report
_installed = False


class Interrupted(BaseException):  # noqa: N818 - a stop, like KeyboardInterrupt, not an error
    """The run was stopped by a signal (``signum``); not an error a task may catch."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class StopRequested(Exception):  # noqa: N818 - raised inside papermill, which then cleans up
    """A stop was asked for before this cell: the stage ends here."""


def requested() -> int | None:
    """Return the signal that asked this process to stop, or None."""
    return _requested


def reason() -> str:
    """Return why the run stops, e.g. ``interrupted by SIGTERM``."""
    return f"interrupted by {signal.Signals(_requested or signal.SIGTERM).name}"


def ends_run() -> bool:
    """Return whether a stop ends the whole run without retries (``stagebook run``'s)."""
    return _installed


def interrupt(signum: int = signal.SIGTERM) -> None:
    """Stop: interrupt the running stage's kernel, or record it for the stage to stop at.

    Only between two tasks of ``stagebook run`` does it raise :class:`Interrupted`.
    """
    global _requested
    _requested = _requested or signum
    seen = _kernel or {}
    pid = seen.get("kernel_pid")
    if pid is not None:
        log.warning("%s: stopping the running stage's kernel (pid %s)", reason(), pid)
        _signal(pid, signal.SIGINT)
        started = runlock.start_ticks(pid)
        timer = threading.Timer(GRACE_S, _kill, args=(seen, pid, started))
        timer.daemon = True
        timer.start()
    elif _installed and not _in_stage:
        raise Interrupted(_requested)


def check() -> None:
    """Raise :class:`StopRequested` if a stop was asked for (before a cell starts)."""
    if _requested is not None:
        raise StopRequested(reason())


def _kill(seen: dict[str, Any], pid: int, started: str | None) -> None:
    """Kill the kernel that did not stop its cell in time, if it is still that very process."""
    if _kernel is seen and started is not None and runlock.start_ticks(pid) == started:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


@contextlib.contextmanager
def stage() -> Iterator[None]:
    """Mark a stage task's work (notebook, archive, card): a stop inside it is only recorded."""
    global _in_stage
    _in_stage = True
    try:
        yield
    finally:
        _in_stage = False


@contextlib.contextmanager
def running(seen: dict[str, Any]) -> Iterator[None]:
    """Mark the kernel whose manager fills ``seen`` (``kernel_pid``) as the one a stop interrupts."""
    global _kernel
    _kernel = seen
    try:
        yield
    finally:
        _kernel = None


def _handler(signum: int, frame: Any) -> None:
    interrupt(signum)


def _install() -> None:
    for signum in SIGNALS:
        signal.signal(signum, _handler)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Handle TERM and INT as a stop while the block runs (in the main thread, as the CLI does)."""
    global _installed, _requested
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    _requested, _installed = None, True
    _install()
    try:
        yield
    finally:
        _requested, _installed = None, False  # a finished run leaves no stop pending
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def after_task() -> None:
    """Between two tasks: take TERM back from the task runner; raise :class:`Interrupted` if asked."""
    if not _installed:
        return
    _install()
    if _requested is not None:
        raise Interrupted(_requested)


class Stoppable:
    """Mixin of every Stagebook operator: Airflow's ``on_kill`` (SIGTERM) stops the run.

    Before the task runs, its DAG's pipeline becomes the process's current one
    (:func:`stagebook.pipelines.enter`): its params, notebooks and data area.
    """

    def pre_execute(self, context: Any) -> None:
        """Make the task's pipeline current (Airflow calls this before ``execute``, and on resuming)."""
        from stagebook import pipelines

        pipelines.enter(context["dag"].dag_id)

    def on_kill(self) -> None:
        """Interrupt the running stage (Airflow calls this when the task is told to stop)."""
        interrupt(signal.SIGTERM)
