"""Warm kernels: the next stage's kernel, started and importing while this stage runs."""

import os
import sys
from types import SimpleNamespace

import pytest

from stagebook import notebook, settings
from stagebook.orchestration.commands import dags
from stagebook.orchestration.execution import kernels
from stagebook.orchestration.execution.operators import StageNotebookOperator
from tests.support.runs import outputs_text
from tests.support.stages import VALUES, stage_notebook

# wave and colorsys: standard modules that neither ipykernel nor stagebook imports
LOOK = "import sys\nprint('before', 'wave' in sys.modules, 'wv' in globals(), 'rgb_to_hsv' in globals())"
IMPORTS = (
    "%matplotlib inline\nimport wave as wv\nfrom colorsys import rgb_to_hsv\nprint(wv, rgb_to_hsv)"
)


@pytest.fixture
def imports_notebook(tmp_path, monkeypatch, home):
    """A stage notebook that says what its kernel held before its own imports ran."""
    home.mkdir()
    stage_notebook(
        tmp_path, "63-imports", [LOOK, "import os.path\n" + IMPORTS.split("\n", 1)[1], IMPORTS]
    )
    monkeypatch.setenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", str(settings.params_dir()))
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv(kernels.OFF_VARIABLE, raising=False)
    return tmp_path


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


def test_the_imports_of_a_notebook_are_its_top_level_import_statements(imports_notebook):
    found = notebook.imports(notebook.path("63-imports"))
    # the last cell starts with a magic: not Python, skipped
    assert found == [
        "import sys",
        "import os.path",
        "import wave as wv",
        "from colorsys import rgb_to_hsv",
    ]


def test_the_preload_binds_no_name_and_passes_over_an_import_that_fails():
    scope: dict = {}
    exec(kernels.preload_code(["import no_such_module_here", "import wave as wv"]), scope)
    assert set(scope) == {"__builtins__"}
    assert "wave" in sys.modules


def test_a_stage_takes_the_spare_kernel_with_its_modules_imported_and_no_name_bound(
    imports_notebook, home
):
    op = StageNotebookOperator(task_id="imports", stage="63-imports")
    output = home / "warm.ipynb"
    with kernels.warming([op], "d"):
        spare = kernels._spares[("d", "imports")]
        op.runner().run(VALUES, output, "d", op.kernel_environ("d"))
        assert not kernels._spares  # taken, and used once
    assert not _alive(spare.manager.provisioner.pid)  # stopped after its notebook, as any kernel
    assert "before True False False" in outputs_text(output)
    assert op.runner().kernel_seen["kernel_peak_rss_mb"] > 0


def test_without_warming_a_stage_starts_a_fresh_kernel(imports_notebook, home, monkeypatch):
    op = StageNotebookOperator(task_id="imports", stage="63-imports")
    monkeypatch.setenv(kernels.OFF_VARIABLE, "0")
    with kernels.warming([op], "d"):
        assert not kernels._spares
        op.runner().run(VALUES, home / "off.ipynb", "d", op.kernel_environ("d"))
    op.runner().run(
        VALUES, home / "cold.ipynb", "d", op.kernel_environ("d")
    )  # outside any stagebook run: never warm
    for name in ("off", "cold"):
        assert "before False False False" in outputs_text(home / f"{name}.ipynb")


def test_a_spare_that_no_longer_fits_or_that_nobody_took_is_stopped(imports_notebook):
    first = StageNotebookOperator(task_id="first", stage="63-imports")
    second = StageNotebookOperator(task_id="second", stage="63-imports")
    with kernels.warming([first, second], "d"):
        spares = dict(kernels._spares)
        changed = {**first.kernel_environ("d"), "EXTRA": "1"}
        assert kernels.take(first, "d", "stagebook", changed) is None
        assert not _alive(spares[("d", "first")].manager.provisioner.pid)
        assert _alive(spares[("d", "second")].manager.provisioner.pid)
    assert not _alive(spares[("d", "second")].manager.provisioner.pid)
    assert not kernels._spares


def test_a_stage_warms_the_stages_after_it_through_the_phase_branch(airflow_db, home):
    dag = dags.load_dag()
    context = {"dag": dag, "dag_run": SimpleNamespace(conf={"phases": ["beta"]})}
    following = dag.get_task("input_tables").following(context)
    assert [t.task_id for t in following] == ["beta.features"]
    assert [t.task_id for t in dag.get_task("prod.train").following(context)] == ["prod.inference"]
