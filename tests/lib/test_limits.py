import pytest
from pydantic import ValidationError

from stagebook import limits


class Soft(limits.SoftLimits):
    max_drift: float | None = None
    min_coverage: float | None = None


class Gate(limits.Limits):
    max_drift: float
    min_coverage: float
    soft: Soft = Soft()


def gate(**soft):
    return Gate(max_drift=0.5, min_coverage=0.2, soft=Soft(**soft))


def test_a_breach_reads_as_its_check_value_and_threshold_and_keeps_that_shape_as_data():
    breach = limits.Breach("drift", 0.61, "<= 0.5 (validation.soft.max_drift)")
    assert str(breach) == "drift = 0.61 (threshold <= 0.5 (validation.soft.max_drift))"
    assert breach.as_dict() == {
        "check": "drift",
        "value": 0.61,
        "threshold": "<= 0.5 (validation.soft.max_drift)",
    }


def test_a_row_passes_within_its_hard_limit_and_fails_past_it_in_the_keys_direction():
    assert limits.limited("drift", 0.5, gate(), "max_drift") == {
        "check": "drift",
        "value": 0.5,
        "threshold": "<= 0.5 (validation.max_drift)",
        "passed": True,
    }
    assert limits.limited("drift", 0.51, gate(), "max_drift")["passed"] is False
    assert limits.limited("coverage", 0.19, gate(), "min_coverage")["passed"] is False
    low = limits.limited("coverage", 0.2, gate(), "min_coverage")
    assert low["passed"] is True and low["threshold"] == ">= 0.2 (validation.min_coverage)"


def test_a_row_past_its_soft_limit_only_is_a_soft_breach_and_past_both_a_hard_one():
    thresholds = gate(max_drift=0.3, min_coverage=0.4)
    rows = [
        limits.row("rows", 4, ">= 1", True),
        limits.limited("drift", 0.4, thresholds, "max_drift"),
        limits.limited("coverage", 0.1, thresholds, "min_coverage"),
    ]
    assert rows[1] == {
        "check": "drift",
        "value": 0.4,
        "threshold": "<= 0.5 (validation.max_drift)",
        "passed": True,
        "soft_threshold": "<= 0.3 (validation.soft.max_drift)",
        "soft_passed": False,
    }
    assert limits.breaches(rows) == [
        limits.Breach("coverage", 0.1, ">= 0.2 (validation.min_coverage)")
    ]
    assert limits.soft_breaches(rows) == [
        limits.Breach("drift", 0.4, "<= 0.3 (validation.soft.max_drift)")
    ]


def test_a_missing_value_fails_its_limits_unless_the_gate_lets_it_pass():
    thresholds = gate(max_drift=0.3)
    failed = limits.limited("drift", None, thresholds, "max_drift")
    assert failed["passed"] is False and failed["soft_passed"] is False
    let = limits.limited("drift", None, thresholds, "max_drift", missing_passes=True)
    assert let["passed"] is True and let["soft_passed"] is True


def test_a_soft_limit_looser_than_its_hard_one_is_refused_in_one_line_naming_the_key():
    assert gate(max_drift=0.5, min_coverage=0.2).soft.max_drift == 0.5  # as strict: accepted
    with pytest.raises(ValidationError) as found:
        gate(min_coverage=0.1)
    (error,) = found.value.errors()
    assert error["loc"] == ("soft",) and "\n" not in error["msg"]
    assert (
        "soft.min_coverage = 0.1 must be at least the hard limit min_coverage = 0.2"
        in (error["msg"])
    )


def test_a_limit_named_neither_max_nor_min_is_refused_naming_it():
    class Drift(limits.SoftLimits):
        drift: float | None = None

    with pytest.raises(ValueError, match="limit 'drift' must be named max_<metric> or min_"):
        limits.soft_inside_hard(Drift(drift=0.1), {"drift": 0.5})
