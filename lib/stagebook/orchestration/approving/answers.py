"""Answering a waiting approval through Airflow's REST HITL endpoint, as the authenticated user.

``stagebook approve`` answers exactly as the UI's Required actions page does:
``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails``
on a served Airflow, with the token of the user who answers. Airflow checks that
user (edit rights on the DAG; one of the task's ``assigned_users`` when the
pipeline names its approvers) and records who answered and when.
"""

from __future__ import annotations

from typing import Any

from stagebook.errors import ApprovalError
from stagebook.orchestration.commands import rest

AWAITING = "awaiting_input"  # the state of a task that waits for an answer
COMMENT = "comment"  # the one form field a reviewer may fill
APPROVE, REJECT = "Approve", "Reject"  # ApprovalOperator's options


def answer(
    airflow: rest.Airflow,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    approve: bool,
    comment: str = "",
) -> dict[str, Any]:
    """Answer a waiting approval as ``airflow``'s user; return the API's reply.

    Raises:
        ApprovalError: in one line naming the run and task, when the task does not
            exist, is not waiting for an answer (answered, timed out, never asked),
            or Airflow refused the answer (e.g. the user is not an approver).
    """
    waiting(airflow, dag_id, run_id, task_id)
    body = {"chosen_options": [APPROVE if approve else REJECT], "params_input": {COMMENT: comment}}
    try:
        return airflow.call(
            "PATCH",
            rest.path(
                "dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "-1", "hitlDetails"
            ),
            body,
        )
    except rest.RestError as exc:
        who = f" to {airflow.user!r}" if airflow.user else ""
        raise ApprovalError(
            f"Airflow refused the answer{who} to {task_id} in run {run_id!r}: "
            f"{exc.status} {exc.detail}"
        ) from None


def waiting(airflow: rest.Airflow, dag_id: str, run_id: str, task_id: str) -> None:
    """Raise ApprovalError unless ``task_id`` of the run waits for an answer."""
    try:
        ti = airflow.get(rest.path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id))
    except rest.RestError as exc:
        if exc.status != 404:
            raise ApprovalError(f"{task_id} in run {run_id!r} of DAG {dag_id}: {exc}") from None
        try:
            airflow.get(rest.path("dags", dag_id, "dagRuns", run_id))
        except rest.RestError:
            raise ApprovalError(
                f"unknown run {run_id!r} of DAG {dag_id}: nothing to approve"
            ) from None
        raise ApprovalError(
            f"run {run_id!r} of DAG {dag_id} has no task {task_id!r} (an approval task is "
            "named <phase>.<gate>, e.g. prod.approve)"
        ) from None
    if ti.get("state") != AWAITING:
        raise ApprovalError(
            f"{task_id} in run {run_id!r} is not waiting for an approval (its state is "
            f"{ti.get('state')}): it was answered, timed out, or never asked; nothing was changed"
        )
