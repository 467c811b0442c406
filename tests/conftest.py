"""Bootstrap only: a throwaway archive and Airflow home, set before anything imports airflow.

The fixtures live in ``tests/support/fixtures.py``, loaded as a pytest plugin;
no test imports from this file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="stagebook-tests-"))
os.environ["STAGEBOOK_HOME"] = str(_ROOT / "home")
os.environ["AIRFLOW_HOME"] = str(_ROOT / "airflow")
# New homes' metastores are copied from a template made in this session, not the user's cache.
os.environ["STAGEBOOK_METASTORE_TEMPLATES"] = str(_ROOT / "metastores")
for _name in [n for n in os.environ if n.startswith("STAGEBOOK_PARAMS")] + ["STAGEBOOK_PIPELINES"]:
    os.environ.pop(_name, None)
# The recommendation pipeline unless a test names another (and restores this).
os.environ["STAGEBOOK_PIPELINE"] = "recommendations"

from stagebook.orchestration.commands import environment  # noqa: E402

environment.apply_airflow_environ()

pytest_plugins = ["tests.support.fixtures"]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ROOT, ignore_errors=True)
