"""Where Stagebook keeps its files, and the environment its Airflow runs with.

``STAGEBOOK_HOME`` is the archive root (default ``var/`` in the repository);
``STAGEBOOK_PARAMS`` the params folder (default ``params/``). Both are read on
every call so tests and the CLI can point them elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
PLUGINS_FOLDER = REPO / "plugins"
NOTEBOOKS = REPO / "notebooks"
DAG_ID = "recommendation_pipeline"
KERNEL_NAME = "stagebook"


def home() -> Path:
    """Return the archive root, ``$STAGEBOOK_HOME`` or ``<repo>/var``."""
    return Path(os.environ.get("STAGEBOOK_HOME") or REPO / "var").resolve()


def params_dir() -> Path:
    """Return the params folder, ``$STAGEBOOK_PARAMS`` or ``<repo>/params``."""
    return Path(os.environ.get("STAGEBOOK_PARAMS") or REPO / "params").resolve()


def airflow_environ(stagebook_home: Path | None = None) -> dict[str, str]:
    """Return the environment variables of the embedded Airflow (SQLite, LocalExecutor).

    Values already set in the environment win, so a deployment can override any.
    """
    root = stagebook_home or home()
    defaults = {
        "STAGEBOOK_HOME": str(root),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
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


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (kernels started in it inherit them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connection_variable(conn_id: str) -> str:
    """Return the environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"
