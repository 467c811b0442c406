import shutil
import subprocess
import sys

import jupytext
import nbformat
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
    train = tmp_path / "notebooks" / "20-train.py"
    train.write_text(train.read_text().replace("name: stagebook", "name: no-such-kernel", 1))
    ran = jupytext.read(train)  # its pair, saved by Jupyter with an output
    ran.cells[8].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x")]
    nbformat.write(ran, train.with_suffix(".ipynb"))
    features = jupytext.read(tmp_path / "notebooks" / "10-features.py")  # a pair left behind
    features.cells[2].source += "\nprint('edited in the .ipynb only')"
    nbformat.write(features, tmp_path / "notebooks" / "10-features.ipynb")
    prod = tmp_path / "params" / "prod.yaml"
    prod.write_text(prod.read_text() + "publish:\n  redis_conn_id: k8Fz2QpL9xW4vN7tR3yH6mB1\n")
    (tmp_path / "params" / "beta.yaml").write_text("train:\n  k: many\n")
    dag = tmp_path.parents[1] / "dags" / "pipelines.py"
    dag.write_text(dag.read_text() + "\nraise RuntimeError('a broken DAG file')\n")
    monkeypatch.delenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", raising=False)
    return tmp_path


def test_each_problem_names_its_file_and_cell_or_key(broken):
    found = "\n".join(check.problems())
    assert f"{broken}/notebooks/20-train.ipynb: holds outputs; clear them" in found
    assert f"{broken}/notebooks/10-features.ipynb: out of sync with 10-features.py" in found
    assert f"{broken}/notebooks/20-train.py: kernel 'no-such-kernel' is not installed" in found
    assert f"{broken}/params/prod.yaml: publish.redis_conn_id: looks like a secret" in found
    assert f"{broken}/params/beta.yaml: train.k: Input should be a valid integer" in found
    assert f"{broken.parents[1]}/dags/pipelines.py: DAG import error" in found
    assert "a broken DAG file" in found


def test_a_record_no_stage_declares_is_a_problem(broken):
    notebook = broken / "notebooks" / "70-extra.py"
    shutil.copy(broken / "notebooks" / "50-publish.py", notebook)
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


def test_stagebook_check_refuses_a_source_with_outputs_or_a_pair_out_of_sync(broken):
    (broken / "notebooks" / "30-inference.ipynb").write_text("{")  # not even a notebook
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    for name, what in [
        ("20-train.ipynb", "holds outputs"),
        ("10-features.ipynb", "out of sync with 10-features.py"),
        ("30-inference.ipynb", "not a notebook"),
    ]:
        assert any(line.startswith(f"{broken}/notebooks/{name}: {what}") for line in lines), lines
