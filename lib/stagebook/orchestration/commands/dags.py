"""The DAGs of the project's dags folder, as the CLI loads them.

Each ``.py`` file of the folder is imported as a module of its own (as Airflow's
DAG processor does), and the ``airflow.sdk.DAG`` objects in its globals are its
DAGs; a file that does not import, or whose DAG does not hold, is one error line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from stagebook import pipelines, settings
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import environment


def _files(folder: Path) -> list[Path]:
    """Return the folder's Python files that may declare a DAG, as the scheduler picks them.

    With ``[core] dag_discovery_safe_mode`` (the default), a file that mentions
    neither ``airflow`` nor ``dag`` is skipped, as the scheduler skips it.
    """
    from airflow.sdk import conf

    safe = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    found = []
    for path in sorted(folder.rglob("*.py")):
        if any(part.startswith((".", "__pycache__")) for part in path.relative_to(folder).parts):
            continue
        text = path.read_bytes().lower()
        if not safe or (b"airflow" in text and b"dag" in text):
            found.append(path)
    return found


def _import(path: Path, folder: Path) -> list[Any]:
    """Import ``path`` as a module of a name of its own; return the DAGs in its globals.

    Each DAG is checked as the DAG processor checks it (its own rules, no cycle).
    """
    from airflow.sdk import DAG

    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()
    name = f"stagebook_dags_{digest}_{path.stem.replace('-', '_').replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a class the file defines may look its module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    found = [value for value in vars(module).values() if isinstance(value, DAG)]
    for dag in found:
        dag.fileloc = str(path)  # dag.test() serializes the DAG with the file it came from
        dag.relative_fileloc = str(path.relative_to(folder))
        dag.validate()
        dag.check_cycle()
        dag.resolve_template_files()
    return found


def load_folder(folder: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the DAGs of the dags folder by id, and each file's error (its exception's text).

    A DAG id that two files declare is an error of the second file, as in Airflow.
    """
    folder = folder or settings.dags_dir()
    dags: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for path in _files(folder):
        try:
            found = _import(path, folder)
            twice = [dag.dag_id for dag in found if dag.dag_id in dags]
            if twice:
                raise PipelineError(f"DAG id {twice[0]!r} is declared by another file too")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # what a DAG file raises, even SystemExit, is its error
            errors[str(path)] = "".join(traceback.format_exception_only(exc)).strip()
            continue
        dags.update((dag.dag_id, dag) for dag in found)
    return dags, errors


def error_line(path: str, error: str) -> str:
    """Return a DAG file's error in one line: the exception itself, not its traceback."""
    return f"{path}: DAG import error: {error.strip().splitlines()[-1]}"


def dag_ids() -> list[str]:
    """Return the ids of the DAGs in the dags folder."""
    environment.apply_airflow_environ()
    return sorted(load_folder()[0])


def load_dag(name: str | None = None) -> Any:
    """Return the DAG of pipeline ``name`` (its folder's name or its DAG id), made current.

    ``name`` None: the project's only pipeline. Another DAG of the dags folder (an
    example consumer) is found by its id too.
    """
    environment.apply_airflow_environ()
    from stagebook.orchestration.factory import BROKEN

    dags, errors = load_folder()
    if errors:
        raise PipelineError("; ".join(error_line(p, e) for p, e in sorted(errors.items())))
    if name in dags and pipelines.enter(name) is None:
        return dags[name]
    pipeline = pipelines.get(name)
    if pipeline.id not in dags:
        raise PipelineError(
            f"{settings.dags_dir()}: no DAG {pipeline.id!r} of pipeline {pipeline.name}: "
            "its files must call stagebook.orchestration.factory.pipeline_dags()"
        )
    dag = dags[pipeline.id]
    if BROKEN in dag.tags:  # a stand-in: the pipeline could not be built
        raise PipelineError(dag.description)
    pipelines.enter(pipeline.id)
    return dag
