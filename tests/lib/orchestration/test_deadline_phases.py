"""The publish deadline finds what has not published, with phases or without."""

from stagebook.orchestration.notifying.deadline import unpublished


def test_a_pipeline_without_phases_is_late_when_its_publish_has_not_succeeded():
    states = {"observe": "success", "validate": "running", "publish": None, "run_summary": None}
    assert unpublished(states) == {
        "common": [
            ("validate", "running"),
            ("publish", "not started"),
            ("run_summary", "not started"),
        ]
    }
    assert unpublished({**states, "validate": "success", "publish": "success"}) == {}


def test_with_phases_each_phase_is_judged_alone_and_only_those_the_run_chose():
    states = {
        "input_tables": "success",
        "prod.train": "success",
        "prod.publish": "success",
        "beta.train": "failed",
        "beta.publish": "upstream_failed",
    }
    assert unpublished(states) == {
        "beta": [("beta.publish", "upstream_failed"), ("beta.train", "failed")]
    }
    assert unpublished(states, ["prod"]) == {}
