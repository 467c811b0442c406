"""``stagebook lab``: JupyterLab on the project opens a stage source as a notebook, which runs as is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from stagebook.orchestration.commands import lab
from tests.support import free_port

SOURCE = "pipelines/weather/notebooks/00-observe.py"
TOKEN = "stagebook-lab-test"


def _get(port: int, path: str) -> dict:
    separator = "&" if "?" in path else "?"
    url = f"http://127.0.0.1:{port}{path}{separator}token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``stagebook lab`` on a free port, an archive of the test's own; stopped by its PID."""
    monkeypatch.setenv("STAGEBOOK_HOME", str(tmp_path / "home"))
    port = free_port()
    environ = {**os.environ, "JUPYTER_TOKEN": TOKEN, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    command = [sys.executable, "-m", "stagebook.orchestration.commands.cli", "lab"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                _get(port, "/api/status")
                break
            except OSError:
                assert process.poll() is None, "stagebook lab exited"
                time.sleep(0.5)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_stage_source_opens_as_a_notebook_with_the_stagebook_kernel(served):
    model = _get(served, f"/api/contents/{SOURCE}?type=notebook&content=1")
    assert model["type"] == "notebook"
    assert model["content"]["metadata"]["kernelspec"]["name"] == "stagebook"
    tagged = [c for c in model["content"]["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert "stagebook" in _get(served, "/api/kernelspecs")["kernelspecs"]
    viewers = _get(served, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert viewers["settings"]["defaultViewers"] == {"python": "Jupytext Notebook"}


def test_a_stage_source_runs_with_its_defaults_in_the_labs_environment(served, tmp_path):
    model = _get(served, f"/api/contents/{SOURCE}?type=notebook&content=1")
    nb = nbformat.from_dict(model["content"])
    folder = Path(lab.settings.root() / SOURCE).parent  # Lab starts a kernel in the file's folder
    with pytest.MonkeyPatch.context() as patch:
        given = lab.environ()  # what `stagebook lab` gives its kernels
        for name in set(os.environ) - set(given):
            patch.delenv(name)
        for name, value in given.items():
            patch.setenv(name, value)
        client = NotebookClient(
            nb, kernel_name="stagebook", resources={"metadata": {"path": folder}}
        )
        client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    assert (tmp_path / "home" / "data" / "weather").is_dir()
