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


def log_file(ti: Any, dag_run: Any = None) -> Path:
    """Return the log file of ``ti``'s current try, where the UI's log reader looks for it.

    Renders the documented ``[logging] log_filename_template`` under
    ``[logging] base_log_folder`` as Airflow's file task handler does: a Jinja
    template gets ``ti``, ``ts`` (the run's logical date, else its ``run_after``)
    and ``try_number``; a template without ``{{`` is a ``str.format`` one.
    ``dag_run``: ``ti``'s run (default: ``ti.dag_run``).
    """
    from airflow.sdk import conf

    base = Path(conf.get("logging", "base_log_folder")).expanduser()
    template = conf.get("logging", "log_filename_template")
    run = dag_run if dag_run is not None else ti.dag_run
    ts = (run.logical_date or run.run_after).isoformat()
    if "{{" in template:
        import jinja2

        name = jinja2.Template(template).render(ti=ti, ts=ts, try_number=ti.try_number)
    else:
        start, end = run.data_interval_start, run.data_interval_end
        name = template.format(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            data_interval_start=start.isoformat() if start else "",
            data_interval_end=end.isoformat() if end else "",
            logical_date=ts,
            try_number=ti.try_number,
        )
    return base / name


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
    from stagebook.orchestration import compat

    def logged(ti: Any, run: Any) -> Any:
        with tee(log_file(ti)):
            result = run()
        stopping.after_task()  # a stop asked during the task ends the run here
        return result

    with compat.each_task(logged):
        yield


def run_folder(run: Any) -> Path:
    """Return the folder of a run's task logs (the log files' common ancestor)."""
    return Path(os.path.commonpath([log_file(ti, run) for ti in run.get_task_instances()]))
