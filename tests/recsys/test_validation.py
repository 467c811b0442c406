import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from recsys import inference, validation
from recsys import paths as datasets
from recsys.errors import NotValidated
from stagebook import params


def recs(rows):
    return pd.DataFrame(rows, columns=["user_id", "rank", "item_id", "score"])


GOOD = recs(
    [
        ("u1", 1, "a", 0.9),
        ("u1", 2, "b", 0.5),
        ("u2", 1, "a", 0.8),
        ("u2", 2, "c", 0.2),
    ]
)


def test_score_stats_by_hand():
    stats = validation.score_stats(GOOD)
    assert stats["score_min"] == 0.2 and stats["score_max"] == 0.9
    assert stats["score_mean"] == pytest.approx((0.9 + 0.5 + 0.8 + 0.2) / 4)
    assert stats["score_p50"] == pytest.approx(0.65)
    assert stats["non_finite_scores"] == 0
    bad = recs([("u1", 1, "a", float("nan")), ("u1", 2, "b", float("inf")), ("u2", 1, "a", 0.5)])
    stats = validation.score_stats(bad)
    assert stats["non_finite_scores"] == 2 and stats["score_max"] == 0.5
    thresholds = params.load("prod").validation
    assert [b.check for b in validation.breaches(stats, thresholds)] == ["non_finite_scores"]


def test_duplicates_by_hand():
    dup = recs([("u1", 1, "a", 0.9), ("u1", 2, "a", 0.5), ("u2", 1, "b", 0.5), ("u2", 1, "c", 0.4)])
    assert validation.duplicates(dup) == {"duplicate_pairs": 1, "duplicate_users": 1}
    assert validation.duplicates(GOOD) == {"duplicate_pairs": 0, "duplicate_users": 0}


def test_coverage_by_hand():
    got = validation.coverage(GOOD, ["u1", "u2", "u3", "u4"], ["a", "b", "c", "d", "e"], top_k=2)
    assert got == {"user_coverage": 0.5, "catalogue_coverage": 0.6}
    assert validation.coverage(GOOD, ["u1", "u2"], ["a", "b"], top_k=3)["user_coverage"] == 0.0


def test_item_distribution_and_baseline_by_hand():
    today = validation.item_distribution(GOOD)
    assert today.to_dict() == {"a": 0.5, "b": 0.25, "c": 0.25}
    day1 = pd.Series({"a": 1.0})
    day2 = pd.Series({"a": 0.5, "b": 0.5})
    assert validation.baseline([day1, day2]).to_dict() == {"a": 0.75, "b": 0.25}
    assert validation.baseline([]).empty


def test_kl_is_smoothed_for_items_the_baseline_never_saw():
    today = pd.Series({"a": 0.5, "c": 0.5})
    base = pd.Series({"a": 0.5, "b": 0.5})
    eps = 0.01
    got = validation.drift(today, base, smoothing=eps)
    # union {a, b, c}; p = (.5, 0, .5), q = (.5, .5, 0); smoothed by (x + eps) / (1 + 3 eps)
    z = 1 + 3 * eps
    p = np.array([0.5 + eps, eps, 0.5 + eps]) / z
    q = np.array([0.5 + eps, 0.5 + eps, eps]) / z
    assert got["kl_divergence"] == pytest.approx(float(np.sum(p * np.log(p / q))))
    assert math.isfinite(got["kl_divergence"])
    # JS (base 2): M = (.5, .25, .25); JS = .5 KL(P||M) + .5 KL(Q||M) = .5 bit; distance = sqrt
    assert got["js_distance"] == pytest.approx(math.sqrt(0.5))
    same = validation.drift(base, base, smoothing=eps)
    assert same["kl_divergence"] == pytest.approx(0.0) and same["js_distance"] == pytest.approx(0.0)


def test_breaches_list_every_failed_check_with_value_and_threshold():
    thresholds = params.load("prod").validation.model_copy(
        update={"max_js": 0.3, "min_catalogue_coverage": 0.5}
    )
    metrics = {
        "rows": 4,
        "non_finite_scores": 0,
        "duplicate_pairs": 2,
        "duplicate_users": 0,
        "user_coverage": 1.0,
        "catalogue_coverage": 0.1,
        "kl_divergence": 0.2,
        "js_distance": 0.7,
        "drift_days": 3,
    }
    found = validation.breaches(metrics, thresholds)
    assert [b.check for b in found] == ["duplicate_pairs", "catalogue_coverage", "js_distance"]
    assert str(found[2]) == "js_distance = 0.7 (threshold <= 0.3 (validation.max_js))"
    # no earlier days: the drift check passes (and the report says so)
    assert [b.check for b in validation.breaches({**metrics, "drift_days": 0}, thresholds)] == [
        "duplicate_pairs",
        "catalogue_coverage",
    ]


def gated(recs, earlier, signature="sig"):
    return validation.gate_metrics(
        recs.assign(model_signature="sig"),
        users=["u1", "u2", "u3"],
        items=["a", "b", "c", "d"],
        top_k=2,
        model_signature=signature,
        earlier=earlier,
        smoothing=1e-4,
    )


