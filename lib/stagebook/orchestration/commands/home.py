"""The embedded Airflow's home on this machine: its metastore, created or upgraded when needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stagebook import atomic
from stagebook.orchestration.commands import environment
from stagebook.orchestration.execution import runlock


def migrate() -> None:
    """Create or upgrade the embedded Airflow's metadata database (idempotent)."""
    environment.apply_airflow_environ()
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def setup_airflow() -> None:
    """``stagebook setup``: migrate the metadata database and say where it is."""
    migrate()
    print(f"stagebook: Airflow metadata database ready in {os.environ['AIRFLOW_HOME']}")


def ensure_metastore() -> None:
    """Create the metastore when it does not exist yet, then settle runs whose process is gone.

    Each says so in one line. Two first commands on a new home migrate it once.
    """
    environment.apply_airflow_environ()
    from airflow import settings as airflow_settings
    from sqlalchemy import inspect

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with atomic.locked(home / ".stagebook-migrate.lock"):
        if not inspect(airflow_settings.engine).has_table("dag"):
            migrate()
            print(f"stagebook: created the Airflow metastore in {home}")
    for line in runlock.sweep():
        print(f"stagebook: {line}", flush=True)
