"""``stagebook check`` on broken params: one line per real problem, never a traceback."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stagebook import settings
from stagebook.orchestration.commands import check


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A copy of ``params/`` that the loader (and the DAG file it parses) reads instead."""
    target = tmp_path / "params"
    shutil.copytree(settings.params_dir(), target)
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(target))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_yaml_syntax_error_in_a_phase_file_is_one_line_with_its_line_and_column(folder):
    (folder / "prod.yaml").write_text("train:\n  k: [4\n")
    assert check.problems() == [
        f"{folder / 'prod.yaml'}: not valid YAML at line 3, column 1: expected ',' or ']', "
        "but got '<stream end>' (while parsing a flow sequence at line 2, column 6); fix the file"
    ]


def test_a_yaml_syntax_error_in_common_yaml_is_one_line_and_not_a_dag_import_error(folder):
    edit(folder / "common.yaml", "  epochs: 8", "  epochs: [8")
    found = check.problems()
    assert len(found) == 1
    assert found[0].startswith(f"{folder / 'common.yaml'}: not valid YAML at line ")


def test_a_bad_value_in_common_yaml_is_the_only_problem_shown(folder):
    edit(folder / "common.yaml", "  epochs: 8", "  epochs: -1")
    assert check.problems() == [
        f"{folder / 'common.yaml'}: train.epochs: Input should be greater than 0"
    ]


def test_an_unknown_key_in_common_yaml_is_the_only_problem_shown(folder):
    edit(folder / "common.yaml", "  epochs: 8", "  epochs: 8\n  speed: 3")
    assert check.problems() == [
        f"{folder / 'common.yaml'}: train.speed: Extra inputs are not permitted"
    ]


def test_a_dag_file_that_does_not_import_is_one_line_without_its_notebooks_records(
    tmp_path, monkeypatch
):
    for name in ("pipelines", "dags"):
        shutil.copytree(settings.root() / name, tmp_path / name)
    dag = tmp_path / "dags" / "pipelines.py"
    dag.write_text(dag.read_text() + "\nraise RuntimeError('a broken DAG file')\n")
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", raising=False)
    assert check.problems() == [f"{dag}: DAG import error: RuntimeError: a broken DAG file"]


def test_stagebook_check_prints_a_broken_params_file_in_one_line_and_exits_1(folder):
    edit(folder / "common.yaml", "  epochs: 8", "  epochs: [8")
    stagebook = Path(sys.executable).parent / "stagebook"
    done = subprocess.run(
        [str(stagebook), "check"], capture_output=True, text=True, env=os.environ, timeout=300
    )
    assert done.returncode == 1
    assert done.stderr == ""
    problem, summary = done.stdout.splitlines()
    assert problem.startswith(f"{folder / 'common.yaml'}: not valid YAML at line ")
    assert summary == "stagebook check: 1 problem(s)"
