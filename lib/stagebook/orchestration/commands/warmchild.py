"""A warm child of ``stagebook warm``: the next run of its pipeline, ready, then run as typed.

Forked by :mod:`stagebook.orchestration.commands.warm` after Airflow's imports
and the execution API, it loads the pipeline's DAG, starts the kernels of its
first stages and of the two stages after each (:func:`kernels.ahead_of_run`),
warms the HTML rendering and the API's loop, waits (up to :data:`SETTLE_S`)
for the kernels' imports, and says ``ready for the next run``.

A caller (:mod:`stagebook.orchestration.commands.warmrun`) hands it a
``stagebook run`` command: arguments, folder, environment, umask, ignored
signals and its standard streams. It refuses one, which then runs where it was
typed, from another user or with another environment or terminal, and goes on
waiting; it refuses one when a file it read has changed since (a module, the
pipeline's folder, the DAGs folder), and exits, so that the next child reads
them again and takes it. Otherwise, after the caller's go (a caller that gave
up has gone, and nothing runs), it takes the caller's streams, folder,
environment, umask and signals, runs :func:`cli.main` as the command's own
process would, sends its exit code, and exits.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Any, NamedTuple

from stagebook.declaration import Pipeline
from stagebook.orchestration.commands import warmrun

IDLE = 3  # exit codes of a child that took no run
CHANGED = 4
POLL_S = 0.2  # how often a wait looks for a stop
SETTLE_S = 60  # how long a child waits for its spare kernels' imports
HANDSHAKE_S = 10
STOPS = (signal.SIGUSR1, signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stop: list[int] = []  # the stop signals this process got (its handler only notes them)
_ended = threading.Event()  # the run has its exit code: its caller's end stops nothing


class Expected(NamedTuple):
    """What a caller must share with the warm process (its kernels started with them)."""

    environ: dict[str, str]
    terminal: list[bool]
    umask: int
    own: dict  # the stamp of the warm process's own modules


class Stopped(Exception):
    """Asked to stop (USR1 from the warm process, or INT, TERM, HUP) while waiting."""


def note_stop(signum: int, _: Any) -> None:
    """A signal handler of the warm process and its children: note the stop, to be seen later."""
    _stop.append(signum)


def stop_noted() -> bool:
    """Tell whether this process got a stop signal."""
    return bool(_stop)


def main(
    listener: socket.socket, pipeline: Pipeline, expected: Expected, taken: int, idle_s: float
) -> None:
    """Be a warm child: get ready, take a command, run it; exit (never return)."""
    code = 1
    try:
        os.setsid()  # Ctrl-C at the warm process's terminal is not a run's
        _listen_for_stops()
        code = _serve_one(listener, pipeline, expected, taken, idle_s)
    except Stopped:
        code = 0
    except BaseException:  # noqa: BLE001 - said; the warm process then stops
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _listen_for_stops() -> None:
    """Note a stop signal, to be seen where the child waits."""
    for sig in STOPS:
        signal.signal(sig, note_stop)


def _serve_one(
    listener: socket.socket, pipeline: Pipeline, expected: Expected, taken: int, idle_s: float
) -> int:
    """Get ready, admit a caller, run its command; return the exit code (or IDLE, CHANGED)."""
    from stagebook.orchestration.execution import kernels

    parent = os.getppid()
    try:
        since_ns, seen = _ready(listener, pipeline)
        seen = {**seen, **expected.own}
        print(f"stagebook: ready for the next run (pid {os.getpid()})", flush=True)
        while True:
            with _next_caller(listener, idle_s, parent) as conn:
                admitted = _admit(conn, expected, (seen, since_ns))
                if admitted == CHANGED:
                    return CHANGED
                if admitted is None:
                    continue
                request, fds = admitted
                listener.close()
                os.write(taken, b"t")
                _adopt(request, fds)
                threading.Thread(target=_gone, args=(conn,), daemon=True).start()
                code = _run(request["argv"])
                _ended.set()
                _tell(conn, {"exit": code})
                return code
    except TimeoutError:
        return IDLE
    finally:
        kernels.close()  # what the run did not take (after a run: nothing)


def _ready(listener: socket.socket, pipeline: Pipeline) -> tuple[int, dict]:
    """Load the DAG, start its first kernels and the API's loop; return when, and what it read."""
    from stagebook import reports
    from stagebook.orchestration import compat
    from stagebook.orchestration.commands import dags
    from stagebook.orchestration.execution import kernels

    since_ns = time.time_ns()  # a file written after this is newer than what was read
    before = warmrun.stamp(warmrun.watched(pipeline.name))  # an edit while loading is one too
    try:
        dag = dags.load_dag(pipeline.id)
        kernels.ahead_of_run(dag)
        reports.warm_up()
        compat.execution_api()  # this process's own loop and lifespan: the run's
        _listen_for_stops()  # again: loading the DAG may have set handlers of Airflow's
        settling_until = time.monotonic() + SETTLE_S
        while not (_stop or _called(listener) or time.monotonic() > settling_until):
            if kernels.settled(POLL_S):
                break
    except Exception as exc:  # the run, handed over, says it again, where it was typed
        print(f"stagebook: could not get {pipeline.id} ready ({exc})", file=sys.stderr, flush=True)
    return since_ns, {**warmrun.stamp(warmrun.watched(pipeline.name)), **before}


