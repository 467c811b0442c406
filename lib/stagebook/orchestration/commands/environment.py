"""The environment of the embedded Airflow (SQLite metastore, LocalExecutor) on one machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stagebook import settings
from stagebook.errors import PipelineError


class AirflowHomeError(PipelineError):
    """Airflow was imported with another home before Stagebook set the embedded one."""


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
    """Set the embedded Airflow's environment in this process (before importing airflow).

    Airflow reads its home once, when first imported (``~/airflow`` unless
    ``AIRFLOW_HOME`` is set): applied after that, this process would use another
    metastore than every other command of the same ``STAGEBOOK_HOME``.

    Raises:
        AirflowHomeError: airflow is already loaded with another home (a command
            imported it too early); nothing has used that home's metastore yet.
    """
    os.environ.update(airflow_environ(stagebook_home))
    loaded = sys.modules.get("airflow.configuration")
    if loaded is None:
        return
    wanted, used = Path(os.environ["AIRFLOW_HOME"]), Path(loaded.AIRFLOW_HOME)
    if wanted.expanduser().resolve() != used.expanduser().resolve():
        raise AirflowHomeError(
            f"Airflow was loaded with the home {used} before Stagebook set {wanted} "
            f"(a bug in this command); export AIRFLOW_HOME={wanted} and run it again"
        )
