"""An Airflow connection a stage declared, read in its kernel from ``AIRFLOW_CONN_<ID>``.

The operator passes each declared connection to the kernel as that variable, in
the format Airflow writes (JSON, or a URI); Airflow's task SDK reads it back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from stagebook import settings


def variable(conn_id: str) -> str:
    """Return the variable that holds connection ``conn_id`` in a kernel."""
    return settings.connection_variable(conn_id)


def read(conn_id: str, environ: Mapping[str, str] | None = None) -> Any | None:
    """Return connection ``conn_id`` from the kernel's environment, or None when it is not set.

    Raises:
        ValueError, TypeError, AttributeError: the value is not a connection Airflow reads.
    """
    value = (os.environ if environ is None else environ).get(variable(conn_id))
    if not value:
        return None
    from airflow.sdk import Connection

    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id=conn_id)
    return Connection.from_uri(value, conn_id=conn_id)
