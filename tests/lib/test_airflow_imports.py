"""Stagebook's code imports only Airflow's public interfaces; ``compat`` holds the rest, declared.

Public: ``airflow.sdk`` (its private names and modules excepted), documented
provider modules (``airflow.providers.*``) and the documented plugin interface
of :data:`ALLOWED`. Every other ``airflow`` import is a reach-in: only
``stagebook/orchestration/compat.py`` may have one, each declared with its
reason in ``compat.REACH_INS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from stagebook import settings
from stagebook.orchestration import compat

ROOTS = ("lib", "pipelines", "dags", "plugins")
COMPAT = Path(compat.__file__).resolve()

# module -> (the names that may be imported from it, None: any; why it is public)
ALLOWED: dict[str, tuple[frozenset[str] | None, str]] = {
    "airflow.plugins_manager": (None, "AirflowPlugin: the documented plugin interface"),
    "airflow.listeners": (frozenset({"hookimpl"}), "the documented listener interface"),
    "airflow.api_fastapi.core_api.security": (
        None,
        "the FastAPI guards a plugin's web app uses (requires_access_*)",
    ),
    "airflow.api_fastapi.auth.managers.models.resource_details": (
        None,
        "the resource kinds those guards take (DagAccessEntity)",
    ),
    "airflow.api_fastapi.app": (
        frozenset({"get_auth_manager"}),
        "the auth manager a plugin's web app asks who the user is",
    ),
}


def _public(module: str, names: list[str]) -> bool:
    """Tell whether importing ``names`` from ``module`` (none: the module itself) is public."""
    if module == "airflow.sdk" or module.startswith("airflow.sdk."):
        # execution_time: the Task SDK's own runtime (supervisor, task runner), not an API
        private = any(part.startswith("_") for part in module.split(".")) or module.startswith(
            "airflow.sdk.execution_time"
        )
        return not private and not any(name.startswith("_") for name in names)
    if module.startswith("airflow.providers."):
        return True
    allowed = ALLOWED.get(module)
    if allowed is None:
        return False
    return allowed[0] is None or bool(names) and set(names) <= allowed[0]


def reach_ins(source: str) -> list[tuple[int, str]]:
    """Return ``(line, module)`` of each import of ``source`` past Airflow's public interfaces.

    ``from airflow import settings`` imports the module ``airflow.settings``.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imports = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [alias.name for alias in node.names]
            if node.module == "airflow":
                imports = [(f"airflow.{name}", []) for name in names]
            else:
                imports = [(node.module, names)]
        else:
            continue
        for module, names in imports:
            if (module == "airflow" or module.startswith("airflow.")) and not _public(
                module, names
            ):
                found.append((node.lineno, module))
    return found


def _files() -> list[Path]:
    root = settings.root()
    return sorted(
        path.resolve()
        for folder in ROOTS
        for path in (root / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def test_the_check_finds_each_kind_of_reach_in_and_lets_public_imports_through():
    source = (
        "import airflow.models.dagrun\n"
        "from airflow import settings\n"
        "from airflow.models.dagrun import DagRun\n"
        "from airflow.sdk.definitions.dag import _run_task\n"
        "from airflow.sdk.api.datamodels._generated import DagRunState\n"
        "from airflow.sdk.execution_time.supervisor import in_process_api_server\n"
        "from airflow.api_fastapi.app import create_app\n"
        "from airflow.configuration import conf\n"
        "from airflow.sdk import DAG, conf\n"
        "from airflow.sdk.definitions.deadline import DeadlineAlert\n"
        "from airflow.providers.smtp.hooks.smtp import SmtpHook\n"
        "from airflow.plugins_manager import AirflowPlugin\n"
        "from airflow.api_fastapi.app import get_auth_manager\n"
        "from . import sibling\n"
    )
    assert reach_ins(source) == [
        (1, "airflow.models.dagrun"),
        (2, "airflow.settings"),
        (3, "airflow.models.dagrun"),
        (4, "airflow.sdk.definitions.dag"),
        (5, "airflow.sdk.api.datamodels._generated"),
        (6, "airflow.sdk.execution_time.supervisor"),
        (7, "airflow.api_fastapi.app"),
        (8, "airflow.configuration"),
    ]


def test_only_compat_imports_airflow_past_its_public_interfaces():
    found = [
        f"{path}:{line}: imports {module}: use a public interface or add it to "
        "stagebook.orchestration.compat with its reason"
        for path in _files()
        if path != COMPAT
        for line, module in reach_ins(path.read_text())
    ]
    assert not found, "\n".join(found)


def test_compat_declares_exactly_the_reach_ins_it_imports_each_with_a_reason():
    imported = {module for _, module in reach_ins(COMPAT.read_text())}
    undeclared = sorted(imported - set(compat.REACH_INS))
    unused = sorted(set(compat.REACH_INS) - imported)
    assert not undeclared, f"{COMPAT}: imports {undeclared}: declare each in REACH_INS with why"
    assert not unused, f"{COMPAT}: REACH_INS declares {unused}, which it no longer imports"
    unexplained = [module for module, why in compat.REACH_INS.items() if len(why.split()) < 4]
    assert not unexplained, f"{COMPAT}: REACH_INS of {unexplained} needs its reason"
