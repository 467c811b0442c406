"""A stop outside ``stagebook run`` (a worker told to stop) is recorded and retried, never raised."""

import signal
from pathlib import Path

import pytest

from stagebook.errors import StageFailed
from stagebook.orchestration.execution import stopping
from stagebook.orchestration.execution.operators import StageNotebookOperator

VALUES = {"ds": "2019-11-20", "try_number": 1}


@pytest.fixture
def stop_asked(monkeypatch):
    monkeypatch.setattr(stopping, "_requested", None)  # this process's stop, undone after
    stopping.interrupt(signal.SIGTERM)  # what on_kill does in a worker: no kernel, no raise
    return signal.SIGTERM


def test_a_worker_told_to_stop_retries_the_try_like_a_lost_worker(stop_asked):
    op = StageNotebookOperator(task_id="t", stage="01-wait")
    failure = op.runner().on_failure(
        RuntimeError("kernel interrupted"), VALUES, Path("x"), Path("x")
    )
    assert isinstance(failure, StageFailed) and failure.retryable
    assert "interrupted by SIGTERM" in str(failure)


def test_a_cell_does_not_start_once_a_stop_was_asked_for(stop_asked):
    with pytest.raises(stopping.StopRequested, match="interrupted by SIGTERM"):
        stopping.check()


def test_between_two_tasks_of_stagebook_run_a_stop_leaves_the_run_at_once():
    with stopping.handling(), pytest.raises(stopping.Interrupted) as stopped:
        stopping.interrupt(signal.SIGINT)
    assert stopped.value.signum == signal.SIGINT
    assert stopping.requested() is None  # a finished run leaves no stop pending


def test_inside_a_stage_of_stagebook_run_a_stop_is_only_recorded():
    with stopping.handling(), stopping.stage():
        stopping.interrupt(signal.SIGTERM)  # redaction and archiving are never cut short
        assert stopping.requested() == signal.SIGTERM
        with pytest.raises(stopping.Interrupted):
            stopping.after_task()
