import json

import nbformat
import pytest

from stagebook import notebook, settings
from stagebook.errors import NotebookContractError


def stage_operators():
    from airflow.dag_processing.dagbag import DagBag

    from stagebook.operators import StageNotebookOperator

    dag = DagBag(dag_folder=str(settings.DAGS_FOLDER)).dags[settings.DAG_ID]
    return [t for t in dag.tasks if isinstance(t, StageNotebookOperator)]


OPERATORS = stage_operators()


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.task_id)
def test_notebook_declares_exactly_what_the_operator_injects(op):
    declared = notebook.parameters(notebook.path(op.stage))
    injected = set(notebook.INJECTED) | set(op.pull) | set(op.parameters)
    assert set(declared) == injected, (
        f"{notebook.path(op.stage)}: parameters cell vs operator {op.task_id}"
    )


@pytest.mark.parametrize("stage", notebook.STAGES)
def test_notebook_is_committed_clean_and_runs_by_hand(stage):
    path = notebook.path(stage)
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == settings.KERNEL_NAME
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, (
                f"{path}: outputs committed"
            )
    defaults = notebook.parameters(path)
    assert defaults["phase"] in {"common", "prod", "beta"} and defaults["try_number"] == 1
    source = "".join("".join(c["source"]) for c in nb["cells"])
    assert f'stagebook.stage(\n    "{stage}"' in source


def test_every_stage_has_a_task():
    assert {op.stage for op in OPERATORS} == set(notebook.STAGES)


def write(path, cells, kernelspec=True):
    nb = nbformat.v4.new_notebook()
    if kernelspec:
        nb.metadata["kernelspec"] = {
            "name": "stagebook",
            "display_name": "stagebook",
            "language": "python",
        }
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def tagged(source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def test_a_notebook_without_parameters_cell_is_named(tmp_path):
    path = write(tmp_path / "60-extra.ipynb", [nbformat.v4.new_code_cell("ds = '2019-11-20'")])
    with pytest.raises(NotebookContractError, match=r"60-extra.ipynb: 0 cells tagged 'parameters'"):
        notebook.parameters(path)


def test_a_notebook_without_kernelspec_is_named(tmp_path):
    path = write(tmp_path / "61-extra.ipynb", [tagged("ds = '2019-11-20'")], kernelspec=False)
    with pytest.raises(NotebookContractError, match=r"61-extra.ipynb: no metadata.kernelspec"):
        notebook.parameters(path)


def test_a_parameter_must_default_to_a_literal(tmp_path):
    path = write(tmp_path / "62-extra.ipynb", [tagged("import os\nds = os.environ['DS']")])
    with pytest.raises(NotebookContractError, match="'ds' must default to a literal"):
        notebook.parameters(path)
