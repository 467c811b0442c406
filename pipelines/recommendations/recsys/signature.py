"""Model signatures: ``ffm.<market>.<trained_at:%Y%m%d%H%M%S>_<ds:%Y%m%d>_<try:6 hex>``.

Read as: the model of ``market`` trained at ``trained_at`` on data up to ``ds``
by one training try. The last part (a hash of the run, the try and the exact
time of training) keeps two tries that trained in the same second, e.g. two
runs of one date at once, from sharing a model folder. Signatures sort by
``trained_at``. Models trained before the last part existed have a minute
``trained_at`` and no last part (``ffm.TH.201911200857_20191120``): they still
parse, and :func:`latest` weighs them with the new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

from stagebook.errors import MissingInputError

PATTERN = re.compile(
    r"^ffm\.(?P<market>[A-Za-z0-9]+)\.(?P<trained_at>\d{14}|\d{12})_(?P<ds>\d{8})"
    r"(?:_(?P<try_id>[0-9a-f]{6}))?$"
)


def make(market: str, trained_at: dt.datetime, ds: dt.date, *, run_id: str, try_number: int) -> str:
    """Return the signature of a model of ``market`` trained at ``trained_at`` on data up to ``ds``.

    Args:
        market: the market the model serves.
        trained_at: when training finished (to the microsecond: it feeds the last part).
        ds: the last date of the training data.
        run_id: the Airflow run that trained it (``manual`` outside Airflow).
        try_number: the try of the training task.
    """
    made_by = f"{run_id}\n{try_number}\n{trained_at.isoformat()}"
    try_id = hashlib.sha256(made_by.encode()).hexdigest()[:6]
    return f"ffm.{market}.{trained_at:%Y%m%d%H%M%S}_{ds:%Y%m%d}_{try_id}"


def parse(signature: str) -> dict[str, str | None]:
    """Split a signature into market, trained_at, ds and try_id (None for an old signature).

    Raises:
        MissingInputError: naming a malformed signature.
    """
    match = PATTERN.match(signature)
    if not match:
        raise MissingInputError(
            f"model signature {signature!r} is not of the form "
            "ffm.<market>.<YYYYmmddHHMMSS>_<YYYYmmdd>_<6 hex>: name a model folder under models/<phase>"
        )
    return match.groupdict()


def _training_order(signature: str) -> tuple[str, str]:
    """Return a key that sorts signatures by training time, old (minute) and new (second) alike."""
    return parse(signature)["trained_at"].ljust(14, "0"), signature


def latest(models: Path) -> str:
    """Return the newest signature under a phase's models folder (for running a notebook by hand)."""
    found = sorted(
        (p.name for p in models.glob("ffm.*") if PATTERN.match(p.name)), key=_training_order
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
