"""What a gate's checks share: the row of a check, a breach, and soft limits inside hard ones.

A gate is a stage whose records the approval gate reads: ``checks`` (one row a
check, the card shows each), ``soft_breaches`` and ``approved_digest``. A
pipeline keeps its own checks (which metrics, which limits) and builds their
rows here, so every gate records the same shapes:

- a row: ``{check, value, threshold, passed}``, and ``soft_threshold`` and
  ``soft_passed`` when the check has a soft limit;
- a breach: ``{check, value, threshold}`` (an item of ``soft_breaches``).

A limit's key says its direction: ``max_*`` is an upper bound (``<=``),
``min_*`` a lower one (``>=``). Hard limits are the keys of a section of params
(e.g. ``validation.max_drift``, a :class:`Limits`); soft ones the same keys of
its ``soft`` subsection (a :class:`SoftLimits`), each optional and stricter
than its hard one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from stagebook.schema import Section

Soft = TypeVar("Soft", bound=BaseModel)


class SoftLimits(Section):
    """Base of a gate's soft limits: a breach of these alone waits for a reviewer's approval.

    Each is optional (None: no soft limit for that check) and must be stricter
    than the hard limit of the same key in the section that holds it.
    """


class Limits(Section):
    """Base of a section of a gate's hard limits: a breach of one fails the gate.

    A subclass declares its limits (``max_*``, ``min_*``), then ``soft`` (its
    :class:`SoftLimits`): declared after them, ``soft`` is validated against them.
    ``approval_timeout_s`` and ``approvers``: how long the approval the soft limits
    ask for may wait, and who may answer it.
    """

    # Unanswered this long, an approval is a rejection (at most a week).
    approval_timeout_s: int = Field(default=86_400, ge=1, le=7 * 86_400)

    # Airflow user ids (SimpleAuthManager: the user names) who may answer the gate's
    # approval; Airflow refuses anyone else. Empty: anyone with edit rights on the DAG.
    approvers: list[str] = Field(default_factory=list)

    @field_validator("soft", check_fields=False)
    @classmethod
    def _soft_inside_hard(cls, soft: SoftLimits, info: ValidationInfo) -> SoftLimits:
        return soft_inside_hard(soft, info.data)


@dataclass(frozen=True)
class Breach:
    """One failed check: its name, value and threshold."""

    check: str
    value: float | int | None
    threshold: str

    def __str__(self) -> str:
        return f"{self.check} = {self.value} (threshold {self.threshold})"

    def as_dict(self) -> dict[str, Any]:
        """Return the breach as JSON-ready data (an item of the ``soft_breaches`` record)."""
        return {"check": self.check, "value": self.value, "threshold": self.threshold}


def row(check: str, value: Any, threshold: str, passed: bool) -> dict[str, Any]:
    """Return the row of a check with a fixed rule (no limit in params), e.g. at least one row."""
    return {"check": check, "value": value, "threshold": threshold, "passed": passed}


def limited(
    check: str,
    value: Any,
    limits: Any,
    key: str,
    *,
    missing_passes: bool = False,
    section: str = "validation",
) -> dict[str, Any]:
    """Return the row of a check against its hard limit ``key`` and, if set, its soft one.

    Args:
        check: the check's name, e.g. the metric's.
        value: the metric's value; None is a missing value.
        limits: the section of params holding the hard limit ``key`` and, in
            ``limits.soft``, the optional soft limit of the same key.
        key: the limit's name, ``max_*`` or ``min_*``.
        missing_passes: whether a missing value passes (it fails by default).
        section: the section's name in params, shown in the thresholds.
    """
    most = _at_most(key)
    sign = "<=" if most else ">="
    hard, soft = getattr(limits, key), getattr(limits.soft, key)

    def within(bound: float) -> bool:
        if value is None:
            return missing_passes
        return value <= bound if most else value >= bound

    found = row(check, value, f"{sign} {hard} ({section}.{key})", within(hard))
    if soft is not None:
        found["soft_threshold"] = f"{sign} {soft} ({section}.soft.{key})"
        found["soft_passed"] = within(soft)
    return found


def breaches(rows: Sequence[Mapping[str, Any]]) -> list[Breach]:
    """Return the checks of ``rows`` that breach their hard limit."""
    return [Breach(r["check"], r["value"], r["threshold"]) for r in rows if not r["passed"]]


def soft_breaches(rows: Sequence[Mapping[str, Any]]) -> list[Breach]:
    """Return the checks of ``rows`` within their hard limit that breach their soft limit."""
    return [
        Breach(r["check"], r["value"], r["soft_threshold"])
        for r in rows
        if r["passed"] and r.get("soft_passed") is False
    ]


def soft_inside_hard(soft: Soft, hard: Mapping[str, Any]) -> Soft:
    """Return ``soft`` if each of its limits is stricter than the hard limit of the same key.

    ``hard``: the hard limits by key (in a validator, the ones validated
    before). A key with no soft or no valid hard limit is passed over: the
    latter's own error is reported.

    Raises:
        ValueError: a soft limit is looser than its hard one (it would never be breached first).
    """
    for key in type(soft).model_fields:
        limit, bound = getattr(soft, key), hard.get(key)
        if limit is None or bound is None:
            continue
        most = _at_most(key)
        if not (limit <= bound if most else limit >= bound):
            side = "at most" if most else "at least"
            raise ValueError(
                f"soft.{key} = {limit} must be {side} the hard limit {key} = {bound}: "
                "a soft limit is breached before the hard one"
            )
    return soft


def _at_most(key: str) -> bool:
    """Return whether the limit ``key`` is an upper bound (``max_*``) or a lower one (``min_*``)."""
    if key.startswith("max_"):
        return True
    if key.startswith("min_"):
        return False
    raise ValueError(f"limit {key!r} must be named max_<metric> or min_<metric>: rename it")
