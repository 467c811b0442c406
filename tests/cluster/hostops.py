"""What the multi-host tests do to a namespace host: run a command, read its files, break it.

Every host is the namespace ``sbh-<name>`` of :mod:`stagebook_deploy.nshosts`,
reached over SSH with the keys its ``up`` wrote in ``workdir``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil

from stagebook_deploy import cluster, multihost
from stagebook_deploy.hostspec import GATEWAY, prod_layout

ADDRESS = {host.name: host.address for host in prod_layout()}
NAME = {address: name for name, address in ADDRESS.items()}
SUPERVISORCTL = "supervisorctl -c /srv/stagebook/supervisor/supervisord.conf"
RABBITMQ_ENV = (
    "env HOME=/srv/stagebook/rabbitmq/home ERL_EPMD_PORT=4369 "
    "RABBITMQ_CONF_ENV_FILE=/srv/stagebook/rabbitmq/rabbitmq-env.conf "
    "PATH=/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)


def srv(workdir: Path, host: str) -> Path:
    """Return what ``host`` sees as ``/srv``, from this (the root) namespace."""
    return workdir / f"sbh-{host}" / "srv"


def run(workdir: Path, host: str, command: str, timeout_s: float = 120) -> str:
    """Run ``command`` on ``host`` over SSH; return its output, or fail naming both."""
    result = multihost.ssh(workdir, ADDRESS[host], command, timeout_s=timeout_s)
    assert result.returncode == 0, f"{host}: {command}: {result.stderr[-2000:]}"
    return result.stdout


def rabbitmqctl_command(host: str, *args: str) -> str:
    """Return the shell command that runs ``rabbitmqctl`` on ``host`` against its broker node."""
    return f"{RABBITMQ_ENV} rabbitmqctl -n stagebook@{host} {' '.join(args)}"


def rabbitmqctl(workdir: Path, host: str, *args: str) -> str:
    """Run ``rabbitmqctl`` against the broker node of ``host``."""
    return run(workdir, host, rabbitmqctl_command(host, *args))


def await_broker(workdir: Path, host: str, timeout_s: float = 240) -> None:
    """Wait until the broker node of ``host`` has started again after a supervisor ``start``.

    ``supervisorctl start`` returns once ``rabbitmq-server`` has run for a second, before the
    Erlang node has registered with epmd; ``await_startup`` fails at once on a node epmd does
    not know, so it is asked again until it answers. Failing, it says what rabbitmqctl said.
    """
    command = rabbitmqctl_command(host, "await_startup", "--timeout", "60")
    said = ""

    def started() -> bool:
        nonlocal said
        try:
            result = multihost.ssh(workdir, ADDRESS[host], command, timeout_s=90)
        except subprocess.TimeoutExpired:
            said = "no answer over SSH in 90 s"
            return False
        said = result.stderr[-1500:]
        return result.returncode == 0

    try:
        wait_for(f"the broker node on {host} started", started, timeout_s, every_s=2)
    except AssertionError as failed:
        raise AssertionError(f"{failed}; rabbitmqctl said: {said}") from None


def connects(workdir: Path, source: str, target: str, port: int) -> bool:
    """Return whether a TCP connection from host ``source`` to ``target``'s ``port`` opens."""
    probe = (
        f"import socket, sys; socket.create_connection(('{ADDRESS[target]}', {port}), 5).close()"
    )
    return multihost.ssh(workdir, ADDRESS[source], f'python3 -c "{probe}"').returncode == 0


def sql(workdir: Path, query: str) -> list[list[str]]:
    """Return the rows of ``query`` on the metastore, run with ``psql`` on its own host."""
    url = cluster.metastore_url(srv(workdir, "meta1") / "stagebook")
    out = run(workdir, "meta1", f"psql '{url}' -AtF '|' -c \"{query}\"")
    return [line.split("|") for line in out.splitlines() if line]


def cut(host: str) -> None:
    """Take ``host``'s link down (its ``eth0``): nothing reaches it, it reaches nothing."""
    subprocess.run(["ip", "-n", f"sbh-{host}", "link", "set", "eth0", "down"], check=True)


def mend(host: str) -> None:
    """Bring ``host``'s link back up, with the default route that going down removed."""
    subprocess.run(["ip", "-n", f"sbh-{host}", "link", "set", "eth0", "up"], check=True)
    route = ["ip", "-n", f"sbh-{host}", "route", "replace", "default", "via", GATEWAY]
    subprocess.run(route, check=True)


def kill_supervisor_tree(host: str) -> list[int]:
    """SIGKILL ``host``'s supervisord and every process under it; return their pids."""
    pids = subprocess.run(
        ["ip", "netns", "pids", f"sbh-{host}"], capture_output=True, text=True, check=True
    ).stdout.split()
    tops = [p for p in map(int, pids) if _is_supervisord(p)]
    assert len(tops) == 1, f"{host}: supervisord processes {tops}"
    root = psutil.Process(tops[0])
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=30)
    return [proc.pid for proc in tree]


def _is_supervisord(pid: int) -> bool:
    try:
        return any("supervisord" in part for part in psutil.Process(pid).cmdline()[:2])
    except psutil.NoSuchProcess:
        return False


def wait_for(what: str, check, timeout_s: float = 300, every_s: float = 1.0):
    """Return ``check()`` once it is truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"not after {timeout_s:.0f} s: {what}"
        time.sleep(every_s)
    return found
