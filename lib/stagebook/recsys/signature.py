"""Model signatures: ``ffm.<market>.<trained_at:%Y%m%d%H%M>_<ds:%Y%m%d>``."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

from stagebook.errors import MissingInputError

PATTERN = re.compile(r"^ffm\.(?P<market>[A-Za-z0-9]+)\.(?P<trained_at>\d{12})_(?P<ds>\d{8})$")


def make(market: str, trained_at: dt.datetime, ds: dt.date) -> str:
    """Return the signature of a model of ``market`` trained at ``trained_at`` on data up to ``ds``."""
    return f"ffm.{market}.{trained_at:%Y%m%d%H%M}_{ds:%Y%m%d}"


def parse(signature: str) -> dict[str, str]:
    """Split a signature into market, trained_at and ds; raise MissingInputError naming a malformed one."""
    match = PATTERN.match(signature)
    if not match:
        raise MissingInputError(
            f"model signature {signature!r} is not of the form ffm.<market>.<YYYYmmddHHMM>_<YYYYmmdd>"
        )
    return match.groupdict()


def latest(models: Path) -> str:
    """Return the newest signature under a phase's models folder (for running a notebook by hand)."""
    found = sorted(
        (p.name for p in models.glob("ffm.*") if PATTERN.match(p.name)),
        key=lambda s: parse(s)["trained_at"],
    )
    if not found:
        raise MissingInputError(f"no model under {models}: run 20-train for this phase first")
    return found[-1]


LIBRARIES = (
    "stagebook",
    "keras",
    "jax",
    "numpy",
    "pandas",
    "apache-airflow",
    "papermill",
)


def describe(
    signature: str,
    ctx: Any,
    *,
    trained_at: dt.datetime,
    metrics: dict[str, Any],
    rows: dict[str, int],
    window: tuple[dt.date, dt.date],
) -> dict[str, Any]:
    """Return the content of ``signature.json``: what a model is and how it was made."""
    import importlib.metadata

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    keras = sys.modules.get(
        "keras"
    )  # the backend training used; importing Keras here would pick one
    versions["keras_backend"] = keras.backend.backend() if keras else None
    return {
        "signature": signature,
        "market": ctx.params.market,
        "ds": ctx.ds.isoformat(),
        "phase": ctx.phase,
        "run_id": ctx.run_id,
        "try_number": ctx.try_number,
        "trained_at": trained_at.isoformat(),
        "data_window": {"first": window[0].isoformat(), "last": window[1].isoformat()},
        "rows": rows,
        "metrics": metrics,
        "params": ctx.params.model_dump(mode="json", by_alias=True),
        "libraries": versions,
    }
