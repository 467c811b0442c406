"""``stagebook warm``: a process that keeps ``stagebook run``'s start-up done, for one pipeline.

An in-process ``stagebook run`` pays about six seconds before its first stage
(its interpreter, Airflow's imports, ``dag.test()``'s in-process execution API),
and its first stages wait for their kernels' imports. Run by hand, date after
date, that is most of the wait. This process does it once: it imports what a
run imports and builds the execution API (:func:`compat.execution_api`, without
its thread), listens on ``warm/<dag_id>.sock`` in the Airflow home, and forks a
*warm child* (:mod:`stagebook.orchestration.commands.warmchild`), which gets
the pipeline's next run ready and runs the ``stagebook run`` handed to it
(:mod:`stagebook.orchestration.commands.warmrun`). When that child ends, this
process forks the next one.

It stops on INT, TERM or HUP, after ``--idle-minutes`` without a run, and when
a module it imported has changed (Stagebook, Airflow, a pipeline's
declaration): a new ``stagebook warm`` imports them again. A run under way goes
on to its end; a child that has not taken one is stopped (USR1, which a run
ignores), and killed if it does not end.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import time
from pathlib import Path

from stagebook import pipelines
from stagebook.declaration import Pipeline
from stagebook.errors import PipelineError
from stagebook.orchestration.commands import warmchild, warmrun

STOP_WAIT_S = warmchild.SETTLE_S + 30  # a warm child that does not end when asked is killed
_holder = -1  # the open file whose lock says this process serves the pipeline


def serve(pipeline_name: str | None, idle_minutes: float) -> int:
    """Keep runs of the pipeline warm until stopped, idle or out of date; return the exit code."""
    pipeline = pipelines.get(pipeline_name)
    path = warmrun.socket_path(pipeline.id)
    if len(os.fsencode(path)) > warmrun.SOCKET_PATH_LIMIT:
        raise PipelineError(
            f"{path} is too long for a socket ({warmrun.SOCKET_PATH_LIMIT} bytes): "
            "choose a shorter STAGEBOOK_HOME (or AIRFLOW_HOME)"
        )
    _private(path.parent)
    global _holder
    _holder = os.open(path.with_suffix(".pid"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:  # held while this process lives (its children close their copy)
        fcntl.flock(_holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PipelineError(
            f"{pipeline.id} is already warm here ({path}): stop that one first"
        ) from None
    began, since_ns = time.perf_counter(), time.time_ns()
    _prepare()
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        try:
            listener.bind(str(path))
        except OSError as exc:
            raise PipelineError(f"cannot listen on {path}: {exc.strerror}") from None
        listener.listen(8)
        own = warmrun.stamp(warmrun.module_files())
        expected = warmchild.Expected(
            warmrun.comparable(dict(os.environ)), warmrun.terminal(), warmrun.umask(), own
        )
        print(
            f"stagebook: {pipeline.id} is warm ({time.perf_counter() - began:.1f} s): "
            f"`stagebook run` hands its runs to this process (pid {os.getpid()}) "
            f"until Ctrl-C or {idle_minutes:g} idle minutes",
            flush=True,
        )
        try:
            return _loop(listener, pipeline, expected, since_ns, idle_minutes * 60)
        finally:
            path.unlink(missing_ok=True)


def _private(folder: Path) -> None:
    """Make ``folder`` this user's alone: a caller hands it its environment and terminal."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise PipelineError(f"{folder} belongs to another user: remove it, then start again")
    folder.chmod(0o700)


def _prepare() -> None:
    """Import what a run imports, and build the execution API (no thread: this process forks)."""
    import airflow.sdk  # noqa: F401
    import papermill  # noqa: F401

    from stagebook.orchestration import compat
    from stagebook.orchestration.commands import cli, dags, localrun  # noqa: F401
    from stagebook.orchestration.execution import operators, progress  # noqa: F401

    compat.execution_api(serving=False)


def _loop(
    listener: socket.socket,
    pipeline: Pipeline,
    expected: warmchild.Expected,
    since_ns: int,
    idle_s: float,
) -> int:
    """Fork warm child after warm child until a stop, an idle child, changed code or a failure."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) != signal.SIG_IGN:  # `nohup stagebook warm &` outlives its shell
            signal.signal(sig, warmchild.note_stop)
    while True:
        if warmrun.changed(expected.own, since_ns):
            print("stagebook: code it imported changed: stopping (start it again)", flush=True)
            return 0
        status, taken = _one_child(listener, pipeline, expected, idle_s)
        if warmchild.stop_noted():
            print("stagebook: stopped (a run under way goes on to its end)", flush=True)
            return 0
        if status == warmchild.IDLE:
            print(f"stagebook: no run for {idle_s / 60:g} minutes: stopping", flush=True)
            return 0
        if not taken and status != warmchild.CHANGED:
            print(f"stagebook: a warm child failed ({status}, above): stopping", flush=True)
            return 1


def _one_child(
    listener: socket.socket, pipeline: Pipeline, expected: warmchild.Expected, idle_s: float
) -> tuple[int | None, bool]:
    """Fork a warm child; return its exit code (None: left running a run) and whether it took one."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        os.close(_holder)
        warmchild.main(listener, pipeline, expected, writing, idle_s)
    os.close(writing)
    os.set_blocking(reading, False)
    taken, kill_at = False, 0.0
    try:
        while True:
            pid, status = os.waitpid(child, os.WNOHANG)
            taken = taken or _said(reading)
            if pid:
                return os.waitstatus_to_exitcode(status), taken
            if warmchild.stop_noted() and taken:
                return None, True
            if warmchild.stop_noted() and not kill_at:
                os.kill(child, signal.SIGUSR1)  # stop, unless it took a run since
                kill_at = time.monotonic() + STOP_WAIT_S
            if kill_at and not taken and time.monotonic() > kill_at:
                os.kill(child, signal.SIGKILL)
            time.sleep(warmchild.POLL_S)
    finally:
        os.close(reading)


def _said(reading: int) -> bool:
    """Tell whether the child wrote that it took a run."""
    try:
        return os.read(reading, 1) == b"t"
    except BlockingIOError:
        return False
