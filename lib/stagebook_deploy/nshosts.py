"""Hosts made of network namespaces on one machine, each with its own sshd: bringing them up.

:func:`up` puts every host of a layout (:mod:`.hostspec`) in its own network
namespace ``sbh-<name>`` on the bridge ``sbbr0`` (``198.18.0.1``), then starts
one process per host, ``ip netns exec sbh-<name> unshare --uts --mount``, that
sets the hostname and bind-mounts ``<workdir>/sbh-<name>/srv`` over ``/srv``
(each host its own), the shared ``<workdir>/archive`` at ``/srv/stagebook/home``
(production's NFS mount), ``<workdir>/etc-hosts`` over ``/etc/hosts`` and a
``resolv.conf`` without DNS over ``/etc/resolv.conf``, then becomes that host's
``sshd``. Every namespace, link and process is recorded in
``<workdir>/state.json`` as it is made, so that
:func:`stagebook_deploy.nsteardown.down` also undoes a partial ``up``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stagebook_deploy.hostspec import ARCHIVE, BRIDGE, GATEWAY, NETWORK, HostSpec, check
from stagebook_deploy.hostspec import hosts_file as etc_hosts
from stagebook_deploy.nsteardown import STARTED, down, leftovers

SSHD = Path("/usr/sbin/sshd")
LOCK = Path("/run/lock/stagebook-nshosts.lock")
RESOLV_CONF = (
    "# No DNS: nothing listens on 127.0.0.1:53 in a host, so a lookup fails at once.\n"
    "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
)


class HostsError(Exception):
    """Hosts that cannot be brought up: the message names the host or command and what to do."""


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the machine's one set of namespace hosts (a lock): they share one bridge and range."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode:
        why = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise HostsError(
            f"`ip {' '.join(args)}` failed ({why}): run as root; after "
            f"`python -m {__package__}.multihost down`, retry"
        )


def ensure_sshd() -> None:
    """Install Debian's ``openssh-server`` with apt where ``/usr/sbin/sshd`` is missing."""
    if SSHD.exists():
        return
    print(
        "stagebook: /usr/sbin/sshd is missing: installing Debian's openssh-server "
        "(apt-get install -y --no-install-recommends openssh-server, non-interactive)",
        file=sys.stderr,
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openssh-server"]
    for attempt in (command, ["apt-get", "update", "-q"], command):
        result = subprocess.run(attempt, capture_output=True, text=True, env=env)
        if attempt is command and result.returncode == 0:
            return
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    raise HostsError(f"apt-get install openssh-server failed ({last}): install it, then retry")


def _save(workdir: Path, state: dict) -> None:
    (workdir / "state.json").write_text(json.dumps(state, indent=2))


def _keygen(path: Path, comment: str) -> str:
    if not path.exists():
        command = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            why = (getattr(error, "stderr", "") or str(error)).strip().splitlines()[-1:]
            raise HostsError(
                f"{path}: ssh-keygen failed ({'; '.join(why)}): install openssh-client, "
                "check that the folder is writable, then retry"
            ) from None
    return path.with_suffix(".pub").read_text().strip()


def _keys(hosts: Sequence[HostSpec], workdir: Path) -> None:
    """Make the client key pair and one host key per host; write their ``known_hosts``."""
    (workdir / "ssh").mkdir(parents=True, exist_ok=True)
    _keygen(workdir / "ssh" / "id_ed25519", "stagebook-multihost")
    known = []
    for host in hosts:
        (workdir / host.netns).mkdir(exist_ok=True)
        public = _keygen(workdir / host.netns / "ssh_host_ed25519_key", host.name)
        key = " ".join(public.split()[:2])  # without the comment
        known.append(f"{host.name},{host.address} {key}")
    (workdir / "ssh" / "known_hosts").write_text("\n".join(known) + "\n")


def _sshd_config(host: HostSpec, workdir: Path) -> Path:
    folder = workdir / host.netns
    lines = [
        f"ListenAddress {host.address}:22",
        f"HostKey {folder / 'ssh_host_ed25519_key'}",
        f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'ssh' / 'id_ed25519.pub'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",  # the keys sit under /tmp (mode 1777), which strict modes refuse
        "PrintMotd no",
        "Subsystem sftp internal-sftp",  # Ansible copies files over sftp
    ]
    path = folder / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plumb(host: HostSpec, state: dict, workdir: Path) -> None:
    """Make ``host``'s namespace and veth on the bridge; give it its address and route."""
    state["hosts"][host.name] = {"address": host.address, "netns": host.netns, "veth": host.veth}
    _save(workdir, state)  # recorded before it exists: down() undoes a partial one
    _ip("netns", "add", host.netns)
    _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    _ip("link", "set", host.veth, "master", BRIDGE, "up")
    _ip("-n", host.netns, "addr", "add", f"{host.address}/{NETWORK.prefixlen}", "dev", "eth0")
    _ip("-n", host.netns, "link", "set", "lo", "up")
    _ip("-n", host.netns, "link", "set", "eth0", "up")
    _ip("-n", host.netns, "route", "add", "default", "via", GATEWAY)


def _start(host: HostSpec, state: dict, workdir: Path, shared: bool) -> None:
    """Start ``host``'s one process: hostname, its own /srv, the archive, /etc/hosts, sshd."""
    folder = workdir / host.netns
    srv = folder / "srv"
    (srv / ARCHIVE.removeprefix("/srv/")).mkdir(parents=True, exist_ok=True)
    mounts = [(srv, "/srv"), (workdir / "etc-hosts", "/etc/hosts")]
    mounts.append((workdir / "resolv.conf", "/etc/resolv.conf"))
    if shared:
        mounts.insert(1, (workdir / "archive", ARCHIVE))
    steps = [f"hostname {shlex.quote(host.name)}"]
    steps += [f"mount --bind {shlex.quote(str(a))} {shlex.quote(b)}" for a, b in mounts]
    config = _sshd_config(host, workdir)
    steps.append(f"exec {SSHD} -D -e -f {shlex.quote(str(config))}")
    command = ["ip", "netns", "exec", host.netns, "unshare", "--uts", "--mount"]
    command += ["--propagation", "private", "sh", "-c", "set -e; " + "; ".join(steps)]
    with (folder / "sshd.log").open("ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    STARTED[proc.pid] = proc
    record = state["hosts"][host.name]
    record.update(pid=proc.pid, mounts=[f"{a} on {b}" for a, b in mounts], log=str(log.name))
    _save(workdir, state)


def _wait(hosts: Sequence[HostSpec], state: dict, timeout_s: float) -> None:
    """Wait until every host's sshd accepts a TCP connection on its address, port 22."""
    deadline = time.monotonic() + timeout_s
    for host in hosts:
        record = state["hosts"][host.name]
        while True:
            with contextlib.suppress(OSError), socket.create_connection((host.address, 22), 0.5):
                break
            proc = STARTED.get(record["pid"])
            ended = proc is not None and proc.poll() is not None
            if ended or time.monotonic() > deadline:
                lines = Path(record["log"]).read_text(errors="replace").strip().splitlines()
                why = f"exited: {lines[-1]}" if ended and lines else f"not after {timeout_s:.0f} s"
                raise HostsError(
                    f"host {host.name} ({host.address}): its sshd does not answer on port 22 "
                    f"({why}): see {record['log']}"
                )
            time.sleep(0.05)


def up(
    hosts: Sequence[HostSpec],
    workdir: Path,
    private_archive: str | None = None,
    timeout_s: float = 15.0,
) -> dict[str, Any]:
    """Bring ``hosts`` up as namespaces with an sshd each; return the state (``state.json``).

    ``private_archive`` names one host whose ``/srv/stagebook/home`` is its own
    folder instead of the shared archive (what a missing NFS mount looks like).
    On failure everything made so far is torn down again and the error raised.
    """
    check(hosts)
    if private_archive is not None and private_archive not in {h.name for h in hosts}:
        raise HostsError(f"private_archive {private_archive!r} is no host of the layout: name one")
    if left := leftovers():
        raise HostsError(f"{left[0]} is still there: run `python -m {__package__}.multihost down`")
    ensure_sshd()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    _keys(hosts, workdir)
    (workdir / "etc-hosts").write_text(etc_hosts(hosts))
    # No DNS server is reachable from a host: without this, a name that /etc/hosts lacks
    # (or an IPv6 lookup, as getent's) waits out the machine's resolver's timeouts.
    (workdir / "resolv.conf").write_text(RESOLV_CONF)
    (workdir / "archive").mkdir(exist_ok=True)
    state: dict[str, Any] = {"workdir": str(workdir), "bridge": BRIDGE, "hosts": {}}
    _save(workdir, state)
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        for host in hosts:
            _plumb(host, state, workdir)
        for host in hosts:
            _start(host, state, workdir, shared=host.name != private_archive)
        _wait(hosts, state, timeout_s)
    except BaseException:
        down(workdir)
        raise
    return state
