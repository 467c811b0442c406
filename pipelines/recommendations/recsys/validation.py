"""Checks of a night's recommendations before they are published: pure functions.

The recommendations table has one row per (user, rank): ``user_id``, ``rank``,
``item_id``, ``score``. Each check returns plain numbers; :func:`breaches`
compares them with the phase's thresholds (``validation:`` in params).

Drift compares today's recommended-item distribution (the share of all
recommendation slots that each item takes) with the mean of the previous days'
distributions. KL divergence is infinite for an item the baseline never
recommended, so both distributions are smoothed over the union of their items
first: ``p' = (p + eps) / (1 + eps * n_items)`` with ``eps = validation.smoothing``.
The Jensen-Shannon distance (base 2, in [0, 1]) needs no smoothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from recsys import inference
from recsys.errors import NotValidated
from recsys.params import ValidationParams
from recsys.paths import File, RecsysPaths
from stagebook import atomic, limits
from stagebook.limits import Breach


def score_stats(recs: pd.DataFrame) -> dict[str, float | int]:
    """Return min, max, mean and quantiles of the finite scores, and how many are not finite."""
    scores = recs["score"].to_numpy(np.float64)
    finite = scores[np.isfinite(scores)]
    stats: dict[str, float | int] = {"non_finite_scores": int(len(scores) - len(finite))}
    if len(finite) == 0:
        return {**stats, "score_min": None, "score_max": None, "score_mean": None}
    q = np.quantile(finite, [0.05, 0.5, 0.95])
    return {
        **stats,
        "score_min": float(finite.min()),
        "score_max": float(finite.max()),
        "score_mean": float(finite.mean()),
        "score_p05": float(q[0]),
        "score_p50": float(q[1]),
        "score_p95": float(q[2]),
    }


def duplicates(recs: pd.DataFrame) -> dict[str, int]:
    """Return repeated (user, item) pairs, and users whose list repeats a rank (listed twice)."""
    return {
        "duplicate_pairs": int(recs.duplicated(["user_id", "item_id"]).sum()),
        "duplicate_users": int(recs[recs.duplicated(["user_id", "rank"])]["user_id"].nunique()),
    }


def coverage(
    recs: pd.DataFrame, target_users: Sequence, catalogue: Sequence, top_k: int
) -> dict[str, float]:
    """Return the share of target users with a full top-K list, and of the catalogue recommended."""
    per_user = recs.groupby("user_id")["item_id"].nunique()
    full = per_user[per_user >= top_k].index
    users = pd.Index(pd.unique(pd.Series(target_users)))
    items = pd.Index(pd.unique(pd.Series(catalogue)))
    return {
        "user_coverage": float(users.isin(full).mean()) if len(users) else 0.0,
        "catalogue_coverage": float(items.isin(recs["item_id"].unique()).mean())
        if len(items)
        else 0.0,
    }


def item_distribution(recs: pd.DataFrame) -> pd.Series:
    """Return each item's share of all recommendation slots, indexed by item, largest first."""
    counts = recs["item_id"].astype(str).value_counts()
    return (counts / counts.sum()).rename("share")


def baseline(history: Sequence[pd.Series]) -> pd.Series:
    """Return the mean of earlier days' distributions (an item absent on a day counts 0 there)."""
    if not history:
        return pd.Series(dtype=float, name="share")
    frame = pd.concat(list(history), axis=1).fillna(0.0)
    return frame.mean(axis=1).rename("share")


def drift(today: pd.Series, base: pd.Series, smoothing: float) -> dict[str, float]:
    """Return KL(today || base) with additive smoothing and the Jensen-Shannon distance."""
    items = today.index.union(base.index)
    p = today.reindex(items, fill_value=0.0).to_numpy(np.float64)
    q = base.reindex(items, fill_value=0.0).to_numpy(np.float64)
    p_s = (p + smoothing) / (1 + smoothing * len(items))
    q_s = (q + smoothing) / (1 + smoothing * len(items))
    return {
        "kl_divergence": float(np.sum(p_s * np.log(p_s / q_s))),
        "js_distance": float(jensenshannon(p, q, base=2)),
    }


def checks(metrics: Mapping[str, Any], thresholds: ValidationParams) -> list[dict[str, Any]]:
    """Return every check of the gate on ``metrics``: its value, limits and whether it passed.

    ``passed`` is against the hard limit; a check with a soft limit
    (``validation.soft``) also has ``soft_threshold`` and ``soft_passed``. A
    missing metric passes its limit. Drift is checked only against a baseline
    (``drift_days`` > 0). Each check is JSON-ready, for the ``checks`` record the
    report's card shows.
    """

    def none(name: str, threshold: str) -> dict[str, Any]:
        return limits.row(name, metrics.get(name), threshold, not metrics.get(name))

    found = [
        limits.row("rows", metrics.get("rows"), ">= 1", metrics.get("rows", 1) != 0),
        none("non_finite_scores", "<= 0 (always)"),
        none("other_signatures", "<= 0 (rows must come from the model train recorded)"),
    ]
    # (metric, key of its limit in validation: and validation.soft)
    bounded = [
        ("duplicate_pairs", "max_duplicates"),
        ("duplicate_users", "max_duplicates"),
        ("user_coverage", "min_user_coverage"),
        ("catalogue_coverage", "min_catalogue_coverage"),
    ]
    if metrics.get("drift_days", 0) > 0:
        bounded += [("kl_divergence", "max_kl"), ("js_distance", "max_js")]
    return found + [
        limits.limited(name, metrics.get(name), thresholds, key, missing_passes=True)
        for name, key in bounded
    ]


