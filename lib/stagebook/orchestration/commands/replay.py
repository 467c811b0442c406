"""Replay one archived try in Jupyter: its notebook with the exact parameters it was given.

:func:`find` locates a try by run and task (or by date, phase and stage);
:func:`write` writes its notebook, as it ran (the injected parameters, pulled
values included, as papermill wrote them), without outputs, under
``replays/`` (``stagebook.storage.replay_path``); :func:`until_failure` runs it
up to its failing cell in a kernel that stays alive afterwards, so the state at
the point of failure can be inspected (``jupyter console --existing <file>``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from stagebook import pipelines, settings, storage
from stagebook.context import DAG_ID_VARIABLE
from stagebook.errors import ReplayError
from stagebook.orchestration.execution import secrets
from stagebook.orchestration.reviewing import review


def find(
    run_id: str | None = None,
    task_id: str | None = None,
    *,
    ds: str | None = None,
    phase: str | None = None,
    stage: str | None = None,
    try_number: int | None = None,
    home: Path | None = None,
    dag_ids: list[str] | None = None,
) -> review.Try:
    """Return the archived try of ``task_id`` in ``run_id`` (or of ``stage`` in ds and phase's latest run).

    The latest try unless ``try_number`` is given; of the DAGs ``dag_ids`` only, if given.

    Raises:
        ReplayError: naming the run, task, date, stage or try the archive does not hold.
    """
    found = review.tries(dag_ids, home=home)
    if run_id is not None:
        runs = [t for t in found if t.info.get("run_id") == run_id]
        if not runs:
            raise ReplayError(
                f"unknown run {run_id!r}: no report of it under {storage.reports_root(home)} "
                "(copy the run id from the Airflow UI or the failure message)"
            )
        tries = [t for t in runs if t.info.get("task_id") == task_id]
        dags = sorted({t.dag_id for t in tries})
        if len(dags) > 1:  # two pipelines on one schedule share their scheduled run ids
            raise ReplayError(
                f"run {run_id!r} has task {task_id!r} in {', '.join(dags)}: name one with --pipeline"
            )
        if not tries:
            tasks = sorted({str(t.info.get("task_id")) for t in runs})
            raise ReplayError(
                f"run {run_id!r} has no archived try of task {task_id!r}; "
                f"its stage tasks: {', '.join(tasks)}"
            )
    else:
        mine = [t for t in found if (t.ds, t.phase, t.stage) == (ds, phase, stage)]
        if not mine:
            raise ReplayError(
                f"no archived try of stage {stage!r} for ds {ds} and phase {phase!r} under "
                f"{storage.reports_root(home)} (a stage is named NN-name, e.g. 30-score)"
            )
        latest = max(mine, key=lambda t: t.started).run
        tries = [t for t in mine if t.run == latest]
    tries.sort(key=lambda t: t.number)
    if try_number is None:
        return tries[-1]
    chosen = [t for t in tries if t.number == try_number]
    if not chosen:
        numbers = ", ".join(str(t.number) for t in tries)
        raise ReplayError(
            f"{tries[0].info.get('task_id')} in run {tries[0].info.get('run_id')} has no try "
            f"{try_number}; its tries: {numbers}"
        )
    return chosen[0]


def write(found: review.Try, home: Path | None = None) -> Path:
    """Write the try's notebook as it ran, outputs removed, and return its path.

    Raises:
        ReplayError: the archived notebook is gone, or papermill did not inject its parameters.
    """
    import nbformat

    if not found.notebook.exists():
        raise ReplayError(f"{found.notebook}: the archived notebook of this try is gone")
    nb = nbformat.read(found.notebook, as_version=4)
    if not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise ReplayError(
            f"{found.notebook}: no injected-parameters cell: the try failed before papermill "
            "ran it; nothing to replay"
        )
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata["stagebook_replay"] = {
        "dag_id": found.dag_id,
        "run_id": found.info.get("run_id"),
        "task_id": found.info.get("task_id"),
        "try_number": found.number,
        "archived": str(found.notebook),
    }
    path = storage.replay_path(
        found.dag_id, found.ds, found.phase, found.run, found.stage, found.number, home
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def failing_cell(notebook: Path) -> tuple[int, str] | None:
    """Return the index of the first cell with an error output, and the error's name (or None)."""
    nb = json.loads(notebook.read_text())
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, str(output.get("ename"))
    return None


@dataclasses.dataclass(frozen=True)
class Stopped:
    """Where a replay stopped: the failing cell (None if every cell ran), and its kernel."""

    cell: int | None
    ename: str | None
    evalue: str | None
    connection_file: Path
    pid: int | None


def until_failure(path: Path, dag_id: str) -> Stopped:
    """Run the replay notebook cell by cell until one fails; keep its kernel running.

    The executed notebook is saved in place, with outputs up to the failing cell.
    The kernel gets the environment a stage's kernel gets (no connection: export
    ``AIRFLOW_CONN_<ID>`` first for a stage that needs one) and is independent of
    this process: stop it from Jupyter, or by its PID.
    """
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from stagebook import notebook

    pipelines.enter(dag_id)  # the kernel reads that pipeline's params and data
    nb = nbformat.read(path, as_version=4)
    kernel_name = notebook.kernel_name(path) or "python3"
    manager = KernelManager(kernel_name=kernel_name)
    environ = secrets.kernel_environ({DAG_ID_VARIABLE: dag_id})
    manager.start_kernel(env=environ, independent=True)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    runner = NotebookClient(nb, km=manager, kernel_name=kernel_name, timeout=None)
    runner.kc = client
    runner.reset_execution_trackers()
    stopped: tuple[int | None, str | None, str | None] = (None, None, None)
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                runner.execute_cell(cell, index)
            except CellExecutionError as exc:
                stopped = (index, exc.ename, exc.evalue)
                break
    finally:
        nbformat.write(nb, path)
        client.stop_channels()
    connection = path.with_suffix(".kernel.json")
    info = manager.get_connection_info(session=False)
    info = {k: v.decode() if isinstance(v, bytes) else v for k, v in info.items()}
    # Created readable by its owner only: the file holds the kernel's signing key.
    with os.fdopen(os.open(connection, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(json.dumps({**info, "kernel_name": kernel_name}))
    os.chmod(connection, 0o600)  # an older file of that name keeps its mode through O_TRUNC
    pid = getattr(getattr(manager, "provisioner", None), "pid", None)
    return Stopped(*stopped, connection_file=connection, pid=pid)


def message(path: Path, stopped: Stopped | None) -> str:
    """Return what ``stagebook replay`` prints: the notebook, and where it stopped."""
    lines = [f"replay notebook: {path}"]
    if stopped is None:
        pipeline = os.environ.get(settings.PIPELINE, "")  # its pipeline: find() made it current
        lines.append(
            f"open it in Jupyter: STAGEBOOK_PIPELINE={pipeline} .venv/bin/jupyter lab {path}"
        )
        return "\n".join(lines)
    if stopped.cell is None:
        lines.append("every cell ran without an error")
    else:
        lines.append(f"stopped at cell {stopped.cell}: {stopped.ename}: {stopped.evalue}")
    lines.append(
        f"its kernel (PID {stopped.pid}) holds the state: "
        f".venv/bin/jupyter console --existing {stopped.connection_file}"
    )
    lines.append(f"stop it when done: kill {stopped.pid}")
    return "\n".join(lines)
