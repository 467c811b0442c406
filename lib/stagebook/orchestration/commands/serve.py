"""``stagebook serve``: the embedded Airflow on this machine, with the reports in its UI.

Starts the api-server (with the Stagebook app at ``/stagebook/``), the scheduler,
the dag-processor and the triggerer on one home, unpauses the DAGs so that the
nightly schedule really runs, prints the URL and how to log in, and stops every
process it started on Ctrl-C or SIGTERM. A second ``stagebook serve`` on the
same home says that one is already running, with its PID.

Logging in: Airflow's SimpleAuthManager, with the users of
``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS`` (default ``admin:admin,viewer:viewer``)
and passwords it generates once into ``$STAGEBOOK_HOME/airflow/passwords.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from stagebook import settings
from stagebook.orchestration.commands import environment

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STOP_S = 20.0  # how long each process gets to stop after SIGTERM
READY_S = 180.0  # how long the api-server may take to answer its health check


class AlreadyServing(RuntimeError):
    """Another ``stagebook serve`` runs on this home."""


def airflow_home() -> Path:
    """Return the home of the embedded Airflow."""
    return Path(environment.airflow_environ()["AIRFLOW_HOME"])


def pid_file() -> Path:
    """Return the file that holds the PID of the ``stagebook serve`` of this home."""
    return airflow_home() / "stagebook-serve.pid"


def private_file(path: Path) -> bool:
    """Make ``path`` readable by its owner only (0600), creating it empty if missing.

    Returns whether it was created. A file made before this rule (0644) is
    tightened too. Airflow's SimpleAuthManager writes its generated passwords
    into a file it opens for appending, under the umask; made here first, the
    file keeps this mode.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        os.chmod(path, 0o600)
        return False
    return True


def _secret(name: str) -> str:
    """Return a secret kept (0600) under the Airflow home, made once, shared by every process."""
    path = airflow_home() / name
    if private_file(path) or not path.read_text().strip():  # new, or left empty by a crash
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def serve_environ(host: str, port: int) -> dict[str, str]:
    """Return the environment of every served process: one URL, one JWT secret, one auth."""
    base = f"http://{host}:{port}"
    defaults = {
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home() / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    }
    found = {key: os.environ.get(key, value) for key, value in defaults.items()}
    private_file(Path(found["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
    found["AIRFLOW__API_AUTH__JWT_SECRET"] = os.environ.get(
        "AIRFLOW__API_AUTH__JWT_SECRET"
    ) or _secret("jwt_secret")
    return {**os.environ, **environment.airflow_environ(), **found}


def state_file() -> Path:
    """Return the file where the running ``stagebook serve`` says what it serves (see :func:`served`)."""
    return airflow_home() / "stagebook-serve.json"


def announce(env: dict[str, str], components: Sequence[str]) -> None:
    """Write :func:`state_file`: the URL, the components and the passwords file of this serve.

    ``stagebook run`` reads it to trigger its run here, ``stagebook approve`` to answer here.
    """
    state = {
        "pid": os.getpid(),
        "url": env["AIRFLOW__API__BASE_URL"],
        "components": list(components),
        "passwords": env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"],
    }
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(state_file())


def running_pid() -> int | None:
    """Return the PID of the ``stagebook serve`` of this home, or None if none runs."""
    try:
        pid = int(pid_file().read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"serve" not in cmdline.read_bytes():
        return None  # a PID reused by another program
    return pid


@contextlib.contextmanager
def claimed() -> Iterator[None]:
    """Hold this home's PID file for the block; raise :class:`AlreadyServing` if it is taken."""
    path = pid_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    other = running_pid()
    if other is not None and other != os.getpid():
        raise AlreadyServing(
            f"stagebook serve is already running on {settings.home()} (PID {other}); "
            f"stop it first (kill {other})"
        )
    path.write_text(f"{os.getpid()}\n")
    state_file().unlink(missing_ok=True)  # left by a serve that was killed: not this one's
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()


def _airflow(*args: str, env: dict[str, str]) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), *args], check=True, env=env, stdout=subprocess.DEVNULL)


def prepare(env: dict[str, str]) -> list[str]:
    """Migrate the metastore, write every DAG to it, and unpause them; return their ids."""
    from stagebook.orchestration.commands import dags

    _airflow("db", "migrate", env=env)
    _airflow("dags", "reserialize", env=env)
    dag_ids = sorted(dags.dag_ids())
    for dag_id in dag_ids:
        _airflow("dags", "unpause", dag_id, env=env)
    return dag_ids


def start(component: str, env: dict[str, str], logs: Path) -> subprocess.Popen:
    """Start one Airflow component in its own process group, its output to ``logs``."""
    airflow = Path(sys.executable).with_name("airflow")
    args = [str(airflow), component]
    if component == "api-server":
        args += ["-H", env["AIRFLOW__API__HOST"], "-p", env["AIRFLOW__API__PORT"], "-w", "1"]
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{component}.log", "ab")  # the child writes it for as long as it runs
    return subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(processes: Sequence[subprocess.Popen]) -> None:
    """Stop each process and its children (its process group) by PID: SIGTERM, then SIGKILL."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for proc in processes:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_healthy(base: str, processes: Sequence[subprocess.Popen]) -> None:
    """Wait until the api-server answers its health check; fail if a process dies first."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"airflow {dead[0].args[1]} exited with {dead[0].returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(1)
    raise RuntimeError(f"the api-server did not answer at {base} within {READY_S:.0f} s")


def login_lines(env: dict[str, str]) -> list[str]:
    """Return how to log in: the users, and where their generated passwords are."""
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    users = [u.split(":")[0] for u in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")]
    lines = [f"log in as {', '.join(users)}; passwords in {path} (made once, kept):"]
    with contextlib.suppress(OSError, ValueError):
        for user, password in json.loads(path.read_text()).items():
            lines.append(f"  {user}: {password}")
    return lines


def serve(host: str, port: int, components: Sequence[str] = COMPONENTS) -> int:
    """Run the served Airflow until Ctrl-C or SIGTERM; return the exit status."""
    env = serve_environ(host, port)
    os.environ.update(env)
    with claimed():
        dag_ids = prepare(env)
        logs = Path(env["AIRFLOW_HOME"]) / "logs" / "serve"
        processes = [start(c, env, logs) for c in components]
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            base = env["AIRFLOW__API__BASE_URL"]
            if "api-server" in components:
                wait_healthy(base, processes)
            announce(env, components)
            print(f"stagebook: serving {', '.join(dag_ids)} on {base} (PID {os.getpid()})")
            print(f"  reports: {base}/stagebook/   Airflow: {base}/")
            for line in login_lines(env):
                print(f"  {line}")
            print(
                f"  running {', '.join(components)}; logs in {logs}; Ctrl-C stops them all",
                flush=True,
            )
            while not stopping:
                dead = [p for p in processes if p.poll() is not None]
                if dead:
                    print(
                        f"stagebook: {dead[0].args[1]} exited with {dead[0].returncode}; stopping"
                    )
                    return 1
                time.sleep(0.5)
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            state_file().unlink(missing_ok=True)
            stop(processes)
            print("stagebook: stopped every process it started", flush=True)
