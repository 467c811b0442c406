"""Unanswered approvals under ``dag.test()``: the scheduler's own timeout sweep, run beside the run.

In a served Airflow the scheduler's loop resolves a task that waits in
``awaiting_input`` past its ``response_timeout``: it records the request's
default (an approval gate's Reject) as the answer, by nobody, and resumes the
task. ``dag.test()`` runs no scheduler, so :func:`timeouts` runs that same
sweep, and ``stagebook run`` rejects an unanswered approval as a served Airflow
does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def timeouts(dag: Any) -> Iterator[None]:
    """Answer, while the block runs, every approval left unanswered past its timeout, as the scheduler does.

    Runs the scheduler's sweep (``compat.awaiting_input_sweep``: never the rest
    of the scheduler) in a thread every ``[scheduler] trigger_timeout_check_interval``
    seconds, the scheduler's own interval. Nothing runs for a DAG without a
    human-in-the-loop task.
    """
    from airflow.providers.standard.operators.hitl import HITLOperator

    if not any(isinstance(task, HITLOperator) for task in dag.tasks):
        yield
        return
    # Everything the sweep imports is imported here, in the calling thread: two threads
    # importing Airflow's modules at once can deadlock on the import lock.
    import airflow.sdk.serde  # noqa: F401  (imported by the sweep when it resumes a task)
    from airflow.sdk import conf

    from stagebook.orchestration import compat

    every = conf.getfloat("scheduler", "trigger_timeout_check_interval", fallback=15.0)
    check = compat.awaiting_input_sweep()
    check()
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(every):
            try:
                check()
            except Exception:  # the next sweep tries again, as the scheduler's does
                log.exception("approval timeouts: the sweep failed; again in %s s", every)

    thread = threading.Thread(target=sweep, name="approval-timeouts", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
