"""``stagebook check``: what the scheduler would trip on, found before a commit.

Each problem names its file and the cell or key: a notebook's contract
(parameters cell, kernel, committed outputs, records against the stage table),
params that fail validation or hold something like a secret, DAG import errors.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stagebook import notebook, paramfiles, params, pipelines, settings
from stagebook.errors import NotebookContractError, ParamsError, PipelineError

SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential", re.I)


def entropy(text: str) -> float:
    """Return the Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_secret(key: str, value: Any) -> bool:
    """Tell whether a params value looks like a secret: by its key's name, or a random string."""
    if value in (None, "", [], {}):
        return False
    if SECRET_KEY.search(key):
        return True
    text = str(value)
    random_looking = len(text) >= 20 and " " not in text and entropy(text) >= 4.0
    return random_looking and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _leaves(data: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def params_problems() -> list[str]:
    """Return params files that fail validation, and values that look like secrets.

    Each mistake once, on its own line: a broken ``common.yaml`` fails every phase alike.
    """
    found = []
    for phase in [None, *params.known_phases()]:
        try:
            params.load(phase)
        except ParamsError as exc:
            found += [line for line in str(exc).splitlines() if line.strip()]
    for path in sorted(settings.params_dir().glob("*.yaml")):
        try:
            data = paramfiles.read(path)
        except ParamsError:
            continue  # reported above, with its line and column
        for key, value in _leaves(data):
            if looks_secret(key, value):
                found.append(
                    f"{path}: {key}: looks like a secret; keep it in an Airflow connection, "
                    "never in params (they are written into every archived notebook)"
                )
    return list(dict.fromkeys(found))


def notebook_problems(path: Path, kernels: set[str]) -> list[str]:
    """Return a stage source's committed outputs, missing kernel and parameters cell problems."""
    try:
        nb = notebook.read(path)
    except NotebookContractError as exc:
        return [str(exc)]
    found = [
        f"{path}: cell {number}: committed output; strip it (nbstripout) and commit again"
        for number, cell in enumerate(nb.get("cells", []), start=1)
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel and kernel not in kernels:
        found.append(f"{path}: kernel {kernel!r} is not installed; installed: {sorted(kernels)}")
    try:
        notebook.parameters(path)
        notebook.recorded(path)
    except NotebookContractError as exc:
        found.append(str(exc))
    return found


def stage_problems(dags: list[Any], *, every_dag_imported: bool = True) -> list[str]:
    """Return where a DAG's stage table and its notebooks disagree.

    A notebook no task runs must record nothing, but only if ``every_dag_imported``:
    the stage table of a DAG file that did not import is unknown, and comparing
    against nothing would report every record of its notebooks.
    """
    from stagebook.orchestration.execution.operators import StageNotebookOperator

    found = []
    staged = set()
    for dag in dags:
        for task in dag.tasks:
            if not isinstance(task, StageNotebookOperator):
                continue
            path = notebook.path(task.stage)
            staged.add(task.stage)
            if not path.exists():
                found.append(f"{path}: task {dag.dag_id}.{task.task_id} runs it, it does not exist")
                continue
            try:
                declared = set(notebook.parameters(path))
            except NotebookContractError:
                continue  # reported with the notebook
            injected = task.injected_names
            if declared != injected:
                found.append(
                    f"{path}: parameters cell declares {sorted(declared)}, task "
                    f"{dag.dag_id}.{task.task_id} injects {sorted(injected)}"
                )
            found += notebook.record_problems(path, task.records)
    for stage in sorted(set(notebook.stages()) - staged) if every_dag_imported else ():
        found += notebook.record_problems(notebook.path(stage), ())
    return sorted(set(found))


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Silence what importing the DAG files logs or prints: each import error gets one line."""
    logger = logging.getLogger("stagebook.params")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Airflow's structlog writes to stdout
            yield
    finally:
        logger.setLevel(level)


def dag_problems(known: list[str]) -> tuple[list[str], list[Any], bool]:
    """Return the DAG files' import errors, the DAGs that imported, and whether all did.

    An import error that only repeats a problem in ``known`` (a DAG file reads
    ``common.yaml`` when it is parsed) is that problem, already reported.
    """
    from stagebook.orchestration.commands import dags

    with _quietly():
        loaded, errors = dags.load_folder()
    found = [
        dags.error_line(path, error)
        for path, error in sorted(errors.items())
        if not any(problem in error for problem in known)
    ]
    return found, list(loaded.values()), not errors


def problems(name: str | None = None) -> list[str]:
    """Return every problem of the project's pipelines (or of pipeline ``name``), each naming its file.

    A folder that is not a pipeline, a stage whose notebook is missing, a
    declaration that does not hold or a DAG id used twice comes first, alone:
    nothing else of the project can be checked against a declaration that is not.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    from stagebook.orchestration.factory import BROKEN

    try:
        chosen = [pipelines.get(name)] if name else pipelines.every()
    except PipelineError as exc:
        return [str(exc)]
    found: list[str] = []
    for pipeline in chosen:
        with settings.using(pipeline.name):
            found += params_problems()
    dag_found, dags, every_dag_imported = dag_problems(found)
    found += dag_found
    kernels = set(KernelSpecManager().find_kernel_specs())
    for pipeline in chosen:
        with settings.using(pipeline.name):
            found += notebook.pair_problems(settings.notebooks_dir())
            for stage in notebook.stages():
                found += notebook_problems(notebook.path(stage), kernels)
            mine = [dag for dag in dags if dag.dag_id == pipeline.id]
            stand_ins = [dag.description for dag in mine if BROKEN in dag.tags]
            # a stand-in has no stage table to compare with: its problem, unless known
            found += [p for p in stand_ins if not any(k in p for k in found)]
            built = not stand_ins and every_dag_imported
            found += stage_problems([] if stand_ins else mine, every_dag_imported=built)
    return found
