"""``stagebook lab``: JupyterLab on the project, where a stage source opens as a notebook.

jupytext's contents manager (a server extension of the dev environment) reads a
percent script as a notebook and saves it back as text; the setting written here
makes "Jupytext Notebook" the viewer a double click opens a ``.py`` with. Every
pipeline's folder is on the kernels' import path, as for a stage's kernel, so a
source runs with its parameters' defaults as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from stagebook import atomic, pipelines, settings
from stagebook.errors import PipelineError

VIEWERS = "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"


def environ() -> dict[str, str]:
    """Return the environment of JupyterLab and its kernels: the project, its pipelines' packages."""
    path = os.environ.get("PYTHONPATH", "")
    for folder in settings.pipeline_folders():
        path = pipelines.python_path(folder, path)
    settings_dir = settings.home() / "jupyterlab" / "settings"
    atomic.write_text(
        settings_dir / VIEWERS, json.dumps({"defaultViewers": {"python": "Jupytext Notebook"}})
    )
    inherited = {k: v for k, v in os.environ.items() if k != settings.PIPELINE}
    return {  # no pipeline named: a kernel's is the one whose folder holds its source
        **inherited,
        "PYTHONPATH": path,
        "STAGEBOOK_ROOT": str(settings.root()),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
    }


def command(port: int) -> list[str]:
    """Return the command line of JupyterLab on the project, on loopback, port ``port``.

    Raises:
        PipelineError: when JupyterLab or jupytext is not installed in this environment.
    """
    jupyter = Path(sys.executable).with_name("jupyter")
    try:
        import jupytext  # noqa: F401  (its contents manager opens the sources)

        found = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True).returncode
    except (ImportError, OSError):
        found = 1
    if found != 0:
        raise PipelineError(
            "stagebook lab needs JupyterLab and jupytext here: pip install jupyterlab jupytext"
        )
    return [
        str(jupyter),
        "lab",
        f"--ServerApp.root_dir={settings.root()}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--MappingKernelManager.default_kernel_name={settings.KERNEL_NAME}",
        *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),  # a container's root
    ]


def lab(port: int) -> NoReturn:
    """Become JupyterLab on the project, in this process: Ctrl-C and TERM stop it.

    Not a child: one stopped by ``stagebook lab``'s PID would otherwise go on serving.
    """
    argv, env = command(port), environ()
    os.chdir(settings.root())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
