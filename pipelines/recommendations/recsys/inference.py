"""Recommendations: top-K items per target user, by the model or by popularity, on disk.

The recommendations table has one row per (user, rank): ``user_id``, ``rank``,
``item_id``, ``score`` and ``model_signature``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable

import numpy as np
import pandas as pd

from recsys.paths import File, RecsysPaths
from stagebook import atomic
from stagebook.errors import MissingInputError


def exclusions(users: pd.DataFrame, items: pd.DataFrame, seen: pd.DataFrame) -> np.ndarray:
    """Return the (user row, item row) pairs of ``seen``, which are never recommended."""
    return np.stack(
        [
            pd.Index(users["user_id"]).get_indexer(seen["user_id"]),
            pd.Index(items["item_id"]).get_indexer(seen["item_id"]),
        ],
        axis=1,
    )


def popular(events: pd.DataFrame, users: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """Return the fallback: every user gets the ``top_k`` most clicked items of ``events``.

    Scores are each item's clicks relative to the most clicked one.
    """
    clicks = events.groupby("item_id")["label"].sum()
    top = clicks.sort_values(ascending=False, kind="stable").head(top_k)
    return pd.DataFrame(
        {
            "user_id": np.repeat(users["user_id"].to_numpy(), len(top)),
            "rank": np.tile(np.arange(1, len(top) + 1), len(users)),
            "item_id": np.tile(top.index.to_numpy(), len(users)),
            "score": np.tile((top / top.max()).to_numpy(np.float32), len(users)),
        }
    )


def table(
    blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    users: pd.DataFrame,
    items: pd.DataFrame,
) -> pd.DataFrame:
    """Return the scored blocks of :func:`~recsys.scoring.top_k` as a table.

    Scores are click probabilities. A user with fewer unseen items than K gets
    fewer rows (their missing slots have a logit of -inf).
    """
    user_ids, item_ids = users["user_id"].to_numpy(), items["item_id"].to_numpy()
    frames = []
    for rows, best, logits in blocks:
        keep = np.isfinite(logits).ravel()
        frames.append(
            pd.DataFrame(
                {
                    "user_id": user_ids[np.repeat(rows, best.shape[1])][keep],
                    "rank": np.tile(np.arange(1, best.shape[1] + 1), len(rows))[keep],
                    "item_id": item_ids[best.ravel()][keep],
                    "score": (1 / (1 + np.exp(-logits.ravel()[keep]))).astype(np.float32),
                }
            )
        )
    columns = {"user_id": [], "rank": [], "item_id": [], "score": []}
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns)


def summary(recs: pd.DataFrame) -> dict[str, float | int]:
    """Return users, rows, distinct items and the score range of a recommendations table."""
    return {
        "users": int(recs["user_id"].nunique()),
        "rows": len(recs),
        "items": int(recs["item_id"].nunique()),
        "score_min": float(recs["score"].min()),
        "score_max": float(recs["score"].max()),
        "score_mean": float(recs["score"].mean()),
    }


def write(recs: pd.DataFrame, paths: RecsysPaths) -> None:
    """Write the recommendations of a date and phase, replacing its folder whole."""
    with atomic.replacing(paths.recommendations) as folder:
        recs.to_parquet(File.RECOMMENDATIONS.of(folder), index=False)


def read(paths: RecsysPaths) -> tuple[pd.DataFrame, str]:
    """Read the recommendations of a date and phase, and the SHA-256 of exactly what was read.

    Raises:
        MissingInputError: naming the file and the stage to run, if there are none.
    """
    path = File.RECOMMENDATIONS.of(paths.recommendations)
    if not path.exists():
        raise MissingInputError(
            f"{path} does not exist: run 30-inference for {paths.ds} ({paths.phase}) first"
        )
    data = path.read_bytes()
    return pd.read_parquet(io.BytesIO(data)), hashlib.sha256(data).hexdigest()