def test_the_gate_collects_scores_duplicates_coverage_provenance_and_drift():
    first = gated(GOOD, {})
    assert (first["rows"], first["users"], first["duplicate_pairs"]) == (4, 2, 0)
    assert first["user_coverage"] == pytest.approx(2 / 3)
    assert first["catalogue_coverage"] == pytest.approx(3 / 4)
    assert (first["drift_days"], first["kl_divergence"], first["js_distance"]) == (0, None, None)
    assert first["other_signatures"] == 0 and gated(GOOD, {}, "other")["other_signatures"] == 4
    earlier = {dt.date(2019, 11, 19): validation.item_distribution(GOOD)}
    again = gated(GOOD, earlier)
    assert again["drift_days"] == 1 and again["kl_divergence"] == pytest.approx(0.0, abs=1e-12)


def passed(paths, recs=GOOD):
    recs = recs.assign(model_signature="sig")
    inference.write(recs, paths)
    validation.passed(recs, inference.read(paths)[1], paths, "run")


def test_only_kept_distributions_of_the_days_before_make_the_history(tmp_path):
    ds = dt.date(2019, 11, 20)
    paths = datasets.paths(ds, "prod", tmp_path)
    for back in (1, 3, 9):  # 9 days back is outside a 7-day history
        passed(paths.on(ds - dt.timedelta(days=back)))
    passed(paths)  # today's own is never in its baseline
    history = validation.history(paths, 7)
    assert sorted(history) == [ds - dt.timedelta(days=3), ds - dt.timedelta(days=1)]
    pd.testing.assert_series_equal(
        history[ds - dt.timedelta(days=1)], validation.item_distribution(GOOD), check_names=False
    )


def test_finding_3_publish_gets_exactly_what_validation_passed(tmp_path):
    paths = datasets.paths(dt.date(2019, 11, 20), "prod", tmp_path)
    passed(paths)
    pd.testing.assert_frame_equal(validation.approved(paths), GOOD.assign(model_signature="sig"))


def test_finding_3_publish_refuses_recommendations_that_changed_after_validation(tmp_path):
    paths = datasets.paths(dt.date(2019, 11, 20), "prod", tmp_path)
    passed(paths)
    rerun = GOOD.assign(model_signature="other", score=0.1)  # a re-run's inference, not validated
    inference.write(rerun, paths)
    with pytest.raises(
        NotValidated, match="not the ones 40-validate passed.*Nothing was published"
    ):
        validation.approved(paths)


def test_finding_3_publish_refuses_a_day_no_validation_passed(tmp_path):
    paths = datasets.paths(dt.date(2019, 11, 20), "prod", tmp_path)
    inference.write(GOOD.assign(model_signature="sig"), paths)
    with pytest.raises(NotValidated, match="no validation passed these recommendations"):
        validation.approved(paths)


def test_finding_3_a_new_inference_keeps_the_distribution_of_a_day_that_passed(tmp_path):
    ds = dt.date(2019, 11, 19)
    paths = datasets.paths(ds, "prod", tmp_path)
    passed(paths)
    inference.write(GOOD.assign(model_signature="other"), paths)  # the folder is swapped
    assert list(validation.history(paths.on(ds + dt.timedelta(days=1)), 7)) == [ds]


SOFT = {"max_js": 0.5, "min_catalogue_coverage": 0.3}
DRIFTED = {
    "rows": 4,
    "user_coverage": 1.0,
    "catalogue_coverage": 0.2,  # within the hard 0.02, below the soft 0.3
    "kl_divergence": 0.2,
    "js_distance": 0.6,  # within the hard 0.75, above the soft 0.5
    "drift_days": 3,
}


def test_a_check_past_its_soft_limit_only_is_a_soft_breach_not_a_hard_one():
    thresholds = params.load("prod").validation.model_copy(
        update={"soft": params.load("prod").validation.soft.model_copy(update=SOFT)}
    )
    assert validation.breaches(DRIFTED, thresholds) == []
    soft = validation.soft_breaches(DRIFTED, thresholds)
    assert [b.as_dict() for b in soft] == [
        {
            "check": "catalogue_coverage",
            "value": 0.2,
            "threshold": ">= 0.3 (validation.soft.min_catalogue_coverage)",
        },
        {"check": "js_distance", "value": 0.6, "threshold": "<= 0.5 (validation.soft.max_js)"},
    ]
    hard = {**DRIFTED, "js_distance": 0.8}  # past both: a hard breach, not a soft one
    assert [b.check for b in validation.breaches(hard, thresholds)] == ["js_distance"]
    assert [b.check for b in validation.soft_breaches(hard, thresholds)] == ["catalogue_coverage"]


def test_publish_of_a_soft_breached_day_needs_an_approval_of_exactly_its_recommendations(tmp_path):
    paths = datasets.paths(dt.date(2019, 11, 20), "prod", tmp_path)
    recs = GOOD.assign(model_signature="sig")
    inference.write(recs, paths)
    digest = inference.read(paths)[1]
    breach = validation.Breach("js_distance", 0.6, "<= 0.5 (validation.soft.max_js)")
    validation.passed(recs, digest, paths, "run", soft=[breach])
    for refused in (None, {"decision": "rejected", "digest": digest}, {"decision": "approved"}):
        with pytest.raises(NotValidated, match="js_distance = 0.6.*no reviewer approved"):
            validation.approved(paths, refused)
    got = validation.approved(paths, {"decision": "approved", "digest": digest})
    pd.testing.assert_frame_equal(got, recs)
