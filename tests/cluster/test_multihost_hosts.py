"""Hosts made of network namespaces, reached over real SSH as Ansible reaches production's.

One module, three hosts up once (``hosta``, ``hostb``, and ``hostc`` whose
archive is its own folder instead of the shared one), then the proofs over
``ssh`` with the generated key: each host's hostname, its own /srv, the shared
archive, TCP between hosts by address, Ansible's ping, the reachability check
naming a host nobody answers for, and a teardown that leaves nothing behind.
"""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stagebook_deploy import hostspec, multihost, nshosts, nsteardown

HOSTS = [
    hostspec.spec("hosta", 1, "alpha"),
    hostspec.spec("hostb", 2, "alpha", "beta"),
    hostspec.spec("hostc", 3, "worker_train"),
]
PRIVATE = "hostc"
ADDRESS = {host.name: host.address for host in HOSTS}
# The machine has one set of namespace hosts, which test_multihost (a longest module) holds.
pytestmark = pytest.mark.last


@pytest.fixture(scope="module")
def hosts(machine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("multihost")
    started = time.monotonic()
    try:
        nshosts.up(HOSTS, workdir, private_archive=PRIVATE)
        took = time.monotonic() - started
        print(f"\nup: {len(HOSTS)} hosts in {took:.2f} s")
        yield {"workdir": workdir, "inventory": multihost.inventory(HOSTS, workdir), "up_s": took}
    finally:
        nsteardown.down(workdir)  # again after the teardown test: idempotent


def _ssh_command(workdir: Path, host: str, command: str) -> list[str]:
    return multihost.ssh_argv(workdir, ADDRESS[host], command)


def _ssh(hosts: dict, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        _ssh_command(hosts["workdir"], host, command),
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def test_each_host_reports_its_own_hostname(hosts):
    names = {name: _ssh(hosts, name, "hostname").stdout.strip() for name in ADDRESS}
    assert names == {name: name for name in ADDRESS}
    assert os.uname().nodename not in names.values()  # not the machine's own name


def test_every_host_resolves_every_other_by_name(hosts):
    started = time.monotonic()
    found = _ssh(hosts, "hosta", "getent hosts hostb hostc").stdout.split()
    assert found == [ADDRESS["hostb"], "hostb", ADDRESS["hostc"], "hostc"]
    unknown = _ssh(hosts, "hosta", "getent hosts no-such-host", check=False)
    assert unknown.returncode == 2  # not found, at once: no DNS timeouts to wait out
    assert time.monotonic() - started < 5


def test_a_file_in_one_hosts_srv_is_absent_from_another(hosts):
    _ssh(hosts, "hosta", "echo a > /srv/only-on-hosta")
    assert _ssh(hosts, "hosta", "cat /srv/only-on-hosta").stdout == "a\n"
    absent = _ssh(hosts, "hostb", "test -e /srv/only-on-hosta", check=False)
    assert absent.returncode == 1
    assert not Path("/srv/only-on-hosta").exists()  # nor in the machine's own /srv


def test_a_file_in_the_shared_archive_is_read_on_another_host(hosts):
    token = secrets.token_hex(8)
    _ssh(hosts, "hosta", f"echo {token} > {hostspec.ARCHIVE}/.token")
    assert _ssh(hosts, "hostb", f"cat {hostspec.ARCHIVE}/.token").stdout.strip() == token
    assert (hosts["workdir"] / "archive" / ".token").read_text().strip() == token


def test_the_host_given_a_private_archive_does_not_see_the_shared_file(hosts):
    _ssh(hosts, "hosta", f"echo shared > {hostspec.ARCHIVE}/.shared")
    assert _ssh(hosts, "hostb", f"cat {hostspec.ARCHIVE}/.shared").stdout == "shared\n"
    private = _ssh(
        hosts,
        PRIVATE,
        f"test -d {hostspec.ARCHIVE} && test ! -e {hostspec.ARCHIVE}/.shared",
        check=False,
    )
    assert private.returncode == 0, private.stderr


LISTENER = """
import socket
with socket.create_server(("{address}", 8765)) as server:
    print("listening", flush=True)
    server.settimeout(20)
    conn, peer = server.accept()
    with conn:
        print(peer[0], conn.recv(100).decode(), flush=True)
"""
CLIENT = """
import socket, time
for _ in range(100):
    try:
        with socket.create_connection(("{address}", 8765), timeout=2) as conn:
            conn.sendall(b"hello from " + socket.gethostname().encode())
            break
    except ConnectionRefusedError:
        time.sleep(0.1)
else:
    raise SystemExit("never reached")
"""


def test_a_listener_on_one_host_is_reached_from_another_by_address(hosts):
    listener = LISTENER.format(address=ADDRESS["hostb"])
    server = subprocess.Popen(
        _ssh_command(hosts["workdir"], "hostb", f"python3 -c '{listener}'"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _ssh(hosts, "hosta", f"python3 -c '{CLIENT.format(address=ADDRESS['hostb'])}'")
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert out.splitlines()[-1] == f"{ADDRESS['hosta']} hello from hosta", err


def test_ansible_reaches_every_host_over_ssh_with_the_inventory(hosts):
    env = {**os.environ, "ANSIBLE_HOME": str(hosts["workdir"] / "ansible-home")}
    command = [str(Path(sys.executable).parent / "ansible"), "-i", str(hosts["inventory"])]
    command += ["all", "-f", "3", "-m", "ansible.builtin.command", "-a", "hostname"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ADDRESS:
        assert f"{name} | CHANGED | rc=0 >>\n{name}\n" in result.stdout


def test_check_reachable_names_the_one_host_nobody_answers_for(hosts):
    multihost.check_reachable(hosts["inventory"])  # all three answer: no error
    ghost = hostspec.HostSpec("ghost", "198.18.0.99", ("alpha",))
    path = multihost.inventory([*HOSTS, ghost], hosts["workdir"])
    started = time.monotonic()
    with pytest.raises(multihost.UnreachableError) as raised:
        multihost.check_reachable(path)
    message = str(raised.value)
    print(f"\ncheck_reachable with a ghost: {time.monotonic() - started:.2f} s: {message}")
    assert "host ghost (198.18.0.99) does not answer over SSH" in message
    assert "\n" not in message and "hosta" not in message


def test_down_leaves_nothing_behind(hosts):
    workdir = hosts["workdir"]
    assert nsteardown.leftovers(workdir), "up left nothing to tear down"
    started = time.monotonic()
    nsteardown.down(workdir)
    took = time.monotonic() - started
    left = nsteardown.leftovers(workdir)
    print(f"\ndown: {took:.2f} s; leftovers: {left}")
    assert left == []
    assert not (workdir / "state.json").exists()
    nsteardown.down(workdir)  # idempotent
    assert nsteardown.leftovers(workdir) == []


def test_down_undoes_a_partial_up(machine, tmp_path):
    # What an up killed midway leaves: a namespace with a process, the bridge, a veth, the state.
    partial = hostspec.HostSpec("partial", "198.18.0.98", ())
    state = {"bridge": "sbbr0", "hosts": {"partial": {"netns": partial.netns}}}
    (tmp_path / "state.json").write_text(str(state).replace("'", '"'))
    subprocess.run(["ip", "netns", "add", partial.netns], check=True)
    subprocess.run(["ip", "link", "add", hostspec.BRIDGE, "type", "bridge"], check=True)
    veth = ["ip", "link", "add", partial.veth, "type", "veth", "peer", "name", "eth0"]
    subprocess.run([*veth, "netns", partial.netns], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", partial.netns, "sleep", "60"])
    try:
        time.sleep(0.2)  # until ip has entered the namespace
        left = nsteardown.leftovers(tmp_path)
        assert any(line.startswith(f"process {sleeper.pid} (sleep 60") for line in left), left
        nsteardown.down(tmp_path)
        assert nsteardown.leftovers(tmp_path) == []
        sleeper.wait(timeout=5)  # down reaped it (our child): its status is gone with it
        assert not Path(f"/proc/{sleeper.pid}").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
        nsteardown.down(tmp_path)
