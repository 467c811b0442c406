"""``make cluster`` / ``cluster-down`` / ``cluster-restore``: converge, tear down, restore.

``python -m stagebook_deploy.cluster up [INVENTORY]`` runs ``ansible/site.yml``
(default: ``ansible/inventories/local``, every group on this machine under
``$STAGEBOOK_CLUSTER_PREFIX``), then prints the api-server's URL and how to log
in. ``down`` stops every process the converge started on this machine (the
private supervisord and its programs) and names any that outlived it.
``restore BACKUP`` restores a metastore dump (``pg_dump -Fc``) into a fresh
database while Airflow's processes are stopped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from stagebook import settings
from stagebook_deploy.apiclient import Client  # noqa: F401 (cluster.Client, as callers name it)

VAULT_EXAMPLE = "vault-password.example"  # the examples' vault password: never a real one


def ansible_dir() -> Path:
    """Return the project's ``ansible/`` folder."""
    return settings.root() / "ansible"


def prefix() -> Path:
    """Return where the local inventory puts everything: ``$STAGEBOOK_CLUSTER_PREFIX``."""
    return Path(os.environ.get("STAGEBOOK_CLUSTER_PREFIX", settings.root() / "var" / "cluster"))


def supervisor_config(where: Path | None = None) -> Path:
    """Return the private supervisord's configuration under ``where`` (default: the prefix)."""
    return (where or prefix()) / "supervisor" / "supervisord.conf"


class ClusterError(Exception):
    """A converge that cannot start: the message names the file or variable and what to do."""


def vault_password(inventory: str, given: Path | None) -> Path:
    """Return the vault password file for ``inventory``: ``given``, or the example's for ``local``.

    Only the local inventory falls back to the example password; any other needs
    its own (``STAGEBOOK_VAULT_PASSWORD_FILE``), and a file that is not there
    stops the converge before anything starts.
    """
    local = Path(inventory).parts[:2] == ("inventories", "local")
    path = given or (ansible_dir() / VAULT_EXAMPLE if local else None)
    if path is None:
        raise ClusterError(
            f"{inventory}: no vault password for its vault_* variables "
            "(group_vars/all/vault.yml): set STAGEBOOK_VAULT_PASSWORD_FILE to the file that holds it"
        )
    if not path.is_file():
        raise ClusterError(
            f"{inventory}: the vault password file {path} (STAGEBOOK_VAULT_PASSWORD_FILE) "
            "does not exist: point it at the file that holds the password of the vault_* variables"
        )
    return path


def converge(
    inventory: str = "inventories/local/hosts.yml",
    extra_vars: Mapping[str, Any] | None = None,
    vault_password_file: Path | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``site.yml`` on ``inventory``; return the finished ``ansible-playbook``.

    ``extra_vars`` (a TLS key among them) go in a 0600 file: a command line is world-readable.
    """
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "ansible-playbook"), "-i", inventory, "site.yml"]
    command += ["--vault-password-file", str(vault_password(inventory, vault_password_file))]
    # Nothing of this process's own Airflow or archive may leak into the cluster's processes.
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK_"))}
    env = {**kept, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    env["STAGEBOOK_CLUSTER_PREFIX"] = str(prefix())
    if "STAGEBOOK_UV" in os.environ:
        env["STAGEBOOK_UV"] = os.environ["STAGEBOOK_UV"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="stagebook-vars-") as extra:
        json.dump(dict(extra_vars or {}), extra)
        extra.flush()
        command += ["-e", f"@{extra.name}"]
        run = {"cwd": ansible_dir(), "env": env, "capture_output": capture, "text": True}
        return subprocess.run(command, **run)


def recap(output: str) -> dict[str, int]:
    """Return the ``PLAY RECAP`` counts of a converge (summed over hosts): ok, changed, failed..."""
    counts: dict[str, int] = {}
    for key, value in re.findall(
        r"\b(ok|changed|unreachable|failed|skipped|rescued|ignored)=(\d+)", output
    ):
        counts[key] = counts.get(key, 0) + int(value)
    return counts


def ours(where: Path) -> list[psutil.Process]:
    """Return the processes started under ``where``: supervisord, its programs, their children."""
    pid_file = where / "supervisor" / "supervisord.pid"
    found: list[psutil.Process] = []
    try:
        root = psutil.Process(int(pid_file.read_text()))
        found = [root, *root.children(recursive=True)]
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        pass
    marker = str(where)
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc not in found and marker in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def down(where: Path | None = None, timeout_s: float = 120) -> list[int]:
    """Stop every process the converge started under ``where``; return the PIDs still alive."""
    where = where or prefix()
    config = supervisor_config(where)
    if config.exists():
        subprocess.run(["supervisorctl", "-c", str(config), "shutdown"], capture_output=True)
    deadline = time.monotonic() + timeout_s
    while (left := ours(where)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return [p.pid for p in left]


def metastore_url(where: Path | None = None) -> str:
    """Return the local cluster's metastore as a PostgreSQL URL (``postgresql://...``), from airflow.cfg."""
    config = ((where or prefix()) / "airflow" / "airflow.cfg").read_text()
    url = re.search(r"^sql_alchemy_conn = postgresql\+psycopg(://\S+)$", config, re.MULTILINE)
    if url is None:
        raise RuntimeError(f"{where}/airflow/airflow.cfg: no PostgreSQL sql_alchemy_conn")
    return f"postgresql{url[1]}"


def _metastore(where: Path) -> tuple[str, str, str]:
    """Return the local metastore's socket folder, port and database."""
    url = urllib.parse.urlsplit(metastore_url(where))
    return str(where / "postgresql" / "run"), str(url.port), url.path.lstrip("/")


def _as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


def _airflow(where: Path, action: str) -> None:
    config = str(supervisor_config(where))
    subprocess.run(
        ["supervisorctl", "-c", config, action, "airflow:*"], check=True, capture_output=True
    )


def backup(target: Path, where: Path | None = None) -> Path:
    """Dump the local metastore now (``pg_dump`` custom format, as the nightly backup does)."""
    socket, port, database = _metastore(where or prefix())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o777)  # pg_dump runs as postgres
    _as_postgres("pg_dump", "-Fc", "-h", socket, "-p", port, "-f", str(target), database)
    return target


