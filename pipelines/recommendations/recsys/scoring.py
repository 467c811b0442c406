"""Exact FFM scoring of users x items by decomposition, in numpy, with bounded memory.

When every field is a user field or an item field, the FFM score of (user, item) is

    score = user_term(u) + item_term(i) + <uvec(u), ivec(i)>

where ``user_term`` holds the bias, the user's linear terms and the interactions
among user fields (``item_term`` likewise for the item), and the cross-field
interactions sum over user field a and item field b of <V[x_a, b], V[x_b, a]>:
the dot product of ``uvec = concat_ab V[x_a, b]`` and ``ivec = concat_ab V[x_b, a]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recsys.paths import File
from stagebook.errors import MissingInputError


def load_weights(folder: Path) -> dict[str, np.ndarray]:
    """Read the exported FFM weights of a model folder."""
    path = File.WEIGHTS.of(folder)
    if not path.exists():
        raise MissingInputError(
            f"model weights {path} do not exist: run 20-train for this date and phase"
        )
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _side(
    weights: dict, x: np.ndarray, own: np.ndarray, other: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (term, vec) of rows ``x`` whose fields are ``own``; ``other`` are the other side's."""
    v = weights["factors"][x]  # [n, F_own, F, k]
    term = weights["linear"][x].sum(axis=1)
    for a in range(len(own)):
        for b in range(a + 1, len(own)):
            term += np.einsum("nk,nk->n", v[:, a, own[b]], v[:, b, own[a]])
    vec = v[:, :, other, :]  # [n, F_own, F_other, k]
    return term, vec


def decompose(
    weights: dict[str, np.ndarray], users_x: np.ndarray, items_x: np.ndarray, n_user_fields: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (user_term, user_vec, item_term, item_vec) such that score = ut + it + uv @ iv.T."""
    n_fields = weights["factors"].shape[1]
    user_fields = np.arange(n_user_fields)
    item_fields = np.arange(n_user_fields, n_fields)
    user_term, uv = _side(weights, users_x, user_fields, item_fields)  # [nu, Fu, Fi, k]
    item_term, iv = _side(weights, items_x, item_fields, user_fields)  # [ni, Fi, Fu, k]
    user_term = user_term + float(weights["bias"])
    iv = iv.transpose(0, 2, 1, 3)  # pair (a, b) in the same order as uv
    return (
        user_term.astype(np.float32),
        uv.reshape(len(users_x), -1).astype(np.float32),
        item_term.astype(np.float32),
        iv.reshape(len(items_x), -1).astype(np.float32),
    )


def top_k(
    weights: dict[str, np.ndarray],
    users_x: np.ndarray,
    items_x: np.ndarray,
    n_user_fields: int,
    k: int,
    *,
    exclude: np.ndarray | None = None,
    block: int = 1024,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (user_rows, item_rows [n, k], logits [n, k]) per block of users, best first.

    ``exclude`` holds (user_row, item_row) pairs never to recommend (items seen).
    Memory is one block of ``block x n_items`` scores, whatever the number of users.
    """
    ut, uv, it, iv = decompose(weights, users_x, items_x, n_user_fields)
    k = min(k, len(items_x))
    excluded = exclude if exclude is not None else np.empty((0, 2), dtype=np.int64)
    order = np.argsort(excluded[:, 0], kind="stable")
    excluded = excluded[order]
    for start in range(0, len(users_x), block):
        rows = np.arange(start, min(start + block, len(users_x)))
        scores = uv[rows] @ iv.T + ut[rows, None] + it[None, :]
        lo, hi = np.searchsorted(excluded[:, 0], [rows[0], rows[-1] + 1])
        pairs = excluded[lo:hi]
        scores[pairs[:, 0] - start, pairs[:, 1]] = -np.inf
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, best, axis=1)
        rank = np.argsort(-best_scores, axis=1, kind="stable")
        yield (
            rows,
            np.take_along_axis(best, rank, axis=1),
            np.take_along_axis(best_scores, rank, axis=1),
        )
