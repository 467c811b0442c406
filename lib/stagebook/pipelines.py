"""The project's pipelines: find their folders, load and check their declarations.

A pipeline is a folder of a pipelines root (:func:`stagebook.settings.pipeline_roots`)
with a ``pipeline.py`` that declares ``PIPELINE``, a
:class:`stagebook.declaration.Pipeline`. Its name is the folder's. Every mistake
is one line naming the folder or file and what to do: a folder without a
declaration, a stage whose notebook is missing, a declaration that does not
import or does not hold, two pipelines with one DAG id.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path

from stagebook import settings
from stagebook.declaration import Pipeline
from stagebook.errors import PipelineError

ATTRIBUTE = "PIPELINE"
_loaded: dict[tuple[Path, int], Pipeline] = {}
_imported_from: set[str] = set()  # the pipeline folders this process put on its path


def _candidates() -> list[Path]:
    """Return every folder of the pipelines roots (a hidden or ``_`` one aside), roots in order."""
    return [
        child
        for base in settings.pipeline_roots()
        if base.is_dir()
        for child in sorted(base.iterdir())
        if child.is_dir() and not child.name.startswith((".", "_"))
    ]


def folder(name: str) -> Path:
    """Return the folder of pipeline ``name``.

    Raises:
        PipelineError: naming the pipelines there are, when none is ``name``.
    """
    found = [f for f in settings.pipeline_folders() if f.name == name]
    if found:
        return found[0]
    known = ", ".join(f.name for f in settings.pipeline_folders()) or "none"
    raise PipelineError(f"no pipeline {name!r} (pipelines: {known}); name one with --pipeline")


def _import(path: Path) -> object:
    """Import a declaration file as a module of its own; return its ``PIPELINE``."""
    module_name = f"stagebook_pipeline_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a declaration's own mistake: named with its file, on one line
        sys.modules.pop(module_name, None)
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise PipelineError(f"{path}: {message}") from None
    declared = getattr(module, ATTRIBUTE, None)
    if not isinstance(declared, Pipeline):
        raise PipelineError(
            f"{path}: declares no {ATTRIBUTE} = stagebook.declaration.Pipeline(...)"
        )
    return dataclasses.replace(declared, description=declared.description or (module.__doc__ or ""))


def importable(pipeline_folder: Path) -> None:
    """Let this process import the pipeline's own package, which lives in its folder.

    A pipeline's code is its folder's package (``pipelines/<name>/<package>/``), not
    an installed one: the declaration, its params schema and its kernels import it
    from there (:func:`python_path` for a kernel), with the project installed or not.
    """
    entry = str(pipeline_folder.resolve())
    if entry not in sys.path:
        sys.path.append(entry)  # after the installed packages: a pipeline never shadows one
        _imported_from.add(entry)


def installed_path() -> list[str]:
    """Return this process's import path without the pipeline folders :func:`importable` added."""
    return [entry for entry in sys.path if entry not in _imported_from]


def python_path(pipeline_folder: Path, current: str = "") -> str:
    """Return ``PYTHONPATH`` for a kernel of the pipeline: ``current``, then the pipeline's folder."""
    entries = [p for p in current.split(os.pathsep) if p]
    entry = str(pipeline_folder.resolve())
    return os.pathsep.join(entries if entry in entries else [*entries, entry])


def load(pipeline_folder: Path) -> Pipeline:
    """Return the declaration of the pipeline in ``pipeline_folder``, checked against its notebooks."""
    path = pipeline_folder / settings.DECLARATION
    if not path.is_file():
        raise PipelineError(
            f"{pipeline_folder}: no {settings.DECLARATION}; declare "
            f"{ATTRIBUTE} = Pipeline(...) there, or move the folder out of the pipelines folder"
        )
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if key not in _loaded:
        importable(pipeline_folder)
        declared = _import(path)
        assert isinstance(declared, Pipeline)
        _loaded[key] = dataclasses.replace(
            declared, name=pipeline_folder.name, folder=pipeline_folder
        )
    loaded = _loaded[key]
    for stage in loaded.every_stage:  # every time: a notebook may have gone since
        if not loaded.notebook(stage.notebook).is_file():
            raise PipelineError(
                f"{path}: stage {stage.task!r} runs notebook {stage.notebook}, but "
                f"{loaded.notebook(stage.notebook)} does not exist; add it or fix the name"
            )
    return loaded


def survey() -> list[tuple[Path, Pipeline | PipelineError]]:
    """Return each folder of the pipelines roots with its pipeline, or what keeps it from being one.

    What keeps it: no declaration, a declaration that does not import or hold, a
    missing notebook, or a DAG id or folder name that an earlier folder has.
    """
    found: list[tuple[Path, Pipeline | PipelineError]] = []
    seen: dict[str, Pipeline] = {}
    for candidate in _candidates():
        try:
            pipeline = load(candidate)
        except PipelineError as exc:
            found.append((candidate, exc))
            continue
        clashes = [
            PipelineError(
                f"{pipeline.folder}: {what} {value!r} is also {other.folder}'s; "
                "rename one folder, or give one of them another dag_id"
            )
            for what, value in (("DAG id", pipeline.id), ("folder name", pipeline.name))
            if (other := seen.setdefault(f"{what} {value}", pipeline)) is not pipeline
        ]
        found.append((candidate, clashes[0] if clashes else pipeline))
    return found


def every() -> list[Pipeline]:
    """Return every pipeline of the project, checked: each folder declared, each DAG id once.

    Raises:
        PipelineError: for the first folder that is not a pipeline (:func:`survey`).
    """
    found = survey()
    for _, item in found:
        if isinstance(item, PipelineError):
            raise item
    return [item for _, item in found if isinstance(item, Pipeline)]


def get(name: str | None = None) -> Pipeline:
    """Return pipeline ``name`` (its folder's name or its DAG id), or the current one.

    Raises:
        PipelineError: when there is no such pipeline, or several and none is named.
    """
    name = name or settings.pipeline_name()
    pipelines = every()
    for pipeline in pipelines:
        if name in (pipeline.name, pipeline.id):
            return pipeline
    known = ", ".join(p.name for p in pipelines) or "none"
    raise PipelineError(f"no pipeline {name!r} (pipelines: {known}); name one with --pipeline")


def declaring(dag_id: str) -> Pipeline | None:
    """Return the pipeline whose DAG is ``dag_id``, or None when no pipeline declares it.

    Raises:
        PipelineError: when the project's pipelines cannot be loaded (one line).
    """
    return next((p for p in every() if p.id == dag_id), None)


def enter(dag_id: str) -> Pipeline | None:
    """Make the pipeline of DAG ``dag_id`` this process's current one; return it.

    A task process runs one task, and an in-process run one DAG: each entry point
    of a task (an operator, a callback) calls this first, so that params,
    notebooks and data paths are that pipeline's. None, and nothing changed, for
    a DAG that no pipeline declares (an example consumer).

    Raises:
        PipelineError: when the project's pipelines cannot be loaded (one line).
    """
    pipeline = declaring(dag_id)
    if pipeline is not None:
        os.environ[settings.PIPELINE] = pipeline.name
    return pipeline
