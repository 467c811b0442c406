"""The name a process gives Airflow as its host: ``[core] hostname_callable``.

Two Celery workers (or schedulers) on one machine would otherwise report the
same host name. The cluster's process manager gives each process a
``STAGEBOOK_PROCESS_NAME`` (``airflow-worker-2``); its task instances then show
``<host>-<process>``. The name stays the same for the life of the process, as
Airflow's heartbeat requires.
"""

from __future__ import annotations

import os
import socket


def process_hostname() -> str:
    """Return ``<fqdn>-<STAGEBOOK_PROCESS_NAME>``, or the plain FQDN outside the cluster."""
    name = os.environ.get("STAGEBOOK_PROCESS_NAME")
    host = socket.getfqdn()
    return f"{host}-{name}" if name else host
