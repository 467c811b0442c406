"""The gate's checks of a forecast before it is published: pure functions, and what passed.

Hard limits (``validation:`` in params) fail validate and nothing is published;
soft limits (``validation.soft``) breached alone make the approve task wait for
a reviewer. The checks and breaches have the shapes the framework's approval
gate reads (``checks``, ``soft_breaches``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from stagebook import atomic, limits
from stagebook.limits import Breach
from weather.errors import NotValidated
from weather.params import ValidationParams
from weather.paths import File, WeatherPaths


def gate_metrics(backtest: Mapping[str, Any], forecast: float) -> dict[str, Any]:
    """Return every number the gate checks: the backtest's, and the forecast (None if not finite)."""
    return {
        **{k: backtest.get(k) for k in ("mae_model", "mae_naive", "skill", "bias_model", "days")},
        "forecast_temp_max": forecast if math.isfinite(forecast) else None,
    }


# The limited checks: (metric, key of its limit in validation: and validation.soft)
LIMITS = (("skill", "min_skill"), ("mae_model", "max_mae"))


def checks(metrics: Mapping[str, Any], thresholds: ValidationParams) -> list[dict[str, Any]]:
    """Return every check on ``metrics``: its value, limits and whether it passed.

    ``passed`` is against the hard limit; a check with a soft limit also has
    ``soft_threshold`` and ``soft_passed``. A missing value fails.
    """
    days, forecast = metrics.get("days"), metrics.get("forecast_temp_max")
    return [
        limits.row("days", days, ">= 1 (backtested days)", (days or 0) >= 1),
        limits.row("forecast_temp_max", forecast, "a finite number (always)", forecast is not None),
        *(limits.limited(name, metrics.get(name), thresholds, key) for name, key in LIMITS),
    ]


def breaches(rows: Sequence[Mapping[str, Any]]) -> list[Breach]:
    """Return the checks of ``rows`` (from :func:`checks`) that breach their hard limit."""
    return limits.breaches(rows)


def soft_breaches(rows: Sequence[Mapping[str, Any]]) -> list[Breach]:
    """Return the checks of ``rows`` within their hard limit that breach their soft limit."""
    return limits.soft_breaches(rows)


def passed(paths: WeatherPaths, digest: str, run_id: str, soft: Sequence[Breach] = ()) -> None:
    """Keep the digest of the forecast that passed (what publish checks), and its soft breaches."""
    approval = {"digest": digest, "run_id": run_id, "soft_breaches": [b.as_dict() for b in soft]}
    with atomic.replacing(paths.validated) as folder:
        atomic.write_json(File.APPROVAL.of(folder), approval)


def approved(paths: WeatherPaths, digest: str, approval: Mapping[str, Any] | None) -> None:
    """Check that the forecast of ``digest`` is the one validation passed (and a reviewer approved).

    ``approval``: the approve task's decision, needed when validation breached a soft limit.

    Raises:
        NotValidated: none passed, the forecast changed since, or a soft limit was
            breached and no reviewer approved this forecast.
    """
    kept = File.APPROVAL.of(paths.validated)
    if not kept.exists():
        raise NotValidated(
            f"{paths.ds}: no validation passed this forecast ({kept} does not exist): run "
            "30-validate for this date, then publish"
        )
    passed_at = json.loads(kept.read_text())
    if passed_at["digest"] != digest:
        raise NotValidated(
            f"{paths.ds}: the forecast (sha256 {digest[:12]}) is not the one 30-validate passed "
            f"(sha256 {passed_at['digest'][:12]}, {kept}): run 30-validate again, then publish"
        )
    soft, answer = passed_at.get("soft_breaches") or [], dict(approval or {})
    if soft and (answer.get("decision") != "approved" or answer.get("digest") != digest):
        breached = "; ".join(f"{b['check']} = {b['value']} ({b['threshold']})" for b in soft)
        raise NotValidated(
            f"{paths.ds}: validation breached soft limits ({breached}) and no reviewer approved "
            f"this forecast (sha256 {digest[:12]}) in this run: run 30-validate and approve "
            "again, and approve it. Nothing was published."
        )
