import json
import shutil

import pytest

from stagebook import settings
from stagebook.orchestration.commands import check


def test_the_project_as_committed_has_no_problem():
    assert check.problems() == []


@pytest.fixture
def broken(tmp_path, monkeypatch):
    """A copy of the project with one problem of each kind."""
    root = settings.root()
    for folder in ("pipelines", "dags"):
        shutil.copytree(root / folder, tmp_path / folder)
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    tmp_path = tmp_path / "pipelines" / "recommendations"
    train = tmp_path / "notebooks" / "20-train.ipynb"
    nb = json.loads(train.read_text())
    nb["cells"][8]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x"]}]
    nb["metadata"]["kernelspec"]["name"] = "no-such-kernel"
    train.write_text(json.dumps(nb))
    prod = tmp_path / "params" / "prod.yaml"
    prod.write_text(prod.read_text() + "publish:\n  redis_conn_id: k8Fz2QpL9xW4vN7tR3yH6mB1\n")
    (tmp_path / "params" / "beta.yaml").write_text("train:\n  k: many\n")
    dag = tmp_path.parents[1] / "dags" / "pipelines.py"
    dag.write_text(dag.read_text() + "\nraise RuntimeError('a broken DAG file')\n")
    monkeypatch.delenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", raising=False)
    return tmp_path


def test_each_problem_names_its_file_and_cell_or_key(broken):
    found = "\n".join(check.problems())
    assert f"{broken}/notebooks/20-train.ipynb: cell 9: committed output" in found
    assert f"{broken}/notebooks/20-train.ipynb: kernel 'no-such-kernel' is not installed" in found
    assert f"{broken}/params/prod.yaml: publish.redis_conn_id: looks like a secret" in found
    assert f"{broken}/params/beta.yaml: train.k: Input should be a valid integer" in found
    assert f"{broken.parents[1]}/dags/pipelines.py: DAG import error" in found
    assert "a broken DAG file" in found


def test_a_record_no_stage_declares_is_a_problem(broken):
    notebook = broken / "notebooks" / "70-extra.ipynb"
    nb = json.loads((broken / "notebooks" / "50-publish.ipynb").read_text())
    notebook.write_text(json.dumps(nb))
    (broken / "params" / "beta.yaml").write_text("train:\n  k: 8\n")
    dag = broken.parents[1] / "dags" / "pipelines.py"  # a stage table to compare with
    dag.write_text(dag.read_text().replace("\nraise RuntimeError('a broken DAG file')\n", ""))
    found = check.problems()
    assert (
        f"{notebook}: cell 4: records 'published', which the stage table does not declare" in found
    )


@pytest.mark.parametrize(
    ("key", "value", "secret"),
    [
        ("slack_token", "abc", True),
        ("password", "", False),
        ("redis_conn_id", "stagebook_redis", False),
        ("schema", "recsys.params:RecsysParams", False),
        ("note", "k8Fz2QpL9xW4vN7tR3yH6mB1", True),
    ],
)
def test_what_looks_like_a_secret(key, value, secret):
    assert check.looks_secret(key, value) is secret
