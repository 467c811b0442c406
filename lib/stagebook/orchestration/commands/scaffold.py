"""``stagebook new``: a pipeline, or a stage of one, that runs as written.

``new pipeline NAME`` writes a pipeline's folder in the current project (its
declaration, params with their schema, its package, two stage sources) and a test
that runs it for one date; a project without them also gets the few-line DAG
loader, the plugin file and ``jupytext.toml``. ``new stage PIPELINE NN-name`` adds
a stage source and its row in the declaration's stage table. A name that exists,
or is not one, is refused in one line before anything is written.
"""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import keyword
import re
import string
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from stagebook import atomic, pipelines, provenance, settings
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import stagetable

PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
STAGE_NAME = re.compile(r"^\d\d-[a-z][a-z0-9-]*$")
RESERVED = frozenset({"pipeline", "params", "notebooks", "tests", "dags", "plugins"})
# The project's own files, written only when missing: what makes a folder a project.
PROJECT_FILES = {
    "dags/pipelines.py": "dags.py.tmpl",
    "plugins/stagebook_plugin.py": "plugin.py.tmpl",
    "jupytext.toml": "jupytext.toml.tmpl",
}


def _template(name: str, values: Mapping[str, str]) -> str:
    text = (resources.files("stagebook") / "templates" / "new" / name).read_text()
    return string.Template(text).substitute(values)


def _write(root: Path, files: Mapping[str, str]) -> list[str]:
    """Write each file (path relative to ``root`` -> text); return the paths, as written."""
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(target, text)
    return list(files)


def _existing(root: Path, files: Mapping[str, str]) -> list[str]:
    return [relative for relative in files if (root / relative).exists()]


def check_pipeline_name(name: str) -> None:
    """Refuse a pipeline name that is no lowercase identifier, or that a module already has.

    The name is also its package's, on its kernels' import path: an installed
    module of that name (``json``, ``pandas``, ``tornado``) would be shadowed, or
    shadow it; a pipeline folder's own entries (``params``, ...) would be mistaken.

    Raises:
        PipelineError: one line, naming the name and what to do.
    """
    if not PIPELINE_NAME.match(name) or keyword.iskeyword(name):
        raise PipelineError(
            f"{name!r} is not a pipeline name: use lowercase letters, digits and _, "
            "starting with a letter (it is also its package's name), e.g. daily_sales"
        )
    installed = importlib.machinery.PathFinder.find_spec(name, pipelines.installed_path())
    if name in RESERVED or name in sys.stdlib_module_names or installed is not None:
        raise PipelineError(
            f"{name!r} is the name of a module this environment already has (or of a pipeline "
            "folder's own entry); the pipeline's package would clash with it: choose another name"
        )


def new_pipeline(name: str, today: dt.date | None = None) -> list[str]:
    """Write pipeline ``name`` into the current project; return the files written.

    Raises:
        PipelineError: the name is not valid, or the pipeline (or one of its files) exists.
    """
    check_pipeline_name(name)
    root = settings.chosen_root() or Path.cwd()  # a new project here, never this package's checkout
    if (root / "pipelines" / name).exists():
        raise PipelineError(
            f"pipeline {name!r} exists already ({root / 'pipelines' / name}); choose another name"
        )
    today = today or dt.date.today()
    values = {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "start": (today - dt.timedelta(days=30)).isoformat(),
        "ds": (today - dt.timedelta(days=1)).isoformat(),  # the latest complete date
    }
    folder = f"pipelines/{name}"
    files = {
        f"{folder}/pipeline.py": "pipeline.py.tmpl",
        f"{folder}/params/common.yaml": "common.yaml.tmpl",
        f"{folder}/{name}/__init__.py": "package.py.tmpl",
        f"{folder}/{name}/params.py": "params.py.tmpl",
        f"{folder}/notebooks/00-extract.py": "00-extract.py.tmpl",
        f"{folder}/notebooks/10-report.py": "10-report.py.tmpl",
        f"tests/test_{name}.py": "test_pipeline.py.tmpl",
    }
    taken = _existing(root, files)
    if taken:
        raise PipelineError(f"{root / taken[0]} exists already; choose another pipeline name")
    missing = {k: v for k, v in PROJECT_FILES.items() if not (root / k).exists()}
    rendered = {
        path: _template(template, values) for path, template in {**files, **missing}.items()
    }
    return _write(root, rendered)


def new_stage(pipeline: str, stage: str, today: dt.date | None = None) -> list[str]:
    """Add stage ``stage`` (``NN-name``) to ``pipeline``: its source and its row; return the files.

    Raises:
        PipelineError: the stage name is not valid, exists, or the declaration has no
            literal stage table to add it to.
    """
    if not STAGE_NAME.match(stage):
        raise PipelineError(
            f"{stage!r} is not a stage name: NN-name, two digits that order it, then lowercase "
            "letters, digits and -, e.g. 20-summary"
        )
    folder = pipelines.folder(pipeline)
    declared = pipelines.load(folder)
    task = stage[3:].replace("-", "_")
    source = folder / "notebooks" / f"{stage}.py"
    rows = (*declared.stages, *declared.phase_stages)
    clash = [row.task for row in rows if row.task == task or getattr(row, "notebook", "") == stage]
    if source.exists() or clash:
        what = f"{source} exists" if source.exists() else f"task {clash[0]!r} is there"
        raise PipelineError(f"{what} already in pipeline {pipeline!r}; choose another NN or name")
    last = max((row.notebook for row in declared.stages if hasattr(row, "notebook")), default="")
    if stage[:2] <= last[:2]:
        raise PipelineError(
            f"{stage}: the stage table runs its rows in order, and {last} is its last stage: "
            f"number the new one after it (e.g. {int(last[:2]) + 10:02d}-{stage[3:]})"
        )
    declaration = folder / settings.DECLARATION
    row = f'Stage("{task}", "{stage}", records=("{task}",))'
    updated = stagetable.appended(declaration, row)
    today = today or dt.date.today()
    values = {"stage": stage, "task": task, "ds": (today - dt.timedelta(days=1)).isoformat()}
    atomic.write_text(source, _template("stage.py.tmpl", values))
    atomic.write_text(declaration, updated)
    return [provenance.shown_path(path, settings.root()) for path in (source, declaration)]
