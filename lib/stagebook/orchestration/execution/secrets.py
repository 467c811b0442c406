"""Keeping secrets out of reports: a minimal kernel environment, and redaction before archiving.

A stage's kernel does not inherit the worker's environment (which holds
``AIRFLOW__CORE__FERNET_KEY``, database URLs, every ``AIRFLOW_CONN_*``): it gets
what a kernel needs to run (:data:`KERNEL_NAMES`, :data:`KERNEL_PREFIXES`) and the
connections its stage declares. Before a notebook is archived and rendered,
every value that Airflow's secrets masker knows is replaced by ``***`` in its
outputs and parameters; each redaction is logged with its cell, never its value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stagebook import atomic, pipelines, settings
from stagebook.errors import PipelineError

log = logging.getLogger("stagebook.secrets")

KERNEL_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "SSL_CERT_FILE",
        "JAVA_HOME",  # a kernel that starts a local JVM (Spark's local[*]) finds its Java
        "AIRFLOW_HOME",  # a path: the task SDK reads a connection's JSON without it otherwise
    }
)
KERNEL_PREFIXES = (
    "LC_",
    "STAGEBOOK_",
    "JUPYTER_",
    "IPYTHON",
    "MPL",
    "XDG_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "KERAS_",
    "JAX_",
    "TF_",
    "XLA_",
    "CUDA_",
)


# XLA's C++ INFO lines (and TensorFlow's, where a notebook imports it) stay out of the outputs; its
# warnings and errors still show. A worker that sets the variable keeps its own value.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "1"}


def kernel_environ(declared: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict:
    """Return the environment of a stage's kernel: what a kernel needs, plus ``declared``."""
    environ = os.environ if environ is None else environ
    kept = {
        name: value
        for name, value in environ.items()
        if name in KERNEL_NAMES or name.startswith(KERNEL_PREFIXES)
    }
    pipeline = environ.get(settings.PIPELINE)  # set by stagebook.pipelines.enter
    if pipeline:  # the kernel imports its pipeline's own package from the pipeline's folder
        with contextlib.suppress(PipelineError):
            folder = pipelines.folder(pipeline)
            kept["PYTHONPATH"] = pipelines.python_path(folder, kept.get("PYTHONPATH", ""))
    return {**QUIET, **kept, **declared}


def kernel_manager(environ: Mapping[str, str], seen: dict[str, Any] | None = None) -> type:
    """Return a Jupyter kernel manager class whose kernels start with exactly ``environ``.

    ``seen``: gets ``kernel_pid`` once the kernel started (what a stop interrupts), and
    ``kernel_peak_rss_mb``, the kernel's peak resident memory, read just before it
    shuts down (Linux ``VmHWM``; absent where there is none).
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Type

    from stagebook.orchestration.execution import readiness  # not at DAG parse: jupyter_client

    class StageKernelManager(AsyncKernelManager):
        """Starts the kernel with the stage's minimal environment, not the worker's."""

        # Ready as soon as the kernel answers (the client's docstring says why).
        client_factory = Type(readiness.ReadyKernelClient, klass=readiness.AsyncKernelClient)

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            kw["env"] = dict(environ)
            return await super()._async_pre_start_kernel(**kw)

        async def _async_post_start_kernel(self, **kw: Any) -> None:
            await super()._async_post_start_kernel(**kw)
            if seen is not None:
                seen["kernel_pid"] = getattr(self.provisioner, "pid", None)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            peak = _peak_rss_mb(getattr(self.provisioner, "pid", None))
            if seen is not None and peak is not None:
                seen["kernel_peak_rss_mb"] = peak
            await super().shutdown_kernel(now=now, restart=restart)

    return StageKernelManager


def _peak_rss_mb(pid: int | None) -> float | None:
    """Return a live process's peak resident memory in MiB, or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def mask_connection(conn: Any) -> str:
    """Tell Airflow's secrets masker every form of a connection's secrets; return its JSON.

    The password, URL-quoted too (as a URI shows it), the whole JSON and the whole URI.
    """
    from urllib.parse import quote

    from airflow.sdk.log import mask_secret

    value = conn.as_json()
    forms = [conn.password, quote(conn.password or "", safe=""), value, conn.get_uri()]
    for form in forms:
        if form:
            mask_secret(form)
    return value


def redacted(value: Any) -> Any:
    """Return ``value`` (a string, or JSON-like data) with every known secret as ``***``."""
    from airflow.sdk.log import redact

    return redact(value, max_depth=100)  # outputs nest deeper than the masker's default


def _redact_cells(nb: Any) -> list[int]:
    """Redact the sources and outputs of ``nb``'s cells in place; return the changed cells' numbers."""
    changed = []
    for number, cell in enumerate(nb.get("cells", []), start=1):
        before = json.dumps([cell.get("source"), cell.get("outputs")])
        cell["source"] = redacted(cell.get("source", ""))
        if "outputs" in cell:
            cell["outputs"] = redacted(cell["outputs"])
        if json.dumps([cell.get("source"), cell.get("outputs")]) != before:
            changed.append(number)
    return changed


def redacted_notebook(nb: Any, name: str, logged: set[int]) -> Any:
    """Return a redacted copy of a notebook being executed (an ``nbformat`` node), to save.

    Each cell redacted for the first time (not in ``logged``) is logged as
    :func:`redact_notebook` does, by its number in notebook ``name``.
    """
    import nbformat

    copy = json.loads(json.dumps(nb))
    for number in _redact_cells(copy):
        if number not in logged:
            logged.add(number)
            log.warning("Redacted a secret from cell %d of %s", number, name)
    return nbformat.from_dict(copy)


def redact_notebook(notebook: Path) -> int:
    """Redact the outputs and parameters of an executed notebook in place; return how many cells.

    Each redacted cell is logged (logger ``stagebook.secrets``, so the task log) by its
    number, from 1 as Jupyter shows it; the value never is.
    """
    nb = json.loads(notebook.read_text())
    changed = _redact_cells(nb)
    if changed:
        atomic.write_text(notebook, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        for number in changed:
            log.warning("Redacted a secret from cell %d of %s", number, notebook.name)
    return len(changed)
