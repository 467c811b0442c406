"""``stagebook check``: what the scheduler would trip on, found before a commit.

Each problem names its file and the cell or key: a notebook's contract
(parameters cell, kernel, committed outputs, records against the stage table),
params that fail validation or hold something like a secret, DAG import errors.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from stagebook import notebook, params, settings
from stagebook.errors import NotebookContractError, ParamsError

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
    """Return params files that fail validation, and values that look like secrets."""
    found = []
    for phase in [None, *params.known_phases()]:
        try:
            params.load(phase)
        except ParamsError as exc:
            found.append(str(exc))
    for path in sorted(settings.params_dir().glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        for key, value in _leaves(data if isinstance(data, Mapping) else {}):
            if looks_secret(key, value):
                found.append(
                    f"{path}: {key}: looks like a secret; keep it in an Airflow connection, "
                    "never in params (they are written into every archived notebook)"
                )
    return found


def notebook_problems(path: Path, kernels: set[str]) -> list[str]:
    """Return a notebook's committed outputs, missing kernel and parameters cell problems."""
    nb = json.loads(path.read_text())
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


def stage_problems(dags: list[Any]) -> list[str]:
    """Return where a DAG's stage table and its notebooks disagree."""
    from stagebook.orchestration.operators import StageNotebookOperator

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
    for stage in sorted(set(notebook.stages()) - staged):
        found += notebook.record_problems(notebook.path(stage), ())
    return sorted(set(found))


def problems() -> list[str]:
    """Return every problem of the project, each naming its file and cell or key."""
    from airflow.dag_processing.dagbag import DagBag
    from jupyter_client.kernelspec import KernelSpecManager

    found = params_problems()
    bag = DagBag(dag_folder=str(settings.dags_dir()))
    for path, error in sorted(bag.import_errors.items()):
        found.append(f"{path}: DAG import error: {error.strip().splitlines()[-1]}")
    kernels = set(KernelSpecManager().find_kernel_specs())
    for stage in notebook.stages():
        found += notebook_problems(notebook.path(stage), kernels)
    return found + stage_problems(list(bag.dags.values()))
