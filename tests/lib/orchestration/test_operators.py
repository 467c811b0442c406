"""The stage operator's contract errors fail the task at once, before any kernel starts."""

from types import SimpleNamespace

import nbformat
import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from stagebook.orchestration.operators import StageNotebookOperator


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
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "stagebook", "display_name": "s", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("ds = '2019-11-20'")]
    nbformat.write(nb, tmp_path / "notebooks" / "60-extra.ipynb")
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
