"""Warm kernels: the next stage's kernel, started and importing while this stage runs."""

import json
import os
import sys
from types import SimpleNamespace

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from stagebook import notebook, settings
from stagebook.orchestration.commands import dags
from stagebook.orchestration.execution import kernels, preload
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
    exec(preload.preload_code(["import no_such_module_here", "import wave as wv"]), scope)
    assert set(scope) == {"__builtins__"}
    assert "wave" in sys.modules


PROBE = (
    "import os\nfrom IPython import get_ipython\n"
    "_names = set(get_ipython().user_ns)\n"
    "AHEAD = 'ds' not in _names  # the parameters cell binds ds: imported before any cell ran\n"
    "BOUND = sorted({'wv', 'rgb_to_hsv'} & _names)\n"
    "SETTING = os.environ.get('PRELOAD_PROBE')\n"
)
PROBED = "import wave as wv\nfrom colorsys import rgb_to_hsv\nimport preload_probe\n"
SAYS = "print('probe', preload_probe.AHEAD, preload_probe.BOUND, preload_probe.SETTING)"
# os.environ set before an import: that import must run after it, as in a cold kernel
SETS_FIRST = "import os\nos.environ['PRELOAD_PROBE'] = 'set'\n" + PROBED + SAYS


@pytest.fixture
def probe(imports_notebook, monkeypatch):
    """A module that says, when imported, if its notebook's cells had run yet; on PYTHONPATH."""
    folder = imports_notebook / "probe"
    folder.mkdir()
    (folder / "preload_probe.py").write_text(PROBE)
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    stage_notebook(imports_notebook, "64-probe", [PROBED + SAYS])
    stage_notebook(imports_notebook, "65-sets-first", [SETS_FIRST])
    stage_notebook(
        imports_notebook, "66-plain", [PROBED, "print(wv.__name__, rgb_to_hsv(0.2, 0.4, 0.4))"]
    )
    return imports_notebook


def _run(stage, output, *, warm):
    op = StageNotebookOperator(task_id=stage, stage=stage)
    with kernels.warming([op], "d", enabled=warm):
        spares = dict(kernels._spares)
        op.runner().run(VALUES, output, "d", op.kernel_environ("d"))
        assert not kernels._spares  # taken, and used once
    return op, spares


def _code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [(c["execution_count"], c["outputs"]) for c in cells if c["cell_type"] == "code"]


def test_a_stage_takes_the_spare_kernel_with_its_modules_imported_and_no_name_bound(probe, home):
    output = home / "warm.ipynb"
    op, spares = _run("64-probe", output, warm=True)
    # the kernel nbclient connected to (km) is the spare, stopped after its notebook as any kernel
    assert not _alive(spares[("d", "64-probe")].manager.provisioner.pid)
    assert "probe True [] None" in outputs_text(output)
    assert op.runner().kernel_seen["kernel_peak_rss_mb"] > 0
    _run("64-probe", home / "cold.ipynb", warm=False)
    assert "probe False ['rgb_to_hsv', 'wv'] None" in outputs_text(home / "cold.ipynb")


def test_imports_after_a_statement_that_sets_the_environment_are_not_run_ahead(probe, home):
    _run("65-sets-first", home / "warm.ipynb", warm=True)
    assert "probe False ['rgb_to_hsv', 'wv'] set" in outputs_text(home / "warm.ipynb")


def test_a_warm_kernel_archives_the_same_cells_as_a_cold_one(probe, home):
    for stage in ("65-sets-first", "66-plain"):
        _run(stage, home / f"{stage}-warm.ipynb", warm=True)
        _run(stage, home / f"{stage}-cold.ipynb", warm=False)
        warm, cold = (_code_cells(home / f"{stage}-{how}.ipynb") for how in ("warm", "cold"))
        assert warm == cold
    assert "probe False ['rgb_to_hsv', 'wv'] set" in outputs_text(home / "65-sets-first-cold.ipynb")
    assert "wave (" in outputs_text(home / "66-plain-cold.ipynb")


