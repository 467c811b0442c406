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
import keyword
import re
import string
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from stagebook import atomic, settings
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import stagetable

PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
STAGE_NAME = re.compile(r"^\d\d-[a-z][a-z0-9-]*$")
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
    """Refuse a pipeline name that is no lowercase identifier, or names a module Python has.

    Raises:
        PipelineError: one line, naming the name and what to do.
    """
    if not PIPELINE_NAME.match(name) or keyword.iskeyword(name):
        raise PipelineError(
            f"{name!r} is not a pipeline name: use lowercase letters, digits and _, "
            "starting with a letter (it is also its package's name), e.g. daily_sales"
        )
    import sys

    if name in sys.stdlib_module_names or name in ("stagebook", "airflow", "tests"):
        raise PipelineError(
            f"{name!r} is the name of a module Python or Airflow already has "
            "(the pipeline's package would shadow it); choose another name"
        )


def new_pipeline(name: str, today: dt.date | None = None) -> list[str]:
    """Write pipeline ``name`` into the current project; return the files written.

    Raises:
        PipelineError: the name is not valid, or the pipeline (or one of its files) exists.
    """
    check_pipeline_name(name)
    root = settings.chosen_root() or Path.cwd()  # a new project here, never this package's checkout
    known = [f for f in settings.pipeline_folders() if f.name == name]
    if known or (root / "pipelines" / name).exists():
        where = known[0] if known else root / "pipelines" / name
        raise PipelineError(f"pipeline {name!r} exists already ({where}); choose another name")
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
    from stagebook import pipelines

    if not STAGE_NAME.match(stage):
        raise PipelineError(
            f"{stage!r} is not a stage name: NN-name, two digits that order it, then lowercase "
            "letters, digits and -, e.g. 20-summary"
        )
    folder = pipelines.folder(pipeline)
    declared = pipelines.load(folder)
    task = stage[3:].replace("-", "_")
    source = folder / "notebooks" / f"{stage}.py"
    clash = [s for s in declared.every_stage if stage == s.notebook or s.task == task]
    if source.exists() or clash:
        what = f"{source} exists" if source.exists() else f"stage {clash[0].notebook} is there"
        raise PipelineError(f"{what} already in pipeline {pipeline!r}; choose another NN or name")
    declaration = folder / settings.DECLARATION
    row = f'Stage("{task}", "{stage}", records=("{task}",))'
    updated = stagetable.appended(declaration, row)
    today = today or dt.date.today()
    values = {"stage": stage, "task": task, "ds": (today - dt.timedelta(days=1)).isoformat()}
    atomic.write_text(source, _template("stage.py.tmpl", values))
    atomic.write_text(declaration, updated)
    root = settings.root()
    return [str(path.relative_to(root)) for path in (source, declaration)]
