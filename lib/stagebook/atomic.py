"""Atomic writes into the archive: a file is renamed into place, a folder swapped without a gap.

A reader never sees half a file, never finds a folder missing, and re-running a
date replaces that date's output. Where things go is :mod:`stagebook.storage`'s.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    """Return the process's umask, read from ``/proc`` where Linux shows it.

    ``os.umask`` can only read it by setting it, which races with other threads.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    The file gets the permissions of an ordinary write under the process's umask
    (``mkstemp`` alone would leave it readable by its owner only).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> Path:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target


def write_json(target: Path, value: Any) -> Path:
    """Write ``value`` as indented JSON to ``target`` atomically."""
    return write_text(target, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(target: Path, frame: Any) -> Path:
    """Write a pandas DataFrame to ``target`` as Parquet, atomically."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return target


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a new folder beside ``target``; swap it in for ``target`` if the block succeeds.

    Example::

        with atomic.replacing(ctx.paths.dated("scores")) as folder:
            frame.to_parquet(folder / "scores.parquet")

    Free of gaps: ``target`` is a symbolic link to a versioned folder beside it
    (``.<name>.v<random>``), and the swap replaces the link in one rename, so a
    reader always finds the old folder or the new one, never none. The version it
    replaces is retired, and deleted only :data:`RETIRED_GRACE_S` later, so a reader
    already inside it can finish. Two writers never collide: each fills its own
    version, and the last rename wins. A block that raises leaves ``target`` as it
    was. (A folder written before versions existed is moved aside once, the only
    moment it is missing.)
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    version = Path(tempfile.mkdtemp(prefix=f".{target.name}.v", dir=target.parent))
    version.chmod(0o777 & ~_umask())  # as an ordinary mkdir; mkdtemp alone gives 0700
    try:
        yield version
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    old = _current_version(target)
    link = target.with_name(f".{target.name}.link-{uuid.uuid4().hex}")
    try:  # a full disk can refuse the link itself: then nothing of the new version stays
        os.symlink(version.name, link)  # relative: the archive may be mounted elsewhere
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(version, ignore_errors=True)
        raise
    if old is not None and old != version:
        _retired(old).touch()
    _collect_retired(target)


RETIRED_GRACE_S = 60.0  # how long a replaced version stays for readers already inside it


def _retired(version: Path) -> Path:
    return version.with_name(f"{version.name}.retired")


def _current_version(target: Path) -> Path | None:
    """Return the folder ``target`` stands for now, moving a pre-version folder aside first."""
    if target.is_symlink():
        return target.parent / os.readlink(target)
    if target.is_dir():
        legacy = target.with_name(f".{target.name}.v-legacy-{uuid.uuid4().hex}")
        os.replace(target, legacy)
        return legacy
    return None


def _collect_retired(target: Path) -> None:
    """Delete the versions of ``target`` retired more than the grace period ago."""
    now = time.time()
    for marker in target.parent.glob(f".{target.name}.v*.retired"):
        try:
            if now - marker.stat().st_mtime < RETIRED_GRACE_S:
                continue
        except FileNotFoundError:  # another writer collected it
            continue
        shutil.rmtree(marker.with_suffix(""), ignore_errors=True)
        marker.unlink(missing_ok=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
