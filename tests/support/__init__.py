"""What the tests share: constants, free ports, servers on loopback, and reading back runs.

``tests.support.fixtures`` is the pytest plugin (``conftest.py`` loads it); the
other modules are plain helpers that tests import.
"""

import socket

DAG_ID = "recommendation_pipeline"

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
