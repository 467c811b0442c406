"""Airflow's in-process execution API, built before ``dag.test()``'s first task needs it.

``dag.test()`` answers each task's calls to the execution API with an app it
builds in this process on the first task's first call: the app (about a second)
and, on its first request, Cadwyn's routers of every API version (about three).
The first stage of a ``stagebook run`` paid both. Built ahead, while the first
stages' spare kernels start and import in their own processes, the first task
finds it ready (a no-op first stage: 0.9 s, from 3.6 s). Not in a thread beside
``dag.test()``: both are pure Python, and the thread slowed the run's start
more than it saved (that first stage then took 6.7 s).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def warm() -> None:
    """Build the API ahead (``compat.execution_api``), only logging a failure (``dag.test()`` then does)."""
    from stagebook.orchestration import compat

    try:
        compat.execution_api()
    except Exception:
        log.warning("Could not warm up Airflow's execution API", exc_info=True)
