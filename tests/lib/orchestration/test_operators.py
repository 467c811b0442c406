"""The stage operator's contract errors fail the task at once, before any kernel starts."""

import shutil
import time
from types import SimpleNamespace

import jupytext
import nbformat
import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from stagebook import settings
from stagebook.errors import StageFailed
from stagebook.orchestration.execution.operators import StageNotebookOperator
from tests.support.stages import stage_notebook


def context(conf):
    return {
        "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None),
        "dag": SimpleNamespace(dag_id="d", timezone=pendulum.timezone("Asia/Tokyo")),
        "dag_run": SimpleNamespace(conf=conf),
        "run_id": "manual__1",
    }


def test_a_malformed_ds_is_not_retried(home):
    op = StageNotebookOperator(task_id="input_tables", stage="00-input-tables")
    with pytest.raises(AirflowFailException, match="(?s)'2019-13-01' is not a date.*not retried"):
        op.execute(context({"ds": "2019-13-01"}))
    assert not home.exists()  # nothing archived: no kernel started


def test_a_notebook_without_parameters_cell_is_not_retried(home, tmp_path, monkeypatch):
    path = stage_notebook(tmp_path, "60-extra", [])
    nb = jupytext.read(path)
    nb.cells = [nbformat.v4.new_code_cell("ds = '2019-11-20'")]
    jupytext.write(nb, path, fmt="py:percent")
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    op = StageNotebookOperator(task_id="extra", stage="60-extra")
    with pytest.raises(AirflowFailException, match="(?s)0 cells tagged 'parameters'.*not retried"):
        op.execute(context({"ds": "2019-11-20"}))


def test_a_missing_pulled_value_is_not_retried(home):
    op = StageNotebookOperator(
        task_id="prod.inference", stage="30-inference", pull={"model_signature": "prod.train"}
    )
    with pytest.raises(AirflowFailException, match="'prod.train' recorded no 'model_signature'"):
        op.execute(context({"ds": "2019-11-20"}))


@pytest.fixture
def kernels(tmp_path, monkeypatch, home):
    """Stage notebooks of their own, and params whose cells may run 3 s at most."""
    for stage, code in {
        "61-sleep": "import time\ntime.sleep(120)",
        "62-killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    }.items():
        stage_notebook(tmp_path, stage, ["print('started')", code])
    folder = tmp_path / "params"
    shutil.copytree(settings.params_dir(), folder)
    common = folder / "common.yaml"
    common.write_text(common.read_text().replace("cell_timeout_s: 3600", "cell_timeout_s: 3"))
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(folder))
    return tmp_path


@pytest.mark.parametrize(
    ("stage", "said"),
    [("61-sleep", "ran past pipeline.cell_timeout_s"), ("62-killed", "lost its kernel")],
)
def test_finding_11_a_hung_cell_or_a_killed_kernel_fails_the_stage_in_time_and_is_retried(
    kernels, home, stage, said
):
    op = StageNotebookOperator(task_id=stage, stage=stage)
    values = {
        "ds": "2019-11-20",
        "phase": "common",
        "try_number": 1,
        "run_id": "m",
        "overrides": {},
    }
    output = kernels / f"{stage}.try1.ipynb"
    start = time.monotonic()
    with pytest.raises(Exception) as caught:
        op.runner().run(values, output, "d", op.kernel_environ("d"))
    failure = op.runner().on_failure(caught.value, values, output, op.runner().archive(output))
    assert time.monotonic() - start < 60
    assert isinstance(failure, StageFailed) and failure.retryable
    assert f"stage {stage} (common, ds 2019-11-20, try 1): cell 4 {said}" in str(failure)
    assert output.with_suffix(".html").exists()  # the archived notebook shows how far it got
