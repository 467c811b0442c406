import datetime as dt

import pytest
from pydantic import ValidationError

from stagebook import params
from weather import validation
from weather.errors import NotValidated
from weather.params import SoftLimits, ValidationParams

GOOD = {"mae_model": 1.9, "mae_naive": 2.2, "skill": 0.14, "bias_model": 0.1, "days": 90}


def limits(**soft):
    return ValidationParams(min_skill=0.0, max_mae=4.0, soft=SoftLimits(**soft))


def test_every_check_passes_a_forecast_that_beats_persistence():
    rows = validation.checks(validation.gate_metrics(GOOD, 6.58), limits())
    assert [r["check"] for r in rows] == ["days", "forecast_temp_max", "skill", "mae_model"]
    assert all(r["passed"] for r in rows)
    assert validation.breaches(rows) == [] and validation.soft_breaches(rows) == []


def test_a_model_worse_than_persistence_or_too_wrong_breaches_the_hard_limits():
    worse = {**GOOD, "skill": -0.05, "mae_model": 4.5}
    found = validation.breaches(validation.checks(validation.gate_metrics(worse, 6.0), limits()))
    assert [(b.check, b.value) for b in found] == [("skill", -0.05), ("mae_model", 4.5)]
    assert str(found[0]) == "skill = -0.05 (threshold >= 0.0 (validation.min_skill))"


def test_a_forecast_that_is_not_a_number_or_a_missing_skill_fails():
    nothing = {**GOOD, "skill": None}
    rows = validation.checks(validation.gate_metrics(nothing, float("nan")), limits())
    assert {b.check for b in validation.breaches(rows)} == {"forecast_temp_max", "skill"}


def test_a_soft_breach_alone_is_recorded_for_the_reviewer_in_the_gates_shape():
    rows = validation.checks(validation.gate_metrics(GOOD, 6.58), limits(min_skill=0.2))
    skill = next(r for r in rows if r["check"] == "skill")
    assert skill["passed"] is True and skill["soft_passed"] is False
    assert skill["soft_threshold"] == ">= 0.2 (validation.soft.min_skill)"
    assert validation.breaches(rows) == []
    assert [b.as_dict() for b in validation.soft_breaches(rows)] == [
        {"check": "skill", "value": 0.14, "threshold": ">= 0.2 (validation.soft.min_skill)"}
    ]


def test_a_soft_limit_looser_than_its_hard_limit_is_refused():
    with pytest.raises(ValidationError, match="soft.max_mae = 5.0 must be at most the hard limit"):
        limits(max_mae=5.0)


def test_publish_needs_the_digest_that_passed_and_an_approval_after_a_soft_breach(home):
    paths = params.load().paths(dt.date(2015, 11, 30), "common")
    with pytest.raises(NotValidated, match="no validation passed this forecast"):
        validation.approved(paths, "a" * 64, None)
    validation.passed(paths, "a" * 64, "run-1")
    validation.approved(paths, "a" * 64, None)
    with pytest.raises(NotValidated, match="is not the one 30-validate passed"):
        validation.approved(paths, "b" * 64, None)
    soft = validation.Breach("skill", 0.14, ">= 0.2 (validation.soft.min_skill)")
    validation.passed(paths, "a" * 64, "run-2", soft=[soft])
    with pytest.raises(NotValidated, match="no reviewer approved") as found:
        validation.approved(paths, "a" * 64, {"required": True, "decision": "rejected"})
    assert "\n" not in str(found.value)
    validation.approved(paths, "a" * 64, {"decision": "approved", "digest": "a" * 64})
