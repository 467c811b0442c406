"""What the tests share: constants, free ports, servers on loopback, and reading back runs.

``tests.support.fixtures`` is the pytest plugin (``conftest.py`` loads it); the
other modules are plain helpers that tests import.
"""

import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stagebook import settings

DAG_ID = "recommendation_pipeline"
PIPELINE = "recommendations"  # its folder

# Tiny synthetic data: fast enough to run every stage of both phases in a test.
TINY = {
    "data.source": "synthetic",
    "data.events_per_day": 400,
    "data.n_users": 150,
    "data.n_items": 60,
    "tables.train_days": 5,
    "train.epochs": 2,
}

CHANNELS = ["log", "slack", "email", "webhook"]


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def params_copy(folder: Path, values: Mapping[str, Any] = ()) -> Path:
    """Copy the project's params into ``folder`` (once), then set dotted ``values`` in common.yaml.

    What a run's conf may not override (notifications, publish, pipeline) is
    set this way, as a deployment would in its params files.
    """
    common = folder / "common.yaml"
    if not common.exists():
        shutil.copytree(settings.params_dir(PIPELINE), folder, dirs_exist_ok=True)
    data = yaml.safe_load(common.read_text())
    for key, value in dict(values).items():
        section, name = key.split(".", 1)
        data[section][name] = value
    common.write_text(yaml.safe_dump(data, sort_keys=False))
    return folder
