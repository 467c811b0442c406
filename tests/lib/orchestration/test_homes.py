"""One Airflow home per Stagebook home, and the secret files in it private to their owner."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stagebook.orchestration.commands import environment, serve

STAGEBOOK = Path(sys.executable).with_name("stagebook")


def _bare_environ(home, stagebook_home):
    """The environment of a shell with only STAGEBOOK_HOME exported: no AIRFLOW_HOME, no AIRFLOW__*."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "AIRFLOW_HOME" and not key.startswith("AIRFLOW__")
    }
    return {**env, "HOME": str(home), "STAGEBOOK_HOME": str(stagebook_home)}


@pytest.mark.parametrize(
    ("args", "answer", "metastore"),
    [
        (["approve", "some_run", "prod.approve"], "no served Airflow for", False),
        (["lineage", "--ds", "2019-11-20", "--phase", "prod"], "no published batch", True),
        (["replay", "some_run", "prod.train"], "unknown run 'some_run'", False),
        (["run", "--ds", "2019-11-20", "--phases", "nowhere"], "nowhere", False),
    ],
    ids=["approve", "lineage", "replay", "run"],
)
def test_a_command_uses_the_airflow_home_of_its_stagebook_home(tmp_path, args, answer, metastore):
    home, stagebook_home = tmp_path / "user", tmp_path / "stagebook"
    home.mkdir()
    done = subprocess.run(
        [str(STAGEBOOK), *args],
        env=_bare_environ(home, stagebook_home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert not (home / "airflow").exists(), output  # Airflow's default home stays untouched
    assert "Traceback" not in output and "no such table" not in output, output
    assert done.returncode == 2, output
    (line,) = done.stderr.splitlines()  # the answer: one line, naming what was asked
    assert line.startswith("stagebook: ") and answer in line
    airflow_home = stagebook_home / "airflow"
    assert (airflow_home / "airflow.db").exists() == metastore
    if metastore:  # made here, and answered from here (the query found its tables)
        assert f"created the Airflow metastore in {airflow_home}" in done.stdout


def test_applying_the_environment_after_airflow_loaded_another_home_says_so(tmp_path, monkeypatch):
    import airflow.configuration

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(environment.AirflowHomeError) as caught:
        environment.apply_airflow_environ()
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "elsewhere") in message
    assert str(airflow.configuration.AIRFLOW_HOME) in message


@pytest.fixture
def served_home(tmp_path, monkeypatch):
    """An Airflow home for ``stagebook serve``'s environment, with its defaults for auth."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    for key in ("PASSWORDS_FILE", "USERS", "ALL_ADMINS"):
        monkeypatch.delenv(f"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_{key}", raising=False)
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_SECRET", raising=False)
    return tmp_path / "airflow"


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_generated_passwords_file_is_private_to_its_owner(served_home, monkeypatch):
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    env = serve.serve_environ("127.0.0.1", 8080)
    for key in [k for k in env if k.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_")]:
        monkeypatch.setenv(key, env[key])
    SimpleAuthManager().init()  # what the api-server does: generate and write the passwords
    passwords = served_home / "passwords.json"
    assert set(json.loads(passwords.read_text())) == {"admin", "viewer"}
    assert _mode(passwords) == 0o600
    assert _mode(served_home / "jwt_secret") == 0o600


def test_a_passwords_file_left_readable_by_others_is_tightened(served_home):
    served_home.mkdir()
    passwords = served_home / "passwords.json"
    passwords.write_text('{"admin": "kept"}\n')
    passwords.chmod(0o644)
    serve.serve_environ("127.0.0.1", 8080)
    assert _mode(passwords) == 0o600
    assert json.loads(passwords.read_text()) == {"admin": "kept"}  # its passwords stay
