from stagebook.orchestration.messages import first_lines
from tests.support.samples import MESSAGE


def test_a_message_holds_state_date_phase_try_error_and_links():
    assert MESSAGE.subject == (
        "[stagebook] retry: recommendation_pipeline.prod.train ds 2019-11-16 phase prod try 1"
    )
    for part in (
        "state: up_for_retry",
        "try: 1, retries left: 1",
        "error: StageFailed: stage 20-train raised InvalidLossError",
        "report: file:///archive/reports/recommendation_pipeline/2019-11-16/prod/20-train.try1.html",
        "log: http://localhost:8080/dags/recommendation_pipeline/runs/r/tasks/prod.train?try_number=1",
    ):
        assert part in MESSAGE.text
    assert MESSAGE.as_dict()["subject"] == MESSAGE.subject


def test_first_lines_of_an_error_are_short():
    error = ValueError("\n".join(f"line {n}" for n in range(20)))
    assert first_lines(error) == "ValueError: line 0\nline 1\nline 2\nline 3\nline 4"
    assert len(first_lines("x" * 5000)) == 600
