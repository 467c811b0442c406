import json
import subprocess
import sys

import pytest
from airflow.dag_processing.dagbag import DagBag

from stagebook import settings
from tests.support import DAG_ID, params_copy

DAG_FILES = sorted(settings.dags_dir().glob("*.py"))


@pytest.fixture(scope="module")
def bag():
    return DagBag(dag_folder=str(settings.dags_dir()))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_without_errors(bag, path):
    assert str(path) not in bag.import_errors, bag.import_errors.get(str(path))


def test_no_import_errors_at_all(bag):
    assert bag.import_errors == {}
    assert DAG_ID in bag.dags


@pytest.mark.parametrize("dag_id", [DAG_ID, "recommendations_consumer"])
def test_dag_has_tags_retries_and_no_catchup(bag, dag_id):
    dag = bag.dags[dag_id]
    assert dag.tags
    assert dag.catchup is False
    assert dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id


def test_dag_shape(bag):
    dag = bag.dags[DAG_ID]
    assert dag.get_task("select_phase").upstream_task_ids == {"input_tables"}
    for phase in ("prod", "beta"):
        assert dag.get_task(f"{phase}.features").upstream_task_ids == {"select_phase"}
        for name in ("inference", "validate"):
            assert dag.get_task(f"{phase}.{name}").pull == {"model_signature": f"{phase}.train"}
        publish = dag.get_task(f"{phase}.publish")
        # only after validate passed, and a reviewer approved if soft limits were breached
        assert publish.upstream_task_ids == {f"{phase}.approve"}
        assert dag.get_task(f"{phase}.approve").upstream_task_ids == {f"{phase}.validate"}
        assert publish.connections == ("stagebook_redis",)
        assert "stagebook_redis" not in json.dumps(publish.parameters)  # never a parameter


def test_dag_file_does_not_import_papermill_or_tensorflow():
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]);"
        "bad = [m for m in ('papermill', 'tensorflow', 'keras', 'pandas', 'jupyter_client',"
        " 'airflow.providers.papermill.operators.papermill')"
        " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(settings.dags_dir() / "pipelines.py")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_common_yaml_stands_in_its_pipeline_naming_file_and_key(tmp_path, monkeypatch):
    folder = params_copy(tmp_path / "params", {"train.k": "many"})
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(folder))
    bag = DagBag(dag_folder=str(settings.dags_dir()))
    assert bag.import_errors == {}  # the other pipelines are built and run on
    stand_in = bag.dags[DAG_ID]
    assert "broken" in stand_in.tags and stand_in.task_ids == ["cannot_be_built"]
    assert f"{folder / 'common.yaml'}: train.k" in stand_in.description
    assert "broken" not in bag.dags["weather"].tags


def test_finding_10_a_malformed_phase_file_does_not_take_the_other_phases_down(
    tmp_path, monkeypatch
):
    folder = params_copy(tmp_path / "params")
    (folder / "beta.yaml").write_text("train:\n  k: many\n")
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(folder))
    bag = DagBag(dag_folder=str(settings.dags_dir()))
    assert bag.import_errors == {}
    tasks = set(bag.dags[DAG_ID].task_ids)
    assert {"prod.features", "prod.publish", "beta.features", "beta.publish"} <= tasks
