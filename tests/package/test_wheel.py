"""``pip install stagebook`` brings the framework alone, and a new project runs from it.

The wheel is built from this checkout and installed with the lock's versions into
a new virtualenv outside the repository. In an empty folder, ``stagebook new
pipeline hello``, ``stagebook check`` and ``stagebook run`` then run the new
pipeline through Airflow, with nothing of this checkout on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stagebook import settings

DS = "2026-12-01"


def _uv() -> str:
    found = os.environ.get("STAGEBOOK_UV") or shutil.which("uv")
    local = settings.root() / ".tools" / "bin" / "uv"
    return found or str(local)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A virtualenv outside the repository with the stagebook wheel, at the lock's versions."""
    out = tmp_path_factory.mktemp("wheel")
    uv, root = _uv(), settings.root()
    _run([uv, "build", "--wheel", "--out-dir", str(out), str(root)], cwd=root)
    (wheel,) = out.glob("stagebook-*.whl")
    pins = out / "lock.txt"  # every version the lock holds; the wheel asks for a part of them
    export = [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-groups"]
    pins.write_text(_run([*export, "--all-extras"], cwd=root).stdout)
    target = out / "venv"
    _run([uv, "venv", "--python", sys.executable, str(target)])
    install = [uv, "pip", "install", "--python", str(target / "bin" / "python")]
    _run([*install, "--compile-bytecode", "-c", str(pins), str(wheel)])
    return target


def _size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def test_the_wheel_holds_the_framework_and_none_of_the_pipelines_libraries(venv):
    python = str(venv / "bin" / "python")
    for module in ("jax", "keras", "duckdb", "recsys", "weather", "stagebook_deploy"):
        done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, module
    ours = _size_mib(settings.root() / ".venv")
    print(
        f"\nvirtualenv from the wheel: {_size_mib(venv):.0f} MiB; the checkout's .venv: {ours:.0f} MiB"
    )
    version = _run([str(venv / "bin" / "stagebook"), "--version"]).stdout
    assert version.startswith("stagebook ") and "Airflow 3." in version


def test_a_new_project_from_the_wheel_runs_its_first_pipeline_through_airflow(venv, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "STAGEBOOK"))}
    environ.pop("PYTHONPATH", None)
    environ["PATH"] = f"{venv / 'bin'}{os.pathsep}{environ['PATH']}"
    environ["VIRTUAL_ENV"] = str(venv)

    def stagebook(*args: str) -> str:
        return _run(["stagebook", *args], cwd=project, env=environ).stdout

    assert "wrote pipelines/hello/pipeline.py" in stagebook("new", "pipeline", "hello")
    assert "no problem" in stagebook("check")
    ran = stagebook("run", "--pipeline", "hello", "--ds", DS)
    assert "success" in ran
    reports = project / "var" / "reports" / "hello" / DS / "common"
    assert sorted(p.name for p in reports.glob("*/*.html")) == [
        "00-extract.try1.html",
        "10-report.try1.html",
    ]
    logs = project / "var" / "airflow" / "logs" / "dag_id=hello"
    assert any(logs.rglob("*.log")), "the run went through Airflow: its task logs"
