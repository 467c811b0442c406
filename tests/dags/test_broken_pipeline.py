"""One pipeline that cannot be built does not take the others down: a stand-in shows its problem."""

import shutil

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException

from stagebook import settings
from stagebook.orchestration.commands import cli
from tests.support.stages import stage_notebook


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project of two pipelines, ``sales`` and ``stock``, and a folder that is not one."""
    (tmp_path / "dags").mkdir()
    shutil.copy(settings.dags_dir() / "pipelines.py", tmp_path / "dags")
    for pipeline in ("sales", "stock"):
        stage_notebook(tmp_path, "01-t", [], pipeline=pipeline)
    (tmp_path / "pipelines" / "forecasts" / "notebooks").mkdir(parents=True)
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEBOOK_PIPELINE")
    return tmp_path


def test_a_broken_pipeline_stands_in_alone_and_the_others_are_built(project):
    (project / "pipelines" / "stock" / "params").mkdir()
    (project / "pipelines" / "stock" / "params" / "common.yaml").write_text("pipeline: [\n")

    bag = DagBag(dag_folder=str(project / "dags"))

    assert bag.import_errors == {}  # the loader's file imports: sales is scheduled on
    assert sorted(bag.dags) == ["forecasts", "sales", "stock"]
    assert "broken" not in bag.dags["sales"].tags
    for dag_id, said in (("forecasts", "no pipeline.py"), ("stock", "not valid YAML")):
        stand_in = bag.dags[dag_id]
        assert "broken" in stand_in.tags and type(stand_in.timetable).__name__ == "NullTimetable"
        assert said in stand_in.doc_md and "\n" not in stand_in.doc_md.split("\n\n")[0]
        with pytest.raises(AirflowFailException, match=said):
            stand_in.get_task("cannot_be_built").python_callable()


def test_a_problem_only_the_factory_finds_stands_in_and_stagebook_run_refuses_it(
    project, airflow_db, capsys
):
    shutil.rmtree(project / "pipelines" / "forecasts")
    stock = project / "pipelines" / "stock" / "pipeline.py"
    declared = 'stages=(Stage("t", "01-t"),)'
    stock.write_text(
        stock.read_text().replace(declared, declared + ', phase_stages=(Stage("u", "01-t"),)')
    )

    stand_in = DagBag(dag_folder=str(project / "dags")).dags["stock"]

    said = f"{stock.parent}: declares phase_stages but"
    assert stand_in.description.startswith(said)
    assert cli.main(["run", "--pipeline", "stock", "--ds", "2019-11-20"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"stagebook: {said}")
