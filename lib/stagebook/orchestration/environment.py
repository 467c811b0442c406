"""The environment of the embedded Airflow (SQLite metastore, LocalExecutor) on one machine."""

from __future__ import annotations

import os
from pathlib import Path

from stagebook import settings


def airflow_environ(stagebook_home: Path | None = None) -> dict[str, str]:
    """Return the environment variables of the embedded Airflow (SQLite, LocalExecutor).

    Values already set in the environment win, so a deployment can override any.
    """
    root = stagebook_home or settings.home()
    defaults = {
        "STAGEBOOK_HOME": str(root),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir()),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_dir()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # 32 LocalExecutor workers cost ~6 GB; the pipeline never runs more than 4 tasks at once.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "120",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


def apply_airflow_environ(stagebook_home: Path | None = None) -> None:
    """Set the embedded Airflow's environment in this process (before importing airflow)."""
    os.environ.update(airflow_environ(stagebook_home))
