"""An auth manager for the served tests: Airflow's SimpleAuthManager with per-DAG access.

SimpleAuthManager lets every viewer read every DAG. A team's real auth manager
(FAB, Keycloak) grants DAGs one by one; this one refuses every DAG to the user
``outsider``, and all but the weather pipeline's to ``forecaster``, so the tests
can show what a user without access to a DAG gets.
It is configured like any auth manager: ``AIRFLOW__CORE__AUTH_MANAGER``.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
GRANTED = {OUTSIDER: frozenset(), "forecaster": frozenset({"weather"})}  # else: every DAG


class PerDagAuthManager(SimpleAuthManager):
    """SimpleAuthManager, except that ``outsider`` may read no DAG and ``forecaster`` one."""

    def is_authorized_dag(self, *, method: Any, user: Any, **kwargs: Any) -> bool:
        granted = GRANTED.get(user.get_name())
        details = kwargs.get("details")
        if granted is not None and getattr(details, "id", None) not in granted:
            return False
        return super().is_authorized_dag(method=method, user=user, **kwargs)
