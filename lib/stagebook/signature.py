"""Model signatures: ``ffm.<market>.<trained_at:%Y%m%d%H%M>_<ds:%Y%m%d>``."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

PATTERN = re.compile(r"^ffm\.(?P<market>[A-Za-z0-9]+)\.(?P<trained_at>\d{12})_(?P<ds>\d{8})$")


def make(market: str, trained_at: dt.datetime, ds: dt.date) -> str:
    """Return the signature of a model of ``market`` trained at ``trained_at`` on data up to ``ds``."""
    return f"ffm.{market}.{trained_at:%Y%m%d%H%M}_{ds:%Y%m%d}"


def parse(signature: str) -> dict[str, str]:
    """Split a signature into market, trained_at and ds; raise ValueError naming a malformed one."""
    match = PATTERN.match(signature)
    if not match:
        raise ValueError(
            f"model signature {signature!r} is not of the form ffm.<market>.<YYYYmmddHHMM>_<YYYYmmdd>"
        )
    return match.groupdict()


def latest(models: Path) -> str:
    """Return the newest signature under a phase's models folder (for running a notebook by hand)."""
    from stagebook.errors import MissingInputError

    found = sorted(
        (p.name for p in models.glob("ffm.*") if PATTERN.match(p.name)),
        key=lambda s: parse(s)["trained_at"],
    )
    if not found:
        raise MissingInputError(f"no model under {models}: run 20-train for this phase first")
    return found[-1]
