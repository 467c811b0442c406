"""Several hosts for real on one machine: namespaces with an sshd each, and their inventory.

``python -m stagebook_deploy.multihost up [--workdir DIR]`` brings
:func:`~stagebook_deploy.hostspec.prod_layout` up (:mod:`.nshosts`), writes its
Ansible inventory (``DIR/inventory.yml``) and checks that every host answers
over SSH; with ``--converge`` it then converges ``ansible/site.yml`` there
(:func:`converge_hosts`) and prints the api-server's URL; ``down`` tears it all down; ``check`` prints what of ours is still on
this machine (exit 1 if anything). ``DIR`` defaults to ``var/multihost``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from stagebook import settings
from stagebook_deploy import certificate, cluster, nshosts, nsteardown
from stagebook_deploy.hostspec import GROUP_PARENTS, GROUP_VARS, HostSpec, prod_layout

# The rehearsal's group_vars (its vault's password is the examples' one), linked beside the
# inventory that `up` writes.
SHARED_VARS = Path("inventories") / "multihost" / "group_vars"


class UnreachableError(Exception):
    """An inventory host that does not answer over SSH: one line naming it and what to do."""


def inventory(
    hosts: Sequence[HostSpec],
    workdir: Path,
    group_vars: Mapping[str, Mapping[str, Any]] = GROUP_VARS,
    parents: Mapping[str, str] = GROUP_PARENTS,
    shared_vars: Path | None = None,
) -> Path:
    """Write ``workdir/inventory.yml`` for ``hosts`` (as root, over SSH with our keys); return it.

    The SSH options name the key pair and ``known_hosts`` that :func:`nshosts.up`
    wrote in ``workdir`` (strict host key checking; ``~/.ssh`` is never read or
    written). A group in ``parents`` is nested under its parent, as production
    nests ``worker_train`` under ``worker``. ``shared_vars``, a ``group_vars``
    folder (``ansible/inventories/multihost/group_vars``), is linked beside the
    inventory, where Ansible reads it from.
    """
    workdir = workdir.resolve()
    ssh = workdir / "ssh"
    common = (
        f"-F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={ssh / 'known_hosts'} -o GlobalKnownHostsFile=/dev/null"
    )
    top: dict[str, Any] = {}
    placed: set[str] = set()
    for host in hosts:
        for group in host.groups:
            entry = top
            for name in [*_ancestors(group, parents), group]:
                entry = entry.setdefault(name, {})
                if name != group:
                    entry = entry.setdefault("children", {})
            if group in group_vars:
                entry["vars"] = dict(group_vars[group])
            # Its variables once, in its first group; Ansible merges a host's groups.
            values = None if host.name in placed else {"ansible_host": host.address, **host.vars}
            entry.setdefault("hosts", {})[host.name] = values
            placed.add(host.name)
    all_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(ssh / "id_ed25519"),
        "ansible_ssh_common_args": common,
        # A module goes down the SSH connection instead of as a file copied first: one round
        # trip a task instead of several (nothing here becomes another user with sudo).
        "ansible_pipelining": True,
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    path = workdir / "inventory.yml"
    link = workdir / "group_vars"
    if link.is_symlink():
        link.unlink()
    if shared_vars is not None:
        link.symlink_to(shared_vars.resolve(), target_is_directory=True)
    text = yaml.safe_dump({"all": {"vars": all_vars, "children": top}}, sort_keys=False)
    path.write_text(
        "# Written by stagebook_deploy.multihost: namespace hosts on this machine.\n" + text
    )
    return path


def ssh_argv(workdir: Path, address: str, command: str) -> list[str]:
    """Return the ``ssh`` command line that runs ``command`` as root on the host at ``address``.

    With :func:`nshosts.up`'s key and known hosts only: no ``~/.ssh`` is read or written.
    """
    keys = workdir.resolve() / "ssh"
    options = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    options += ["-o", "StrictHostKeyChecking=yes"]
    options += ["-o", f"UserKnownHostsFile={keys / 'known_hosts'}"]
    return ["ssh", *options, "-i", str(keys / "id_ed25519"), f"root@{address}", command]


def ssh(
    workdir: Path, address: str, command: str, timeout_s: float = 60
) -> subprocess.CompletedProcess:
    """Run ``command`` as root on the host at ``address`` over SSH (:func:`ssh_argv`)."""
    argv = ssh_argv(workdir, address, command)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)


def _ancestors(group: str, parents: Mapping[str, str]) -> list[str]:
    chain = []
    while group in parents:
        group = parents[group]
        chain.insert(0, group)
    return chain


def _hosts(group: Mapping[str, Any], inherited: Mapping[str, Any], out: dict) -> None:
    """Collect every host under ``group`` with its variables (group's, then its own)."""
    values = {**inherited, **(group.get("vars") or {})}
    for name, own in (group.get("hosts") or {}).items():
        out.setdefault(name, {}).update({**values, **(own or {})})
    for child in (group.get("children") or {}).values():
        _hosts(child or {}, values, out)


def _answers(variables: Mapping[str, Any], name: str, timeout_s: int) -> str | None:
    """Return why host ``name`` does not answer ``ssh ... true``; None if it does."""
    command = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout_s}"]
    command += shlex.split(str(variables.get("ansible_ssh_common_args", "")))
    if "ansible_ssh_private_key_file" in variables:
        command += ["-i", str(variables["ansible_ssh_private_key_file"])]
    command += ["-p", str(variables.get("ansible_port", 22))]
    command += ["-l", str(variables.get("ansible_user", "root"))]
    command += [str(variables.get("ansible_host", name)), "true"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s + 10)
    except subprocess.TimeoutExpired:
        return f"ssh gave no answer in {timeout_s + 10} s"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return None if result.returncode == 0 else (lines[-1] if lines else f"exit {result.returncode}")


