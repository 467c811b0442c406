"""What a consumer of the published recommendations receives, checked against the outbox.

The framework's :mod:`stagebook.orchestration.commands.lineage` follows asset events;
which sink a batch went to, and where its metadata lies, is this pipeline's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from recsys import paths as datasets
from stagebook import dates
from stagebook.errors import LineageError


def received(events_found: Sequence[Any]) -> dict[str, Any]:
    """Return the batch a consumer received: the newest event's extra, checked against the outbox.

    ``events_found``: the asset events a consumer task got (``triggering_asset_events``
    or ``inlet_events``), oldest first. ``verified`` says whether the outbox's
    metadata holds the same digest (None when the batch did not go to the outbox).

    Raises:
        LineageError: no event of the recommendations asset yet.
    """
    if not events_found:
        raise LineageError("no event of the recommendations asset yet: nothing to consume")
    extra = dict(events_found[-1].extra)
    verified = None
    if "outbox" in (extra.get("sinks") or []):
        outbox = datasets.paths(dates.parse_ds(extra["ds"]), extra["phase"]).outbox
        meta = datasets.outbox_meta(datasets.outbox_file(outbox, extra["ds"]))
        found = json.loads(meta.read_text()) if meta.exists() else {}
        verified = found.get("digest") == extra.get("published_digest")
    return {**extra, "verified": verified}
