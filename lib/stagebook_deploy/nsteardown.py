"""Tearing the namespace hosts down (:func:`down`) and naming what is left (:func:`leftovers`).

Ours is whatever carries the prefix ``sbh-`` (namespaces, veths, per-host
folders) or is the bridge ``sbbr0``, and every process in one of our network
namespaces (what ``ip netns pids`` lists, found here by the namespace's inode),
including what was started over its sshd.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from stagebook_deploy.hostspec import BRIDGE, PREFIX

NETNS = Path("/run/netns")
STARTED: dict[int, subprocess.Popen] = {}  # reaped by down(): no zombie, no ResourceWarning


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def _load(workdir: Path) -> dict:
    try:
        return json.loads((workdir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _namespaces() -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        return sorted(n for n in os.listdir(NETNS) if n.startswith(PREFIX))
    return []


def _processes(namespaces: Sequence[str]) -> list[psutil.Process]:
    """Return the processes in ``namespaces``, and any sshd of ours whose namespace is gone."""
    inodes = set()
    for name in namespaces:
        with contextlib.suppress(OSError):
            found = os.stat(NETNS / name)
            inodes.add((found.st_dev, found.st_ino))
    procs = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            net = os.stat(f"/proc/{proc.pid}/ns/net")
            config = [p for p in proc.info["cmdline"] or [] if p.endswith("/sshd_config")]
            ours = any(f"/{PREFIX}" in part for part in config)  # one of ours, namespace gone
            if (net.st_dev, net.st_ino) in inodes or ours:
                procs.append(proc)
    return procs


def _links() -> list[str]:
    lines = _ip("-o", "link", "show").stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in lines if ":" in line]
    return [name for name in names if name.startswith(PREFIX) or name == BRIDGE]


def _mounts(workdir: Path | None) -> list[str]:
    """Return this mount namespace's mounts of ours: under ``workdir``, or of an ``sbh-`` folder."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        root, point = line.split()[3:5]
        under = workdir is not None and Path(point).is_relative_to(workdir)
        if under or f"/{PREFIX}" in root or f"/{PREFIX}" in point:
            found.append(f"{root} on {point}")
    return found


def _running(proc: psutil.Process) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)  # reap it if it is our child (started by up)
    with contextlib.suppress(psutil.Error):
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    return False


def _wait_gone(procs: Sequence[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Return those of ``procs`` still running after ``timeout_s``.

    Polled every 20 ms: psutil's ``wait_procs`` backs off to seconds between checks.
    """
    deadline = time.monotonic() + timeout_s
    alive = [proc for proc in procs if _running(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [proc for proc in alive if _running(proc)]
    return alive


def _stop(procs: Sequence[psutil.Process], grace_s: float) -> None:
    """SIGTERM ``procs``, then SIGKILL those still running after ``grace_s``."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    alive = _wait_gone(procs, grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(alive, grace_s)


def leftovers(workdir: Path | None = None) -> list[str]:
    """Return one line per thing of ours still on this machine; an empty list when clean."""
    namespaces = _namespaces()
    left = [f"network namespace {name}" for name in namespaces]
    left += [f"network link {name}" for name in _links()]
    left += [f"mount {mount}" for mount in _mounts(workdir.resolve() if workdir else None)]
    for proc in _processes(namespaces):
        with contextlib.suppress(psutil.Error):
            left.append(f"process {proc.pid} ({' '.join(proc.cmdline())[:120]})")
    return left


def down(workdir: Path | None = None, grace_s: float = 3.0) -> None:
    """Stop every process in our namespaces, delete them, their veths and the bridge.

    Idempotent; it also undoes a partial :func:`stagebook_deploy.nshosts.up`:
    what ``<workdir>/state.json`` records, and whatever carries our prefix.
    """
    state = _load(workdir.resolve()) if workdir else {}
    recorded = [h["netns"] for h in state.get("hosts", {}).values()]
    namespaces = sorted(set(_namespaces()) | set(recorded))
    # Again until none is found: a process started while the others stopped (a connection's
    # sshd, a supervisord's restart) would otherwise outlive its deleted, nameless namespace.
    for _ in range(5):
        if not (procs := _processes(namespaces)):
            break
        _stop(procs, grace_s)
    for pid, proc in list(STARTED.items()):
        if proc.poll() is not None:  # reaped: forget it
            del STARTED[pid]
    # Links first: a veth deleted goes at once with its peer, while a deleted namespace's go later.
    for link in sorted(_links(), key=lambda name: name == BRIDGE):
        _ip("link", "del", link)
    for name in namespaces:
        _ip("netns", "del", name)
    if workdir:
        (workdir / "state.json").unlink(missing_ok=True)