def check_reachable(inventory_path: Path, timeout_s: int = 5) -> None:
    """Raise :class:`UnreachableError` unless every SSH host of the inventory answers ``true``.

    Run before a converge: one line names the first host (in the inventory's
    order) that does not answer, its address and what to do.
    """
    try:
        top = yaml.safe_load(Path(inventory_path).read_text()) or {}
        found: dict[str, dict] = {}
        _hosts(top.get("all") or {}, {}, found)
    except (OSError, yaml.YAMLError, AttributeError) as error:
        first = str(error).splitlines()[0]
        raise UnreachableError(
            f"{inventory_path}: not a readable YAML inventory ({first})"
        ) from None
    remote = {n: v for n, v in found.items() if v.get("ansible_connection", "ssh") == "ssh"}
    with ThreadPoolExecutor(max_workers=16) as pool:
        reasons = pool.map(lambda n: _answers(remote[n], n, timeout_s), remote)
        why = dict(zip(remote, reasons, strict=True))
    failed = [name for name, reason in why.items() if reason]
    if failed:
        name, more = failed[0], failed[1:]
        address = remote[name].get("ansible_host", name)
        also = f"; {len(more)} more do not either: {', '.join(more)}" if more else ""
        raise UnreachableError(
            f"{inventory_path}: host {name} ({address}) does not answer over SSH ({why[name]}): "
            f"start it (python -m stagebook_deploy.multihost up) or correct its ansible_host, "
            f"then converge{also}"
        )


def tls_vars(workdir: Path) -> dict[str, str]:
    """Return the vault variables of a self-signed certificate for the api-server's address.

    Made once in ``workdir/tls`` (``api.crt``: what a browser or client verifies with).
    """
    api_host = next(h for h in prod_layout() if "api_server" in h.groups)
    return certificate.vault_vars(*certificate.write(workdir.resolve() / "tls", api_host.address))


def converge_hosts(path: Path, workdir: Path) -> int:
    """Converge ``ansible/site.yml`` on the inventory ``path``; print the URL; return its exit.

    The vault password is ``STAGEBOOK_VAULT_PASSWORD_FILE``, else the examples' one
    (the rehearsal's vault holds only generated secrets); the api-server serves
    HTTPS with :func:`tls_vars`' certificate.
    """
    given = os.environ.get("STAGEBOOK_VAULT_PASSWORD_FILE")
    password = Path(given) if given else cluster.ansible_dir() / cluster.VAULT_EXAMPLE
    started = time.monotonic()
    extra = tls_vars(workdir)
    result = cluster.converge(str(path), extra, vault_password_file=password, capture=False)
    if result.returncode == 0:
        print(f"stagebook: converged in {time.monotonic() - started:.0f} s")
        api_host = next(h for h in prod_layout() if "api_server" in h.groups)
        for line in cluster.login(workdir.resolve() / api_host.netns / "srv" / "stagebook"):
            print(f"stagebook: {line}")
        print(f"stagebook: its certificate (self-signed): {workdir.resolve() / 'tls' / 'api.crt'}")
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    """``up [--converge]``, ``down`` or ``check`` the namespace hosts of :func:`prod_layout`."""
    parser = argparse.ArgumentParser(prog="python -m stagebook_deploy.multihost")
    parser.add_argument("action", choices=["up", "down", "check"])
    parser.add_argument("--workdir", type=Path, default=settings.root() / "var" / "multihost")
    parser.add_argument("--private-archive", metavar="HOST", help="give HOST its own archive")
    parser.add_argument("--converge", action="store_true", help="then converge site.yml on them")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.action == "up":
            hosts = prod_layout()
            nshosts.up(hosts, args.workdir, private_archive=args.private_archive)
            shared = cluster.ansible_dir() / SHARED_VARS
            path = inventory(hosts, args.workdir, shared_vars=shared)
            check_reachable(path)
            took = time.monotonic() - started
            print(f"stagebook: {len(hosts)} hosts up in {took:.1f} s; inventory: {path}")
            return converge_hosts(path, args.workdir) if args.converge else 0
        if args.action == "down":
            nsteardown.down(args.workdir)
            print(f"stagebook: hosts down in {time.monotonic() - started:.1f} s")
    except (nshosts.HostsError, UnreachableError, cluster.ClusterError, ValueError) as error:
        print(f"stagebook: {error}", file=sys.stderr)
        return 1
    left = nsteardown.leftovers(args.workdir)
    for line in left:
        print(f"stagebook: still there: {line}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
