"""``stagebook run`` through ``stagebook warm``, when one serves this home and pipeline.

An in-process ``stagebook run`` pays about six seconds before its first stage:
the interpreter, Airflow's imports and the execution API that ``dag.test()``
builds (:mod:`stagebook.orchestration.commands.warm` has them done). This side
of it, run by ``stagebook run`` itself, finds the warm process's socket,
``warm/<dag_id>.sock`` in the Airflow home, checks that its own user listens
there, and hands a warm child the command: its arguments, working folder,
environment, umask, ignored signals and terminal (its standard streams, passed
as file descriptors). The child runs it with the very code ``stagebook run``
runs, writing to this terminal; this process passes INT, TERM and HUP on to it
(those it does not ignore) and exits with its exit code.

Where nothing warm takes it (none started, busy with another run, refused:
another environment or terminal) the run goes on here, as it always did. Also
here: the stamps of what a warm child read (:func:`watched`, :func:`stamp`).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

from stagebook import settings

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# Set per process: what differs between two shells of one user (the run takes the caller's).
VOLATILE = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "SSH_TTY", "TERM"})
MESSAGE_BYTES = 1 << 20
TRIES = 3  # a refused request is asked again of the next warm child, once it is ready
ACCEPT_WAIT_S = 120.0  # the next warm child loads the DAG and starts kernels first
AGAIN = -1  # refused by a warm child whose files changed: the next one takes it
SOCKET_PATH_LIMIT = 107  # sun_path's bytes, less its NUL
SKIPPED = ("__pycache__", ".ipynb_checkpoints")
_inside = False  # True in a run the warm process forked: it does not hand itself on


def folder() -> Path:
    """Return the folder of this Airflow home's warm processes (absent: never one here)."""
    return Path(os.environ["AIRFLOW_HOME"]) / "warm"


def socket_path(pipeline_id: str) -> Path:
    """Return the warm process's socket for ``pipeline_id`` in this Airflow home."""
    return folder() / f"{pipeline_id}.sock"


def enter_run() -> None:
    """Mark this process as a warm child running a command: it does not hand that on."""
    global _inside
    _inside = True


def umask() -> int:
    """Return this process's umask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def terminal() -> list[bool]:
    """Return whether standard output and error are a terminal (Airflow's log colours follow)."""
    return [os.isatty(1), os.isatty(2)]


def same_user(conn: socket.socket) -> bool:
    """Tell whether the peer of a Unix socket runs as this process's user."""
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1] == os.getuid()


def comparable(environ: dict[str, str]) -> dict[str, str]:
    """Return what of an environment must be the same for a warm process to run a command."""
    return {k: v for k, v in environ.items() if k not in VOLATILE}


def send(conn: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message (a JSON packet), with ``fds`` alongside."""
    socket.send_fds(conn, [json.dumps(message).encode()], fds or [])


def receive(conn: socket.socket, fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """Return the next message and the file descriptors sent with it; None at the peer's end.

    Raises ValueError for a message that is not a JSON object (its descriptors closed).
    """
    data, received, _, _ = socket.recv_fds(conn, MESSAGE_BYTES, fds)
    try:
        message = json.loads(data) if data else None
        if message is not None and not isinstance(message, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        for fd in received:
            os.close(fd)
        raise
    return message, received


def delegate(argv: list[str], pipeline_id: str) -> int | None:
    """Run ``stagebook ARGV`` in the warm process of ``pipeline_id``; return its exit code.

    None where no warm process takes it: the caller runs the command itself.
    """
    path = socket_path(pipeline_id)
    if _inside or not path.exists() or len(os.fsencode(path)) > SOCKET_PATH_LIMIT:
        return None
    try:
        with open(path.with_suffix(".lock"), "a") as lock:
            try:  # one run at a time (the run holds it too): a second one runs cold beside it
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            request = _request(argv)
            for _ in range(TRIES):
                outcome = _ask(path, request, lock.fileno())
                if outcome != AGAIN:
                    return outcome
    except OSError:  # a folder gone, the home not writable: the run says it, where typed
        return None
    return None


def _request(argv: list[str]) -> dict[str, Any]:
    """Return what a warm child needs of this command besides its streams."""
    return {
        "argv": argv,
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "umask": umask(),
        "terminal": terminal(),
        "ignored": [sig for sig in FORWARDED if signal.getsignal(sig) == signal.SIG_IGN],
    }


def _ask(path: Path, request: dict[str, Any], lock: int) -> int | None:
    """Hand ``request`` to the warm child listening on ``path``: its exit code, None, or AGAIN.

    The child gets this process's standard streams, and the lock: it holds it
    while it runs, even if this process is killed.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        try:
            conn.settimeout(ACCEPT_WAIT_S)
            conn.connect(str(path))
            if not same_user(conn):
                return None
            send(conn, request, [0, 1, 2, lock])
            answer, _ = receive(conn)
        except (OSError, ValueError):  # none listens (a stale socket), or it went away
            return None
        if answer is None or "refused" in answer:
            if answer:
                print(f"stagebook: the warm process {answer['refused']}", file=sys.stderr)
            return AGAIN if answer and answer.get("again") else None
        return _follow(conn, answer["pid"], request["ignored"])


def _follow(conn: socket.socket, pid: int, ignored: list[int]) -> int:
    """Say go to run process ``pid`` and wait for its exit code, passing it this process's signals."""
    print(f"stagebook: run by the warm process (pid {pid})", file=sys.stderr, flush=True)
    got: list[int] = []

    def forward(signum: int, _: Any) -> None:
        got.append(signum)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    before = {sig: signal.signal(sig, forward) for sig in FORWARDED if sig not in ignored}
    try:
        send(conn, {"go": True})  # after the forwarding: no signal between falls through
        conn.settimeout(None)
        answer, _ = receive(conn)
    except OSError:
        answer = None
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if answer is None and got:  # the signal passed on ended it before its own handling began
        return 128 + got[-1]
    if answer is None:
        print(f"stagebook: the warm run (pid {pid}) ended without an exit code", file=sys.stderr)
        return 1
    return int(answer["exit"])


def module_files() -> list[Path]:
    """Return the files of the modules this process has imported."""
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return [Path(f) for f in files if f]


def watched(pipeline: str) -> list[Path]:
    """Return what a run of ``pipeline`` reads before its first stage: modules, folders, params."""
    folders = [*settings.pipeline_folders(), settings.dags_dir(), settings.params_dir(pipeline)]
    folders.append(Path(__file__).parents[2] / "templates")  # the reports' templates
    found = module_files() + folders  # a folder's time changes as a file is added or removed
    found.append(Path(os.environ["AIRFLOW_HOME"]) / "airflow.cfg")
    for folder in folders:
        found += [p for p in folder.rglob("*") if not set(SKIPPED) & set(p.parts)]
    return found


def changed(seen: dict[str, tuple[int, int] | None], since_ns: int) -> bool:
    """Tell whether a stamped file differs now, or had changed after ``since_ns`` when stamped."""
    written = (times[0] for times in seen.values() if times)
    return stamp(seen) != seen or any(at > since_ns for at in written)


def stamp(files: list[Path] | dict) -> dict[str, tuple[int, int] | None]:
    """Return each file's modification time and size (None: gone); of a stamp, its files now."""
    stamp: dict[str, tuple[int, int] | None] = {}
    for file in files:
        try:
            found = os.stat(file)
            stamp[str(file)] = (found.st_mtime_ns, found.st_size)
        except OSError:
            stamp[str(file)] = None
    return stamp
