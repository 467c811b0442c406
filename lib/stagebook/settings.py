"""Where a Stagebook project keeps its files: the project root and the archive.

``STAGEBOOK_ROOT`` is the project (``dags/``, ``notebooks/``, ``params/``,
``plugins/``): by default the checkout this package lives in, else the current
folder, so a non-editable install works from its project folder or with the
variable set. ``STAGEBOOK_HOME`` is the archive (default ``<root>/var``),
``STAGEBOOK_PARAMS`` the params folder (default ``<root>/params``). Each is read
on every call, so tests and the CLI can point them elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

KERNEL_NAME = "stagebook"
_CHECKOUT = Path(__file__).resolve().parents[2]  # lib/stagebook/ -> the repository


def root() -> Path:
    """Return the project root: ``$STAGEBOOK_ROOT``, the source checkout, or the current folder."""
    configured = os.environ.get("STAGEBOOK_ROOT")
    if configured:
        return Path(configured).resolve()
    if (_CHECKOUT / "notebooks").is_dir() and (_CHECKOUT / "params").is_dir():
        return _CHECKOUT
    return Path.cwd().resolve()


def home() -> Path:
    """Return the archive root, ``$STAGEBOOK_HOME`` or ``<root>/var``."""
    return Path(os.environ.get("STAGEBOOK_HOME") or root() / "var").resolve()


def params_dir() -> Path:
    """Return the params folder, ``$STAGEBOOK_PARAMS`` or ``<root>/params``."""
    return Path(os.environ.get("STAGEBOOK_PARAMS") or root() / "params").resolve()


def notebooks_dir() -> Path:
    """Return the folder of the stage notebooks."""
    return root() / "notebooks"


def dags_dir() -> Path:
    """Return the folder of the DAG files."""
    return root() / "dags"


def plugins_dir() -> Path:
    """Return the folder of the Airflow plugin."""
    return root() / "plugins"


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
