"""A third pipeline, a declaration and two notebooks alone, runs end to end through Airflow."""

import datetime as dt
import json
import shutil

import jupytext
import nbformat

from stagebook import settings, storage
from tests.support import project

DECLARATION = '''"""Counts, then doubles the count: the least a pipeline is."""

from stagebook.declaration import Pipeline, Stage

PIPELINE = Pipeline(
    schedule="0 3 * * *",
    timezone="Europe/Paris",
    start="2019-11-01",
    stages=(
        Stage("count", "01-count", records=("numbers",), figure=("total", "numbers.total")),
        Stage("double", "02-double", records=("doubled",), pulls={"numbers": "count"}),
    ),
)
'''
PARAMETERS = "ds = None\nphase = 'common'\ntry_number = 1\nrun_id = 'manual'\noverrides = {}"
STAGE = (
    "import stagebook\n\nctx = stagebook.stage('{name}', ds=ds, phase=phase, "
    "try_number=try_number, run_id=run_id, overrides=overrides)"
)


def notebook(path, name, extra_parameters, record):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "stagebook", "display_name": "s", "language": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS + extra_parameters)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        parameters,
        nbformat.v4.new_code_cell(STAGE.format(name=name)),
        nbformat.v4.new_code_cell(record),
    ]
    jupytext.write(nb, path / "notebooks" / f"{name}.py", fmt="py:percent")


def test_a_pipeline_of_a_declaration_and_two_notebooks_runs_through_airflow(tmp_path):
    folder = tmp_path / "more" / "minimal"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "pipeline.py").write_text(DECLARATION)
    notebook(folder, "01-count", "", "stagebook.record('numbers', {'total': sum(range(10))})")
    notebook(
        folder,
        "02-double",
        "\nnumbers = None",
        "stagebook.record('doubled', numbers['total'] * 2 + len(ctx.params.pipeline.phases))",
    )
    home = tmp_path / "home"
    env = project.environ(settings.root(), home, STAGEBOOK_PIPELINES=str(folder.parent))

    done = project.run(env, "--pipeline", "minimal", ds="2019-11-20")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    day = storage.report_day("minimal", dt.date(2019, 11, 20), home)
    (run,) = (day / "common").iterdir()
    for stage in ("01-count", "02-double"):
        sidecar = json.loads((run / f"{stage}.try1.json").read_text())
        assert (sidecar["dag_id"], sidecar["state"]) == ("minimal", "success")
    assert json.loads((run / "02-double.try1.json").read_text())["records"]["doubled"] == 90
    index = storage.index_page(home).read_text()
    assert "minimal" in index and "01-count" in index and "02-double" in index

    shutil.rmtree(folder)  # removed: no framework file knew it
    gone = project.run(env, "--pipeline", "minimal", ds="2019-11-20")
    assert gone.returncode == 2
    assert "no pipeline 'minimal'" in gone.stderr
