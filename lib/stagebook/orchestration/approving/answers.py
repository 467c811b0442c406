"""Answering a waiting approval through Airflow's HITL API, as a named user.

``stagebook approve`` (and the tests' reviewers) answer here exactly as the UI's
Required actions page does: through Airflow's own API, served in this process
over the shared metastore, so that Airflow records who answered and when.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

AWAITING = "awaiting_input"  # the state of a task that waits for an answer
COMMENT = "comment"  # the one form field a reviewer may fill


def answer(
    dag_id: str, run_id: str, task_id: str, *, approve: bool, comment: str = "", user: str
) -> dict[str, Any]:
    """Answer a waiting approval through Airflow's HITL API, as ``user``; return the API's reply.

    The API is Airflow's own (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/
    taskInstances/{task_id}/-1/hitlDetails``), served in this process over the
    shared metastore, with a token the auth manager issues to ``user``: it
    records who answered and when, exactly as the UI's Required actions page does.

    Raises:
        ApprovalError: naming the run and task, when the task does not exist, is
            not waiting for an answer (already answered, timed out, never asked),
            or the API refused the answer.
    """
    from urllib.parse import quote

    from stagebook.errors import ApprovalError

    _check_waiting(dag_id, run_id, task_id)
    path = (
        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        f"/taskInstances/{quote(task_id, safe='')}/-1/hitlDetails"
    )
    chosen = ApprovalOperator.APPROVE if approve else ApprovalOperator.REJECT
    reply = client(user).patch(
        path, json={"chosen_options": [chosen], "params_input": {COMMENT: comment}}
    )
    if reply.status_code != 200:
        raise ApprovalError(
            f"Airflow refused the answer to {task_id} in run {run_id!r}: "
            f"{reply.status_code} {reply.json().get('detail', reply.text)}"
        )
    return reply.json()


def _check_waiting(dag_id: str, run_id: str, task_id: str) -> None:
    """Raise ApprovalError unless ``task_id`` of the run waits for an answer."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from stagebook.errors import ApprovalError

    with create_session() as session:
        state = session.scalar(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
            )
        )
        known = session.scalar(
            select(TaskInstance.run_id).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        )
    if known is None:
        raise ApprovalError(f"unknown run {run_id!r} of DAG {dag_id}: nothing to approve")
    if state is None:
        raise ApprovalError(
            f"run {run_id!r} of DAG {dag_id} has no task {task_id!r} (an approval task is "
            "named <phase>.<gate>, e.g. prod.approve)"
        )
    if str(state) != AWAITING:
        raise ApprovalError(
            f"{task_id} in run {run_id!r} is not waiting for an approval (its state is "
            f"{state}): it was answered, timed out, or never asked; nothing was changed"
        )


@functools.cache
def _core_api() -> Any:
    """Return Airflow's core API app (created once per process: it imports much of Airflow)."""
    from airflow.api_fastapi.app import create_app

    return create_app(apps="core")


def client(user: str) -> Any:
    """Return a client of Airflow's core API in this process, authenticated as ``user``."""
    from airflow.api_fastapi.app import get_auth_manager
    from fastapi.testclient import TestClient

    app = _core_api()
    manager = get_auth_manager()
    token = manager.generate_jwt(manager.deserialize_user({"sub": user, "role": "admin"}))
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})
