"""One active run per (pipeline, date), and runs whose process is gone marked failed.

Two runs of one date would share that date's data folders (its inputs, its
outputs, what its checks passed), so one could publish what the other
computed. Stagebook therefore allows at most one active run per (DAG, date):

- ``stagebook run`` holds an exclusive ``flock`` on ``runs/<dag_id>/ds=<ds>.lock``
  in the archive while it runs, with its process, host and run written in it
  (:func:`held`). A second run of that date is refused in one line that names
  the first; a run of the date that the metastore still has active (a served
  Airflow's) is refused the same way.
- A served Airflow queues a second run of a DAG behind the first
  (``max_active_runs=1`` in the DAG).

The kernel releases a ``flock`` when its process dies, however it dies, so a
``kill -9`` never leaves a date locked. The lock's content then still names the
run: the next command on that home (:func:`sweep`) marks that run failed in the
metastore, each of its tries still ``running`` in the archive ``lost``, and
says so in one line. The reviewing app uses :func:`alive` to show a try whose
process is gone as lost, never as running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from stagebook import index, sidecars, storage
from stagebook.errors import PipelineError

LOST_ERROR = "its process ({pid} on {host}) is gone: stopped before the try finished"


def start_ticks(pid: int) -> str | None:
    """Return when process ``pid`` started (clock ticks since boot), or None if there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_namespace() -> str | None:
    """Return this process's PID namespace: two containers may share a host name, not this."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def identity() -> dict[str, Any]:
    """Return what names this process on this host, also after its pid is reused."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_ns": _pid_namespace(),
        "pid_start": start_ticks(pid),
    }


def alive(who: Mapping[str, Any]) -> bool | None:
    """Return whether the process ``who`` names still runs; None where this process cannot tell.

    It can tell for a process of this host and PID namespace, on a system with ``/proc``.
    """
    same = who.get("host") == socket.gethostname() and who.get("pid_ns") == _pid_namespace()
    if not same or not who.get("pid") or who.get("pid_ns") is None or not who.get("pid_start"):
        return None
    return start_ticks(int(who["pid"])) == who["pid_start"]


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except ValueError:
        return {}


def _write(handle: IO[str], data: Mapping[str, Any]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(data))
    handle.flush()
    os.fsync(handle.fileno())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str] | None]:
    """Yield ``path`` opened and locked exclusively, or None while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield handle


def refusal(dag_id: str, ds: dt.date, holder: Mapping[str, Any]) -> str:
    """Return the one line that refuses a second run of ``dag_id`` for ``ds``."""
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
    return (
        f"{dag_id} is already running for {ds} (run {holder.get('run_id', '?')}, {who}, "
        f"since {holder.get('started', '?')}): wait for it to end, or stop it with "
        f"kill -TERM {holder.get('pid', '<pid>')}"
    )


@dataclasses.dataclass
class Claim:
    """What a ``stagebook run`` wrote in its date's lock; ``settled`` once its run is marked failed."""

    fields: dict[str, Any]
    settled: bool = False


@contextlib.contextmanager
def held(dag_id: str, ds: dt.date, run_id: str, logical_date: dt.datetime) -> Iterator[Claim]:
    """Hold the (``dag_id``, ``ds``) lock while the block runs; raise PipelineError if it is taken.

    If the block raises, the run is marked failed before the lock is let go
    (``claim.settled``); when even that fails (a full disk), the lock keeps the
    run's name for the next :func:`sweep`.
    """
    with _locked(storage.run_lock(dag_id, ds)) as handle:
        if handle is None:
            with open(storage.run_lock(dag_id, ds)) as peek:
                raise PipelineError(refusal(dag_id, ds, _read(peek)))
        if stale := _read(handle):
            print(f"stagebook: {settle(stale)}", flush=True)
        claim = Claim(
            {
                **identity(),
                "dag_id": dag_id,
                "ds": ds.isoformat(),
                "run_id": run_id,
                "logical_date": logical_date.isoformat(),
                "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        _write(handle, claim.fields)
        try:
            yield claim
        except BaseException as exc:
            with contextlib.suppress(Exception):
                fail_run(claim.fields, f"stagebook run ended early ({type(exc).__name__})")
                _write(handle, {})
                claim.settled = True
            raise
        _write(handle, {})


def sweep() -> list[str]:
    """Settle every run whose ``stagebook run`` process is gone; return one line for each."""
    said = []
    for path in sorted(storage.run_locks().glob("*/ds=*.lock")):
        with _locked(path) as handle:
            if handle is not None and (stale := _read(handle)):
                said.append(settle(stale))
                _write(handle, {})
    if said:
        index.write_index()  # the static index stops showing the lost tries as running
    return said


def settle(stale: Mapping[str, Any]) -> str:
    """Mark a run whose process is gone failed, and its running tries lost; return one line."""
    lost = fail_run(stale, LOST_ERROR.format(**stale))
    tries = ", ".join(lost) or "none"
    return (
        f"run {stale.get('run_id')} of {stale.get('dag_id')} for {stale.get('ds')} was left "
        f"running by process {stale.get('pid')}, which is gone: marked failed (tries lost: {tries})"
    )


def fail_run(claim: Mapping[str, Any], error: str) -> list[str]:
    """Mark the claimed run failed with its unfinished tasks, and its running tries lost.

    Returns the lost tries as ``<phase>/<NN-stage>.try<N>``.
    """
    from stagebook.orchestration.execution import metastore

    metastore.fail_run(claim["dag_id"], dt.datetime.fromisoformat(claim["logical_date"]))
    folder = storage.run_folder_name(claim["run_id"])
    day = storage.report_day(claim["dag_id"], dt.date.fromisoformat(claim["ds"]))
    return sorted(
        f"{sidecar.parent.parent.name}/{sidecar.stem}"
        for sidecar in day.glob(f"*/{folder}/*.json")
        if sidecars.lose(sidecar.with_suffix(storage.NOTEBOOK), error)
    )
