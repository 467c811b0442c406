"""The name a process gives Airflow as its host: ``[core] hostname_callable``.

A task instance's hostname is also where the api-server fetches its log from
while the log is not in a folder it shares (``http://<hostname>:8793/log/...``),
so it must be reachable from there. :func:`host_address` gives the host's address
(``STAGEBOOK_HOST_ADDRESS``, the inventory's ``airflow_host_address``): one
worker or scheduler per host. Two Celery workers (or schedulers) on one machine
would otherwise report the same name: :func:`process_hostname` adds each
process's ``STAGEBOOK_PROCESS_NAME`` (``airflow-worker-2``), giving
``<host>-<process>``. Either stays the same for the life of the process, as
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


def host_address() -> str:
    """Return ``STAGEBOOK_HOST_ADDRESS`` (this host's address as others reach it), else the FQDN."""
    return os.environ.get("STAGEBOOK_HOST_ADDRESS") or socket.getfqdn()
