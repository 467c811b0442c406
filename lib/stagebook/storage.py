"""The archive layout of DESIGN.md, and atomic writes into it.

Every writer goes to a temporary name beside its target, then renames, so a
reader never sees half a file and re-running a date replaces that date's output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagebook import settings


@dataclass(frozen=True)
class Paths:
    """Resolved archive paths for one date and phase."""

    home: Path
    ds: dt.date
    phase: str

    def raw_events(self, date: dt.date | None = None) -> Path:
        """Return the raw events partition of ``date`` (default: ds)."""
        return self.home / "raw" / "events" / f"date={(date or self.ds).isoformat()}"

    @property
    def tables(self) -> Path:
        """Return the input tables folder of ds (common to all phases)."""
        return self.home / "tables" / f"ds={self.ds.isoformat()}"

    @property
    def features(self) -> Path:
        """Return the features folder of ds and phase."""
        return self.home / "features" / self.phase / f"ds={self.ds.isoformat()}"

    def model(self, signature: str) -> Path:
        """Return the folder of the model with ``signature``."""
        return self.home / "models" / self.phase / signature

    @property
    def recommendations(self) -> Path:
        """Return the recommendations folder of ds and phase."""
        return self.home / "recommendations" / self.phase / f"ds={self.ds.isoformat()}"

    @property
    def outbox(self) -> Path:
        """Return the local outbox of the phase (the stream-output sink's default)."""
        return self.home / "outbox" / self.phase


def paths(ds: dt.date, phase: str, home: Path | None = None) -> Paths:
    """Return the archive paths for ``ds`` and ``phase``."""
    return Paths(home or settings.home(), ds, phase)


def report_path(dag_id: str, ds: dt.date, phase: str, stage: str, try_number: int) -> Path:
    """Return the archived notebook of one try of one stage."""
    return (
        settings.home()
        / "reports"
        / dag_id
        / ds.isoformat()
        / phase
        / f"{stage}.try{try_number}.ipynb"
    )


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
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


def replace_dir(target: Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder with ``fill(tmp)`` beside ``target``, then swap it in for ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fill(tmp)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