def test_only_the_imports_nothing_before_could_change_are_run_ahead(tmp_path):
    path = stage_notebook(
        tmp_path,
        "67-order",
        [
            '"""A docstring."""\nimport a\nfrom b import c\nlimit: int = 3\npass',
            "from __future__ import annotations\nimport d as e",
            "import os\nos.environ['X'] = '1'\nimport f",
            "import g",
        ],
    )
    assert preload.preloadable(path) == [
        "import a",
        "from b import c",
        "import d as e",
        "import os",
    ]
    magic = stage_notebook(tmp_path, "68-magic", ["import a", "%env X=1\nimport b", "import c"])
    assert preload.preloadable(magic) == ["import a"]
    call = stage_notebook(tmp_path, "69-call", ["import a\nx = f()\nimport b"])
    assert preload.preloadable(call) == ["import a"]


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
    following = kernels.following(dag.get_task("input_tables"), context)
    assert [t.task_id for t in following] == ["beta.features"]
    train = dag.get_task("prod.train")
    assert [t.task_id for t in kernels.following(train, context)] == ["prod.inference"]


def test_the_stage_after_an_approval_gate_starts_with_the_stage_before_the_gate(airflow_db, home):
    dag = dags.load_dag()
    context = {"dag": dag, "dag_run": SimpleNamespace(conf={"phases": ["prod"]})}
    following = kernels.following(dag.get_task("prod.validate"), context)
    assert [t.task_id for t in following] == ["prod.approve"]  # a gate: it runs no kernel
    assert [t.task_id for t in kernels._stages_among(following)] == ["prod.publish"]
    # the phase branch is not looked through: it starts the phases it chooses itself
    assert kernels._stages_among(dag.get_task("input_tables").downstream_list) == []


def test_a_stage_starts_the_kernels_of_the_next_two_stages(airflow_db, home):
    dag = dags.load_dag()
    context = {"dag": dag, "dag_run": SimpleNamespace(conf={"phases": ["prod"]})}
    ahead = {
        task: [t.task_id for t in kernels.ahead(dag.get_task(task), context)]
        for task in ("input_tables", "prod.train", "prod.inference")
    }
    assert ahead == {
        "input_tables": ["prod.features", "prod.train"],
        "prod.train": ["prod.inference", "prod.validate"],
        "prod.inference": ["prod.validate", "prod.approve"],  # the gate: publish after it
    }
    gated = kernels.ahead(dag.get_task("prod.inference"), context)
    assert [t.task_id for t in kernels._stages_among(gated)] == ["prod.validate", "prod.publish"]


def test_a_run_not_yet_begun_warms_its_first_stages_and_two_after_down_every_phase(
    airflow_db, home
):
    dag = dags.load_dag()
    ahead = sorted(t.task_id for t in kernels.before_run(dag))  # what `stagebook warm` starts
    assert ahead == ["beta.features", "beta.train", "input_tables", "prod.features", "prod.train"]


def test_choosing_the_phases_stops_the_spares_only_the_other_phases_lead_to(airflow_db, home):
    dag = dags.load_dag()
    branch = dag.get_task("select_phase")
    dropped = kernels.unchosen(branch, ["prod.features"])
    assert {"beta.features", "beta.train", "beta.publish"} <= dropped
    assert all(task.startswith("beta.") for task in dropped)  # not the summary both lead to
    assert kernels.unchosen(branch, ["prod.features", "beta.features"]) == set()


def test_the_phase_branch_stops_the_spares_of_the_phases_it_does_not_choose(
    airflow_db, home, monkeypatch
):
    monkeypatch.delenv(kernels.OFF_VARIABLE, raising=False)
    dag = dags.load_dag()
    branch = dag.get_task("select_phase")
    context = {"dag": dag, "dag_run": SimpleNamespace(conf={"phases": ["prod"]})}
    with kernels.warming([dag.get_task("beta.features")], dag.dag_id):  # as a warm child has
        other = kernels._spares[(dag.dag_id, "beta.features")]
        assert branch.choose_branch(context) == ["prod.features"]
        assert not _alive(other.manager.provisioner.pid)
        assert list(kernels._spares) == [(dag.dag_id, "prod.features")]


def test_a_dismissed_spare_is_stopped_at_once_and_a_chosen_one_kept(imports_notebook):
    with DAG("d", schedule=None):
        branch = EmptyOperator(task_id="branch")
        kept = StageNotebookOperator(task_id="kept", stage="63-imports")
        other = StageNotebookOperator(task_id="other", stage="63-imports")
        branch >> [kept, other]
    with kernels.warming([kept, other], "d"):
        spares = dict(kernels._spares)
        kernels.dismiss(branch, ["kept"], "d")
        assert not _alive(spares[("d", "other")].manager.provisioner.pid)
        assert list(kernels._spares) == [("d", "kept")]
        assert _alive(spares[("d", "kept")].manager.provisioner.pid)
