"""Test set-up: a throwaway archive and Airflow home, set before anything imports airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="stagebook-tests-"))
os.environ["STAGEBOOK_HOME"] = str(_ROOT / "home")
os.environ["AIRFLOW_HOME"] = str(_ROOT / "airflow")
os.environ.pop("STAGEBOOK_PARAMS", None)

from stagebook import settings  # noqa: E402

settings.apply_airflow_environ()

# Tiny synthetic data: fast enough to run every stage of both phases in a test.
TINY = {
    "data.source": "synthetic",
    "data.events_per_day": 400,
    "data.n_users": 150,
    "data.n_items": 60,
    "tables.train_days": 5,
    "train.epochs": 2,
}


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metastore once."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh archive for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("STAGEBOOK_HOME", str(path))
    return path


@pytest.fixture
def run_pipeline(airflow_db, home):
    """Run the real DAG through ``dag.test()`` for one business date and conf."""
    from stagebook import cli

    def run(ds, conf):
        return cli.run_dag(ds, conf)

    return run
