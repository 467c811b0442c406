import nbformat
import pytest

from stagebook import notebook, settings
from stagebook.errors import NotebookContractError
from tests.support import DAG_ID


def stage_operators():
    from airflow.dag_processing.dagbag import DagBag

    from stagebook.orchestration.execution.operators import StageNotebookOperator

    dag = DagBag(dag_folder=str(settings.dags_dir())).dags[DAG_ID]
    return [t for t in dag.tasks if isinstance(t, StageNotebookOperator)]


OPERATORS = stage_operators()


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.task_id)
def test_notebook_declares_exactly_what_the_operator_injects(op):
    declared = notebook.parameters(notebook.path(op.stage))
    assert set(declared) == op.injected_names, (
        f"{notebook.path(op.stage)}: parameters cell vs operator {op.task_id}"
    )


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.task_id)
def test_the_stage_table_declares_exactly_what_the_notebook_records(op):
    assert notebook.record_problems(notebook.path(op.stage), op.records) == []


def test_a_typo_in_a_declared_record_is_caught_with_its_notebook_and_cell():
    path = notebook.path("20-train")
    problems = notebook.record_problems(
        path, ("losses", "metrics", "model_signatur", "data_window")
    )
    assert problems == [
        f"{path}: cell 11: records 'model_signature', which the stage table does not declare",
        f"{path}: declares record 'model_signatur' in the stage table, but no cell records it",
    ]


@pytest.mark.parametrize("stage", notebook.stages())
def test_notebook_is_committed_clean_and_runs_by_hand(stage):
    path = notebook.path(stage)
    assert path.suffix == ".py" and not path.with_suffix(".ipynb").exists()  # text, no outputs
    nb = notebook.read(path)
    assert nb.metadata["kernelspec"]["name"] == settings.KERNEL_NAME
    defaults = notebook.parameters(path)
    assert defaults["phase"] in {"common", "prod", "beta"} and defaults["try_number"] == 1
    source = "".join(c.source for c in nb.cells)
    assert f'stagebook.stage(\n    "{stage}"' in source


def test_every_stage_has_a_task():
    assert {op.stage for op in OPERATORS} == set(notebook.stages())


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


def test_a_record_must_be_named_by_a_literal(tmp_path):
    cells = [tagged("ds = '2019-11-20'"), nbformat.v4.new_code_cell("stagebook.record(name, 1)")]
    path = write(tmp_path / "63-extra.ipynb", cells)
    with pytest.raises(NotebookContractError, match="cell 2: record.. must name"):
        notebook.recorded(path)


def test_no_stage_notebook_defines_a_function_or_a_class():
    import ast

    for stage in notebook.stages():
        nb = notebook.read(notebook.path(stage))
        for cell in nb.cells:
            if cell.cell_type == "code":
                tree = ast.parse(cell.source)
                defined = [
                    n
                    for n in ast.walk(tree)
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))
                ]
                assert defined == [], f"{stage}: move it into the package, with a test"


def test_a_parameter_must_default_to_a_literal(tmp_path):
    path = write(tmp_path / "62-extra.ipynb", [tagged("import os\nds = os.environ['DS']")])
    with pytest.raises(NotebookContractError, match="'ds' must default to a literal"):
        notebook.parameters(path)


def test_a_cell_that_does_not_parse_is_named_with_its_line(tmp_path):
    path = write(tmp_path / "64-extra.ipynb", [tagged("ds = '2019-11-20'\nphase = (")])
    with pytest.raises(NotebookContractError, match=r"64-extra.ipynb: cell 1: line 2: "):
        notebook.parameters(path)


def test_a_source_whose_header_is_not_yaml_is_named(tmp_path):
    path = tmp_path / "65-extra.py"
    path.write_text("# ---\n# jupyter:\n#   kernelspec: {name: [}\n# ---\n\n# %%\nds = 1\n")
    with pytest.raises(NotebookContractError, match=r"65-extra.py: not a notebook"):
        notebook.parameters(path)