def breaches(metrics: Mapping[str, Any], thresholds: ValidationParams) -> list[Breach]:
    """Return every check of ``metrics`` that breaches a hard limit of ``thresholds``."""
    return limits.breaches(checks(metrics, thresholds))


def soft_breaches(metrics: Mapping[str, Any], thresholds: ValidationParams) -> list[Breach]:
    """Return every check within its hard limit that breaches its soft limit (``validation.soft``)."""
    return limits.soft_breaches(checks(metrics, thresholds))


def history(paths: RecsysPaths, days: int) -> dict[dt.date, pd.Series]:
    """Return the kept item distributions of the ``days`` dates before ``paths.ds`` that passed."""
    found = {}
    for back in range(1, days + 1):
        day = paths.ds - dt.timedelta(days=back)
        stored = File.DISTRIBUTION.of(paths.on(day).validated)
        if stored.exists():
            found[day] = pd.read_parquet(stored).set_index("item_id")["share"]
    return found


def gate_metrics(
    recs: pd.DataFrame,
    *,
    users: Sequence,
    items: Sequence,
    top_k: int,
    model_signature: str,
    earlier: Mapping[dt.date, pd.Series],
    smoothing: float,
) -> dict[str, float | int | None]:
    """Return every number the gate checks: scores, duplicates, coverage, provenance, drift."""
    no_drift = {"kl_divergence": None, "js_distance": None}
    today = item_distribution(recs)
    return {
        "rows": len(recs),
        "users": int(recs["user_id"].nunique()),
        **score_stats(recs),
        **duplicates(recs),
        **coverage(recs, users, items, top_k),
        "other_signatures": int((recs["model_signature"] != model_signature).sum()),
        "drift_days": len(earlier),
        **(drift(today, baseline(list(earlier.values())), smoothing) if earlier else no_drift),
    }


def passed(
    recs: pd.DataFrame,
    digest: str,
    paths: RecsysPaths,
    run_id: str,
    soft: Sequence[Breach] = (),
) -> None:
    """Keep what a day that passed leaves: the digest of its recommendations, its item distribution.

    The digest is what publish checks; the distribution joins later days' baselines.
    Both live apart from the recommendations, so a later inference cannot drop them.
    ``soft``: the soft limits the day breached; publish then also needs a reviewer's approval.
    """
    with atomic.replacing(paths.validated) as folder:
        distribution = item_distribution(recs).rename_axis("item_id").reset_index()
        distribution.to_parquet(File.DISTRIBUTION.of(folder), index=False)
        approval = {
            "digest": digest,
            "rows": len(recs),
            "run_id": run_id,
            "soft_breaches": [b.as_dict() for b in soft],
        }
        atomic.write_json(File.APPROVAL.of(folder), approval)


def approved(paths: RecsysPaths, approval: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return the recommendations of a date and phase, if they are exactly what validation passed.

    ``approval``: the reviewer's decision (the approve task's ``approval`` record),
    needed when validation breached a soft limit: it must approve this digest.

    Raises:
        NotValidated: none passed, the recommendations changed since (a later
            inference), or a soft limit was breached and no reviewer approved them.
    """
    recs, digest = inference.read(paths)
    approval_file = File.APPROVAL.of(paths.validated)
    if not approval_file.exists():
        raise NotValidated(
            f"{paths.ds} ({paths.phase}): no validation passed these recommendations "
            f"({approval_file} does not exist): run 40-validate for this date, then publish"
        )
    passed_at = json.loads(approval_file.read_text())
    passed_digest = passed_at["digest"]
    if passed_digest != digest:
        raise NotValidated(
            f"{paths.ds} ({paths.phase}): the recommendations (sha256 {digest[:12]}) are not the ones "
            f"40-validate passed (sha256 {passed_digest[:12]}, {approval_file}); they changed since: "
            "run 40-validate for this date again, then publish. Nothing was published."
        )
    soft = passed_at.get("soft_breaches") or []
    approving = dict(approval or {})
    if soft and (approving.get("decision") != "approved" or approving.get("digest") != digest):
        breached = "; ".join(f"{b['check']} = {b['value']} ({b['threshold']})" for b in soft)
        raise NotValidated(
            f"{paths.ds} ({paths.phase}): validation breached soft limits ({breached}) and no "
            f"reviewer approved these recommendations (sha256 {digest[:12]}) in this run: run "
            f"40-validate and the approve task of {paths.phase} again, and approve them. "
            "Nothing was published."
        )
    return recs
