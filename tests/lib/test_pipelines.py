"""A pipeline is a folder: its declaration is found, loaded and checked, each mistake in one line."""

import pytest

from stagebook import pipelines
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import check, cli
from tests.support.stages import stage_notebook

DECLARATION = """
from stagebook.declaration import Metric, Pipeline, Stage

PIPELINE = Pipeline(
    schedule="0 6 * * *",
    timezone="Europe/Paris",
    start="2019-11-01",
    {dag_id}
    stages=(
        Stage("a", "01-a", records=("rows",), trends=(Metric("rows", "{key}"),)),
        Stage("b", "{second}"),
    ),
)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root of its own with one pipeline, ``sales``, of two stages."""
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.setenv("STAGEBOOK_PIPELINE", "sales")
    for stage in ("01-a", "02-b"):
        stage_notebook(tmp_path, stage, ["import stagebook"], pipeline="sales")
    return declare(tmp_path, "sales")


def declare(root, name, dag_id="", key="rows.count", second="02-b"):
    folder = root / "pipelines" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.py").write_text(DECLARATION.format(dag_id=dag_id, key=key, second=second))
    return folder


def test_a_pipeline_is_its_folder_named_after_it_with_its_declaration(project):
    (pipeline,) = pipelines.every()
    assert (pipeline.name, pipeline.id, pipeline.folder) == ("sales", "sales", project)
    assert [s.notebook for s in pipeline.every_stage] == ["01-a", "02-b"]
    assert pipelines.get("sales") is pipeline and pipelines.get() is pipeline


def test_a_folder_without_a_declaration_is_named_and_nothing_runs(project, capsys):
    stray = project.parent / "forecasts"
    (stray / "notebooks").mkdir(parents=True)
    with pytest.raises(PipelineError, match=f"^{stray}: no pipeline.py; declare PIPELINE"):
        pipelines.every()
    (line,) = check.problems()
    assert line.startswith(f"{stray}: no pipeline.py")
    assert cli.main(["run", "--pipeline", "sales", "--ds", "2019-11-20"]) == 2  # nothing runs
    (said,) = capsys.readouterr().err.splitlines()
    assert said.startswith(f"stagebook: {stray}: no pipeline.py")


def test_a_stage_whose_notebook_is_missing_is_named(project):
    declare(project.parent.parent, "sales", second="02-missing")
    message = (
        f"{project / 'pipeline.py'}: stage 'b' runs notebook 02-missing, but .* does not exist"
    )
    with pytest.raises(PipelineError, match=message):
        pipelines.every()


def test_two_pipelines_with_one_dag_id_are_refused_naming_both(project):
    other = declare(project.parent.parent, "sales_copy", dag_id='dag_id="sales",')
    for stage in ("01-a", "02-b"):
        stage_notebook(project.parent.parent, stage, [], pipeline="sales_copy")
    with pytest.raises(PipelineError, match=f"^{other}: DAG id 'sales' is also {project}'s"):
        pipelines.every()


def test_one_folder_name_in_two_pipelines_roots_is_refused(project, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    copy = declare(elsewhere, "sales", dag_id='dag_id="sales_elsewhere",')
    for stage in ("01-a", "02-b"):
        stage_notebook(elsewhere, stage, [], pipeline="sales")
    monkeypatch.setenv("STAGEBOOK_PIPELINES", str(elsewhere / "pipelines"))
    with pytest.raises(PipelineError, match=f"^{copy}: folder name 'sales' is also {project}'s"):
        pipelines.every()


def test_a_declared_metric_that_names_an_undeclared_record_is_named(project):
    declare(project.parent.parent, "sales", key="revenue.total")
    with pytest.raises(
        PipelineError, match=r"pipeline.py: stage 01-a: trend 'revenue.total' reads a record"
    ):
        pipelines.every()


def test_a_declaration_without_pipeline_is_named(project):
    (project / "pipeline.py").write_text("STAGES = ()\n")
    with pytest.raises(PipelineError, match="pipeline.py: declares no PIPELINE"):
        pipelines.get("sales")
