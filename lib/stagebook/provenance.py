"""The code a try ran: its stage source, Stagebook, the lock, the commit and the DAG version.

Each try's sidecar keeps one ``code`` object (:func:`code`), written when the try
starts, so that a reviewer can tell which tries ran the same code without opening
a notebook: the compare page says which stages' code changed between two runs,
the trends page marks the dates it changed. Nothing here may fail a try: what
cannot be known (no lock, no git, not a checkout) is None.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import settings

log = logging.getLogger("stagebook.provenance")

GIT_TIMEOUT_S = 5  # a hung git (a network filesystem, a lock) must not hold a try back
LOCK = "uv.lock"


def code(source: Path, dag_version: Any = None, root: Path | None = None) -> dict[str, Any]:
    """Return the ``code`` object of a try that runs stage source ``source``.

    Args:
        source: the stage's source file (``notebooks/NN-stage.py``).
        dag_version: Airflow's id of the DAG version the run ran (a UUID), or None.
        root: the project root (default: :func:`stagebook.settings.root`).

    Returns:
        ``source`` (relative to the root when inside it), ``source_sha256``,
        ``stagebook`` (its installed version), ``lock_sha256`` (of ``<root>/uv.lock``),
        ``git_commit``, ``git_dirty`` and ``dag_version``; each None when unknown.
    """
    root = (root or settings.root()).resolve()
    commit, dirty = git_state(root)
    return {
        "source": shown_path(source, root),
        "source_sha256": sha256_of(source),
        "stagebook": stagebook_version(),
        "lock_sha256": sha256_of(root / LOCK),
        "git_commit": commit,
        "git_dirty": dirty,
        "dag_version": str(dag_version) if dag_version else None,
    }


def shown_path(path: Path, root: Path) -> str:
    """Return ``path`` relative to ``root``, or whole when it lies outside (another pipelines root)."""
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def sha256_of(path: Path) -> str | None:
    """Return the SHA-256 of a file's bytes in hex, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def stagebook_version() -> str | None:
    """Return the installed Stagebook's version, or None when it is not installed (a bare checkout)."""
    try:
        return importlib.metadata.version("stagebook")
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(root: Path, *args: str) -> str | None:
    """Return what ``git -C root ARGS`` printed, or None when it failed, hung or is missing."""
    try:
        done = subprocess.run(
            # no optional locks: a try never holds the index a person's `git commit` needs
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:  # ValueError: not UTF-8
        log.info("No git state of %s: %s", root, exc)
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """Return the HEAD commit of the checkout at ``root`` and whether tracked files changed.

    (None, None) when ``root`` is not in a git checkout, or git is missing or hangs.
    Untracked files do not count: a run's own outputs must not make every try dirty.
    """
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if not head:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return head.strip(), None if status is None else bool(status.strip())


def source_sha256(info: Mapping[str, Any]) -> str | None:
    """Return the ``source_sha256`` a try's sidecar fields keep, or None (a try from before)."""
    found = info.get("code")
    value = found.get("source_sha256") if isinstance(found, Mapping) else None
    return value if isinstance(value, str) else None
