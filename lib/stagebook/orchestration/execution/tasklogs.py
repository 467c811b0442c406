"""Task logs of an in-process run (``dag.test()``), written where the Airflow UI reads them.

A scheduled task runs in a supervised process that writes its log file; a task
that ``dag.test()`` runs in this process only prints. While :func:`written` is
active, everything a task prints (Airflow's log lines, papermill's, the kernel's
own output) is copied, as it comes, to that task's log file under
``[logging] base_log_folder``, so the UI shows it like a scheduled task's log.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stagebook.orchestration.execution import stopping

JOIN_S = 5.0  # how long to wait for the last output of a task's processes


def log_file(ti: Any) -> Path:
    """Return the log file of ``ti``'s current try, as the UI's log reader renders its name."""
    from airflow.configuration import conf
    from airflow.utils.log.file_task_handler import FileTaskHandler

    base = Path(conf.get("logging", "base_log_folder")).expanduser()
    return base / FileTaskHandler(str(base))._render_filename(ti, ti.try_number)


def _copy(source: int, path: Path, terminal: int) -> None:
    """Copy what arrives on ``source`` to ``path`` and to ``terminal`` until every writer closed."""
    with open(path, "ab") as log:
        while chunk := os.read(source, 65536):
            log.write(chunk)
            log.flush()
            with contextlib.suppress(OSError):
                os.write(terminal, chunk)
    os.close(source)
    os.close(terminal)


@contextlib.contextmanager
def tee(path: Path) -> Iterator[None]:
    """Copy this process's file descriptors 1 and 2, and its children's, to ``path`` too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    read_end, write_end = os.pipe()
    thread = threading.Thread(
        target=_copy, args=(read_end, path, os.dup(saved[0])), daemon=True, name="task-log"
    )
    thread.start()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        thread.join(JOIN_S)  # a process the task left behind may hold the pipe: never wait on it


@contextlib.contextmanager
def written() -> Iterator[None]:
    """Write the log file of each task that ``dag.test()`` runs while the block is active.

    After each task, a stop that TERM or INT asked for leaves ``dag.test()``
    (:func:`stagebook.orchestration.execution.stopping.after_task`).
    """
    from airflow.sdk.definitions import dag as sdk_dag

    run_task = sdk_dag._run_task

    def logged(*, ti: Any, task: Any, **kwargs: Any) -> Any:
        with tee(log_file(ti)):
            result = run_task(ti=ti, task=task, **kwargs)
        stopping.after_task()  # a stop asked during the task ends the run here
        return result

    sdk_dag._run_task = logged
    try:
        yield
    finally:
        sdk_dag._run_task = run_task


def run_folder(run: Any) -> Path:
    """Return the folder of a run's task logs (the log files' common ancestor)."""
    return Path(os.path.commonpath([log_file(ti) for ti in run.get_task_instances()]))