def _called(listener: socket.socket) -> bool:
    """Tell whether a caller waits on ``listener``."""
    return bool(select.select([listener], [], [], 0)[0])


def _next_caller(listener: socket.socket, idle_s: float, parent: int) -> socket.socket:
    """Return the next caller's connection; TimeoutError when idle, Stopped when asked or orphaned."""
    listener.settimeout(POLL_S)
    idle_until = time.monotonic() + idle_s
    while not _stop and os.getppid() == parent:
        try:
            return listener.accept()[0]
        except TimeoutError:
            if time.monotonic() > idle_until:
                raise
    raise Stopped


def _admit(conn: socket.socket, expected: Expected, read: tuple[dict, int]) -> Any:
    """Return the caller's (request, fds) once it said go; None to go on waiting; CHANGED to exit.

    The caller's streams are closed here unless admitted: a caller reading them
    to their end (a pipe) would wait for this child.
    """
    fds: list[int] = []
    admitted = False
    try:
        conn.settimeout(HANDSHAKE_S)
        if not warmrun.same_user(conn):
            return None
        request, fds = warmrun.receive(conn, 4)
        if request is None or len(fds) != 4:  # a probe (another `stagebook warm`), a caller gone
            return None
        why, again = _refusal(request, expected, *read)
        if why:
            warmrun.send(conn, {"refused": why, "again": again})
            return CHANGED if again else None
        warmrun.send(conn, {"pid": os.getpid()})
        admitted = warmrun.receive(conn)[0] == {"go": True}
        conn.settimeout(None)
        return (request, fds) if admitted else None
    except (OSError, ValueError, KeyError, TypeError):  # gone, or not a caller's request
        return None
    finally:
        for fd in [] if admitted else fds:
            os.close(fd)


def _refusal(
    request: dict, expected: Expected, seen: dict, since_ns: int
) -> tuple[str | None, bool]:
    """Return why this child does not run ``request``, and whether the next child would."""
    if warmrun.comparable(request["environ"]) != expected.environ:
        return "has another environment: running it here (start it from this shell)", False
    if request["terminal"] != expected.terminal or request["umask"] != expected.umask:
        return "was started with another umask, or output (terminal or not): running it here", False
    if warmrun.changed(seen, since_ns):
        return "read files that changed since: reading them again", True
    return None, False


def _adopt(request: dict, fds: list[int]) -> None:
    """Take the caller's streams, signal dispositions, umask, working folder and environment."""
    sys.stdout.flush()
    sys.stderr.flush()
    for target, fd in enumerate(fds[:3]):  # fds[3], the caller's lock, is held to the end
        os.dup2(fd, target)
        os.close(fd)
    sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the warm process's "stop if idle"
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a process of its own starts
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    for sig in request["ignored"]:  # nohup's HUP, a background job's INT
        signal.signal(sig, signal.SIG_IGN)
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environ"])


def _run(argv: list[str]) -> int:
    """Run ``stagebook ARGV`` as its own process would (:func:`cli.entry`); return the exit code."""
    import atexit
    import gc

    from stagebook.orchestration.commands import cli

    warmrun.enter_run()
    sys.argv = ["stagebook", *argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    atexit._run_exitfuncs()  # what a process's end runs (CPython's): a cold run's does too
    return code


def _gone(conn: socket.socket) -> None:
    """Stop the run, as TERM does, once its caller has gone (killed) before its exit code."""
    try:
        conn.recv(1)  # a caller sends nothing after its go: this returns at its end
    except OSError:
        pass
    if not _ended.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


def _tell(conn: socket.socket, message: dict) -> None:
    """Send ``message`` to a caller that may have gone (killed: the run went on without it)."""
    try:
        warmrun.send(conn, message)
    except OSError:
        pass
