"""Where a Stagebook project keeps its files: the project root, its pipelines, the archive.

``STAGEBOOK_ROOT`` is the project (``dags/``, ``pipelines/``, ``plugins/``): by
default the one the current folder is in, else the checkout this package lives
in, else the current folder (where ``stagebook new`` starts one).
``STAGEBOOK_PIPELINES`` lists more folders of pipelines (``os.pathsep`` between
them) after ``<root>/pipelines``. ``STAGEBOOK_PIPELINE`` names the pipeline a
process works for (the operator sets it for a stage's kernel); unset, it is the
one whose folder holds the current directory, or the project's only one.
``STAGEBOOK_HOME`` is the archive (default ``<root>/var``), and
``STAGEBOOK_PARAMS_<NAME>`` a params folder that replaces pipeline NAME's own.
Each is read on every call, so tests and the CLI can point them elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

KERNEL_NAME = "stagebook"
PIPELINE = "STAGEBOOK_PIPELINE"
PIPELINES = "STAGEBOOK_PIPELINES"
DECLARATION = "pipeline.py"
_CHECKOUT = Path(__file__).resolve().parents[2]  # lib/stagebook/ -> the repository


def root() -> Path:
    """Return the project root.

    ``$STAGEBOOK_ROOT``; else the project the current folder is in (the nearest
    folder, from it up, that holds ``pipelines/``), as git finds its repository;
    else the source checkout of this package; else the current folder.
    """
    found = chosen_root()
    if found is not None:
        return found
    if (_CHECKOUT / "pipelines").is_dir() and (_CHECKOUT / "dags").is_dir():
        return _CHECKOUT
    return Path.cwd().resolve()


def chosen_root() -> Path | None:
    """Return ``$STAGEBOOK_ROOT``, else the project the current folder is in, else None.

    The project is the nearest folder, from the current one up, whose
    ``pipelines/`` holds a pipeline.
    """
    configured = os.environ.get("STAGEBOOK_ROOT")
    if configured:
        return Path(configured).resolve()
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:  # the current folder was removed
        return None
    return next((f for f in (here, *here.parents) if _holds_pipelines(f)), None)


def _holds_pipelines(folder: Path) -> bool:
    """Tell whether ``folder/pipelines`` holds a pipeline (a folder with a declaration)."""
    return any((folder / "pipelines").glob(f"*/{DECLARATION}"))


def home() -> Path:
    """Return the archive root, ``$STAGEBOOK_HOME`` or ``<root>/var``."""
    return Path(os.environ.get("STAGEBOOK_HOME") or root() / "var").resolve()


def pipeline_roots() -> list[Path]:
    """Return the folders that hold pipeline folders: ``<root>/pipelines``, then ``$STAGEBOOK_PIPELINES``."""
    extra = [Path(p).resolve() for p in os.environ.get(PIPELINES, "").split(os.pathsep) if p]
    return [root() / "pipelines", *extra]


def pipeline_folders() -> list[Path]:
    """Return every pipeline folder (one with a ``pipeline.py``), in the order of their roots."""
    return [
        folder
        for base in pipeline_roots()
        if base.is_dir()
        for folder in sorted(base.iterdir())
        if (folder / DECLARATION).is_file()
    ]


def pipeline_name() -> str:
    """Return the current pipeline's name: ``$STAGEBOOK_PIPELINE``, the folder in use, or the only one.

    Raises:
        PipelineError: when the project has no pipeline, or several and none is chosen.
    """
    from stagebook.errors import PipelineError

    chosen = os.environ.get(PIPELINE)
    if chosen:
        return chosen
    folders = pipeline_folders()
    here = Path.cwd().resolve()
    inside = [f.name for f in folders if here == f or f in here.parents]
    if inside or len(folders) == 1:
        return (inside or [folders[0].name])[0]
    if not folders:
        raise PipelineError(
            f"no pipeline in {', '.join(map(str, pipeline_roots()))}: a pipeline is a folder "
            f"with a {DECLARATION}"
        )
    names = ", ".join(sorted(f.name for f in folders))
    raise PipelineError(f"several pipelines ({names}): name one with --pipeline NAME")


def params_dir(pipeline: str | None = None) -> Path:
    """Return a pipeline's params folder: ``$STAGEBOOK_PARAMS_<NAME>`` or its folder's ``params/``."""
    from stagebook import pipelines

    name = pipeline or pipeline_name()
    configured = os.environ.get(params_variable(name))
    if configured:
        return Path(configured).resolve()
    return pipelines.folder(name) / "params"


def params_variable(pipeline: str) -> str:
    """Return the variable that replaces pipeline ``pipeline``'s params folder: ``STAGEBOOK_PARAMS_<NAME>``.

    ``<NAME>`` is the name in capitals, every character that a variable's name
    cannot hold (``-``, ``.``) an underscore.
    """
    return "STAGEBOOK_PARAMS_" + re.sub(r"\W", "_", pipeline.upper())


def notebooks_dir(pipeline: str | None = None) -> Path:
    """Return the folder of a pipeline's stage notebooks (default: the current pipeline's)."""
    from stagebook import pipelines

    return pipelines.folder(pipeline or pipeline_name()) / "notebooks"


@contextlib.contextmanager
def using(pipeline: str) -> Iterator[None]:
    """Make ``pipeline`` the current one for a block (a kernel started in it inherits it)."""
    with environ({PIPELINE: pipeline}):
        yield


def dags_dir() -> Path:
    """Return the folder of the DAG files."""
    return root() / "dags"


def plugins_dir() -> Path:
    """Return the folder of the Airflow plugin."""
    return root() / "plugins"


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (kernels started in it inherit them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connection_variable(conn_id: str) -> str:
    """Return the environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"
