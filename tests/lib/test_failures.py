"""The kernel says whether another try can help; the operator reads it, never a class name."""

from types import SimpleNamespace

import nbformat
import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from recsys.errors import InvalidLossError, ValidationFailed
from stagebook import errors, failures, settings, storage
from stagebook.errors import StageFailed
from stagebook.orchestration.execution.operators import StageNotebookOperator
from tests.support.stages import stage_notebook

STAGE = "64-fails"
OPEN = "import stagebook\nfrom stagebook.errors import StagebookError\n"
STAGE_CALL = (
    "ctx = stagebook.stage('64-fails', ds={ds}, phase=phase, try_number=try_number,"
    " run_id=run_id, overrides=overrides)"
)
# a class the worker cannot import: it exists in the notebook's kernel only
RAISE = (
    "class Diverged(StagebookError):\n    retryable = {retryable}\n\nraise Diverged('went wrong')"
)


def failed(outputs):
    """A notebook whose second code cell failed with ``outputs``."""
    ok = nbformat.v4.new_code_cell("x = 1")
    cell = nbformat.v4.new_code_cell("raise")
    cell.outputs = outputs
    error = nbformat.v4.new_output("error", ename="Diverged", evalue="went wrong", traceback=[])
    cell.outputs.append(error)
    return nbformat.v4.new_notebook(cells=[ok, cell])


def test_a_stagebook_error_of_any_module_says_whether_a_retry_can_help():
    class Diverged(errors.StagebookError):
        retryable = False

    assert failures.marker(Diverged("x"))[failures.MIME] == {
        "ename": "Diverged",
        "retryable": False,
    }
    assert failures.marker(InvalidLossError("nan"))[failures.MIME]["retryable"] is True
    assert "not retried" in failures.marker(ValidationFailed("x"))["text/plain"]


def test_an_error_that_is_not_a_stagebook_error_says_nothing():
    error = ValueError("a library's")
    error.retryable = False  # another library's attribute of the same name means something else
    assert failures.marker(error) is None


def test_the_failed_cells_marker_answers_and_a_missing_one_leaves_it_open(tmp_path):
    said = nbformat.v4.new_output("display_data", data=failures.marker(ValidationFailed("x")))
    assert failures.retryable_in(failed([said])) is False
    assert failures.retryable_in(failed([])) is None  # a library's error, a crash
    assert failures.retryable_in(nbformat.v4.new_notebook()) is None  # no cell failed
    assert failures.retryable_in(tmp_path / "missing.ipynb") is None  # unreadable: retried
    path = tmp_path / "nb.ipynb"
    nbformat.write(failed([said]), path)
    assert failures.retryable_in(path) is False


def test_install_outside_a_kernel_does_nothing():
    failures.install()  # plain Python under pytest: no IPython shell to hook


def execute(root, monkeypatch, cells):
    """Run stage ``64-fails`` (``cells`` after the parameters) through the operator."""
    stage_notebook(root, STAGE, cells)
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(settings.params_dir()))
    monkeypatch.setenv("STAGEBOOK_ROOT", str(root))
    context = {
        "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None),
        "dag": SimpleNamespace(dag_id="fails", timezone=pendulum.timezone("Europe/Paris")),
        "dag_run": SimpleNamespace(conf={"ds": "2019-11-20"}),
        "run_id": "manual__1",
    }
    StageNotebookOperator(task_id="fails", stage=STAGE).execute(context)


def archived():
    path = storage.report_path(
        "fails", pendulum.date(2019, 11, 20), "common", "manual__1", STAGE, 1
    )
    return nbformat.read(path, as_version=4)


def test_an_error_class_defined_in_the_notebook_that_cannot_be_retried_fails_at_once(
    home, tmp_path, monkeypatch
):
    cells = [OPEN + STAGE_CALL.format(ds="ds"), RAISE.format(retryable=False)]
    with pytest.raises(AirflowFailException, match="(?s)raised Diverged: went wrong.*not retried"):
        execute(tmp_path, monkeypatch, cells)
    outputs = archived().cells[-1].outputs  # the marker, then the usual error output
    assert [o.output_type for o in outputs] == ["display_data", "error"]
    assert outputs[1].ename == "Diverged" and outputs[1].traceback


def test_an_error_class_defined_in_the_notebook_that_may_succeed_is_retried(
    home, tmp_path, monkeypatch
):
    cells = [OPEN + STAGE_CALL.format(ds="ds"), RAISE.format(retryable=True)]
    with pytest.raises(StageFailed, match="raised Diverged: went wrong") as caught:
        execute(tmp_path, monkeypatch, cells)
    assert caught.value.retryable and caught.value.ename == "Diverged"


def test_an_error_raised_by_the_stage_call_itself_is_reported_too(home, tmp_path, monkeypatch):
    cells = [OPEN + STAGE_CALL.format(ds="'2019-13-45'")]  # DateError: no retry can fix it
    with pytest.raises(AirflowFailException, match="(?s)raised DateError.*not retried"):
        execute(tmp_path, monkeypatch, cells)