def restore(dump: Path, where: Path | None = None) -> None:
    """Restore a metastore backup into a fresh database, with Airflow stopped meanwhile."""
    where = where or prefix()
    if not dump.is_file():
        raise FileNotFoundError(
            f"{dump}: no such backup (the nightly ones are in {where}/postgresql/backups)"
        )
    socket, port, database = _metastore(where)
    psql = ("psql", "-h", socket, "-p", port, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c")
    _airflow(where, "stop")
    try:
        _as_postgres(*psql, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _as_postgres(*psql, f'CREATE DATABASE "{database}" OWNER airflow')
        _as_postgres("pg_restore", "-h", socket, "-p", port, "-d", database, str(dump))
    finally:
        _airflow(where, "start")


def login(where: Path | None = None) -> list[str]:
    """Return how to reach the local cluster: its URL, users and passwords file."""
    home = (where or prefix()) / "airflow"
    lines = []
    config = (home / "airflow.cfg").read_text() if (home / "airflow.cfg").exists() else ""
    base = re.search(r"^base_url = (.+)$", config, re.MULTILINE)
    if base:
        lines.append(f"Airflow: {base[1]}/   reports: {base[1]}/stagebook/")
    passwords = home / "passwords.json"
    if passwords.exists():
        users = ", ".join(json.loads(passwords.read_text()))
        lines.append(f"log in as {users}; passwords in {passwords}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``up [INVENTORY]``, ``down`` or ``restore BACKUP``."""
    args = argv if argv is not None else sys.argv[1:]
    usage = "usage: python -m stagebook_deploy.cluster up [INVENTORY] | down | restore BACKUP"
    wanted = {"up": (1, 2), "down": (1,), "restore": (2,)}
    if not args or len(args) not in wanted.get(args[0], ()):
        print(usage, file=sys.stderr)
        return 2
    if args[0] == "down":
        left = down()
        print(f"stagebook: cluster stopped{'' if not left else f'; still running: {left}'}")
        return 1 if left else 0
    if args[0] == "restore":
        try:
            restore(Path(args[1]))
        except (FileNotFoundError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or b""
            print(
                f"stagebook: restore failed: {error} {detail.decode(errors='replace')}",
                file=sys.stderr,
            )
            return 1
        print(f"stagebook: restored {args[1]}; Airflow's processes run on it again")
        return 0
    password = os.environ.get("STAGEBOOK_VAULT_PASSWORD_FILE")
    try:
        result = converge(
            *args[1:2], vault_password_file=Path(password) if password else None, capture=False
        )
    except ClusterError as error:
        print(f"stagebook: {error}", file=sys.stderr)
        return 2
    if result.returncode:
        return result.returncode
    for line in login():
        print(f"stagebook: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
