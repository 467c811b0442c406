"""``stagebook new``: what it writes passes ``stagebook check`` and runs; a bad name writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stagebook.orchestration.commands import check, cli

PYTEST = Path(sys.executable).with_name("pytest")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty folder as the project."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("STAGEBOOK_ROOT", str(root))
    monkeypatch.chdir(root)
    return root


def test_a_new_pipeline_passes_check_and_its_own_test_runs_it_for_one_date(project, capsys):
    assert cli.main(["new", "pipeline", "hello"]) == 0
    assert "stagebook: wrote pipelines/hello/notebooks/00-extract.py" in capsys.readouterr().out
    assert cli.main(["new", "stage", "hello", "20-class"]) == 0  # any name: it is only a string
    assert check.problems() == []
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK"))}
    done = subprocess.run(
        [str(PYTEST), "-q", "-n", "0", "-p", "no:cacheprovider", "tests/test_hello.py"],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new", "pipeline", "Hello"], "'Hello' is not a pipeline name"),
        (["new", "pipeline", "json"], "'json' is the name of a module"),
        (["new", "pipeline", "tornado"], "'tornado' is the name of a module"),
        (["new", "pipeline", "params"], "'params' is the name of a module"),
        (["new", "pipeline", "hello"], "pipeline 'hello' exists already"),
        (["new", "stage", "hello", "20"], "'20' is not a stage name"),
        (["new", "stage", "hello", "10-report"], "10-report.py exists already"),
        (["new", "stage", "hello", "30-report"], "task 'report' is there already"),
        (["new", "stage", "hello", "05-first"], "10-report is its last stage: number the new one"),
        (["new", "stage", "nope", "30-more"], "no pipeline 'nope'"),
    ],
)
def test_a_name_that_exists_or_is_not_one_is_refused_in_one_line_writing_nothing(
    project, capsys, argv, message
):
    assert cli.main(["new", "pipeline", "hello"]) == 0
    before = _files(project)
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert _files(project) == before


def test_a_stage_table_that_is_not_a_literal_is_refused_writing_nothing(project, capsys):
    assert cli.main(["new", "pipeline", "hello"]) == 0
    declaration = project / "pipelines" / "hello" / "pipeline.py"
    text = declaration.read_text().replace("    stages=(", "    stages=STAGES + (", 1)
    declaration.write_text(text.replace("PIPELINE = ", "STAGES = ()\nPIPELINE = ", 1))
    before = _files(project)
    assert cli.main(["new", "stage", "hello", "20-more"]) == 2
    assert 'add Stage("more", "20-more"' in capsys.readouterr().err
    assert _files(project) == before
