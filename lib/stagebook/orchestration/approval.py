"""The approval gate: a reviewer decides about a day whose validation breached soft limits only.

:class:`ApprovalGate` is Airflow 3's ``ApprovalOperator`` (human in the loop,
standard provider) placed before a publishing stage. When the checking stage
recorded no soft breach it succeeds at once; otherwise the task waits in
``awaiting_input`` until someone answers in the Airflow UI (Required actions),
through the HITL API, or with ``stagebook approve``. Approve lets the next task
run; Reject skips it. Unanswered within its timeout, the scheduler answers with
the default, Reject.

Under ``dag.test()`` no scheduler runs: :func:`timeouts` runs the scheduler's own
sweep for unanswered requests beside the run, so ``stagebook run`` rejects an
unanswered approval as a served Airflow does.

Either way the gate pushes one XCom, ``approval`` (see :func:`decision`), that
the publishing stage pulls, the run summary and the notifications describe
(:func:`describe`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param

from stagebook import dates
from stagebook.orchestration import links, stopping

log = logging.getLogger(__name__)

KEY = "approval"  # the XCom the gate pushes
COMMENT = "comment"  # the one form field a reviewer may fill


def describe(approval: Mapping[str, Any] | None) -> str | None:
    """Return one line on a gate's outcome for messages and the run summary (None if it did not run)."""
    if not approval:
        return None
    if not approval.get("required"):
        return "no soft limit breached: nothing to approve"
    comment = f': "{approval["comment"]}"' if approval.get("comment") else ""
    if approval.get("decision") == "approved":
        return f"approved by {approval.get('by')} at {approval.get('at')}{comment}"
    if approval.get("timed_out"):
        return (
            f"rejected: nobody answered within {approval.get('timeout_s')} s "
            "(validation.approval_timeout_s); publish skipped"
        )
    return f"rejected by {approval.get('by')} at {approval.get('at')}{comment}; publish skipped"


def decision(
    event: Mapping[str, Any],
    breaches: Sequence[Mapping[str, Any]],
    digest: str | None,
    timeout_s: float | None,
) -> dict[str, Any]:
    """Return the ``approval`` record of a reviewer's answer (or of the timeout's default)."""
    user = event.get("responded_by_user") or {}
    at = event.get("responded_at")
    return {
        "required": True,
        "decision": "approved" if event["chosen_options"] == [ApprovalGate.APPROVE] else "rejected",
        "by": user.get("name") if isinstance(user, Mapping) else str(user) or None,
        "at": at.isoformat() if isinstance(at, dt.datetime) else at,
        "comment": str((event.get("params_input") or {}).get(COMMENT) or ""),
        "timed_out": bool(event.get("timedout")),
        "timeout_s": timeout_s,
        "digest": digest,
        "breaches": list(breaches),
    }


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def body(
    *,
    phase: str,
    ds: str,
    breaches: Sequence[Mapping[str, Any]],
    report: str | None,
    earlier: tuple[str, Mapping[str, Any]] | None,
    timeout_s: float | None,
) -> str:
    """Return the Markdown a reviewer reads: each breached check, the report, the last published date."""
    last = f"last published ({earlier[0]})" if earlier else "last published"
    lines = [
        f"**{phase}, ds {ds}**: validation breached soft limits only. **Approve** publishes "
        "these recommendations; **Reject** skips publishing."
        + (f" Unanswered within {int(timeout_s)} s, it is rejected." if timeout_s else ""),
        "",
        f"| check | value | soft limit | {last} |",
        "|---|---|---|---|",
    ]
    before = earlier[1] if earlier else {}
    for b in breaches:
        was = before.get(b["check"])
        lines.append(
            f"| {b['check']} | {_shown(b['value'])} | {b['threshold']} | "
            f"{_shown(was) if was is not None else 'none published'} |"
        )
    if report:
        lines += ["", f"[The validate report]({report})"]
    return "\n".join(lines)


def last_published(
    dag_id: str, phase: str, before: str, checks_stage: str, publish_stages: Sequence[str]
) -> tuple[str, dict[str, Any]] | None:
    """Return the latest date before ``before`` whose run published, with its checks' values.

    Read from the archive's sidecars: the checking stage's ``checks`` record of
    the run whose publishing stage succeeded.
    """
    from stagebook.orchestration import review

    found = [t for t in review.tries([dag_id]) if t.phase == phase and t.ds < before]
    published = {(t.ds, t.run) for t in found if t.stage in publish_stages and t.state == "success"}
    checked = [
        t
        for t in found
        if t.stage == checks_stage and t.state == "success" and (t.ds, t.run) in published
    ]
    if not checked:
        return None
    latest = max(checked, key=lambda t: (t.ds, t.started))
    values = {
        c.get("check"): c.get("value")
        for c in (latest.info.get("records") or {}).get("checks") or []
        if isinstance(c, Mapping)
    }
    return latest.ds, values


class ApprovalGate(stopping.Stoppable, ApprovalOperator):
    """Wait for a reviewer when task ``checks_task`` recorded soft breaches; else pass at once.

    Args:
        phase: the phase whose publication the gate guards.
        checks_task: the task (same phase) that records ``soft_breaches`` (a list of
            ``{check, value, threshold}``), ``approved_digest`` and ``checks``.
        checks_stage: that task's notebook, e.g. ``40-validate`` (for the last published date).
        timeout_s: unanswered this long, the answer is Reject (None: wait forever).
    """

    template_fields: Sequence[str] = ()  # the subject and body are built when the task runs
    ui_color = "#fde2c8"

    def __init__(
        self,
        *,
        phase: str,
        checks_task: str,
        checks_stage: str,
        timeout_s: float | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            subject=f"Publish the {phase} recommendations?",
            defaults=self.REJECT,  # what an unanswered request becomes
            params={
                # Optional: a field that may not be null is required in the UI's form,
                # whose Approve and Reject stay disabled until it is filled.
                COMMENT: Param(
                    None,
                    type=["null", "string"],
                    title="Comment",
                    description="why (kept with the run; optional)",
                )
            },
            response_timeout=dt.timedelta(seconds=timeout_s) if timeout_s else None,
            **kwargs,
        )
        self.phase = phase
        self.checks_task = checks_task
        self.checks_stage = checks_stage
        self.timeout_s = timeout_s

    def _checked(self, context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        ti = context["ti"]
        breaches = ti.xcom_pull(task_ids=self.checks_task, key="soft_breaches") or []
        return list(breaches), ti.xcom_pull(task_ids=self.checks_task, key="approved_digest")

    def execute(self, context: Any) -> Any:
        """Pass at once without soft breaches; otherwise ask, and wait in ``awaiting_input``."""
        breaches, digest = self._checked(context)
        ti = context["ti"]
        if not breaches:
            self.log.info("No soft limit breached: nothing to approve")
            ti.xcom_push(key=KEY, value={"required": False, "digest": digest})
            return None
        ds = dates.run_business_date(context, context["dag"].timezone.name).isoformat()
        dag_id = context["dag"].dag_id
        route = links.task_route(dag_id, context["run_id"], self.checks_task)
        report = links.absolute(route) or route  # relative: the body is read inside the UI
        publishing = [getattr(t, "stage", "") for t in self.downstream_list]
        earlier = last_published(dag_id, self.phase, ds, self.checks_stage, publishing)
        self.subject = (
            f"Publish the {self.phase} recommendations of {ds}? "
            f"{len(breaches)} soft limit(s) breached"
        )
        self.body = body(
            phase=self.phase,
            ds=ds,
            breaches=breaches,
            report=report,
            earlier=earlier,
            timeout_s=self.timeout_s,
        )
        self.log.info("Waiting for a reviewer:\n%s", self.body)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Record the answer as the ``approval`` XCom; a rejection skips the next task.

        Recorded first: on a rejection, the operator's skip ends the task by raising.
        """
        if "error" not in event:
            breaches, digest = self._checked(context)
            approval = decision(event, breaches, digest, self.timeout_s)
            context["ti"].xcom_push(key=KEY, value=approval)
            self.log.info("Approval: %s", describe(approval))
        return super().execute_complete(context=context, event=event)

    def outcome(self, ti: Any) -> str | None:
        """Return one line on this gate's outcome in the run of ``ti`` (for messages)."""
        return describe(ti.xcom_pull(task_ids=self.task_id, key=KEY))


AWAITING = "awaiting_input"


@contextlib.contextmanager
def timeouts(dag: Any) -> Iterator[None]:
    """Answer, while the block runs, every approval left unanswered past its timeout, as the scheduler does.

    In a served Airflow the scheduler's loop resolves a task that waits in
    ``awaiting_input`` past its ``response_timeout``: it records the request's
    default (the gate's Reject) as the answer, by nobody, and resumes the task.
    ``dag.test()`` runs no scheduler, so this runs that same sweep,
    ``SchedulerJobRunner.check_awaiting_input_timeouts`` (never the rest of the
    scheduler), in a thread every ``[scheduler] trigger_timeout_check_interval``
    seconds, the scheduler's own interval. Nothing runs for a DAG without a
    human-in-the-loop task.
    """
    from airflow.providers.standard.operators.hitl import HITLOperator

    if not any(isinstance(task, HITLOperator) for task in dag.tasks):
        yield
        return
    # Everything the sweep imports is imported here, in the calling thread: two threads
    # importing Airflow's modules at once can deadlock on the import lock.
    import airflow.sdk.serde  # noqa: F401  (imported by the sweep when it resumes a task)
    from airflow.configuration import conf
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    every = conf.getfloat("scheduler", "trigger_timeout_check_interval", fallback=15.0)
    runner = SchedulerJobRunner(Job())  # never started, never stored: only its sweep runs
    runner.check_awaiting_input_timeouts()
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(every):
            try:
                runner.check_awaiting_input_timeouts()
            except Exception:  # the next sweep tries again, as the scheduler's does
                log.exception("approval timeouts: the sweep failed; again in %s s", every)

    thread = threading.Thread(target=sweep, name="approval-timeouts", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
            "named <phase>.approve)"
        )
    if str(state) != AWAITING:
        raise ApprovalError(
            f"{task_id} in run {run_id!r} is not waiting for an approval (its state is "
            f"{state}): it was answered, timed out, or never asked; nothing was changed"
        )
    client = _api_client(user)
    path = (
        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        f"/taskInstances/{quote(task_id, safe='')}/-1/hitlDetails"
    )
    chosen = ApprovalGate.APPROVE if approve else ApprovalGate.REJECT
    reply = client.patch(
        path, json={"chosen_options": [chosen], "params_input": {COMMENT: comment}}
    )
    if reply.status_code != 200:
        raise ApprovalError(
            f"Airflow refused the answer to {task_id} in run {run_id!r}: "
            f"{reply.status_code} {reply.json().get('detail', reply.text)}"
        )
    return reply.json()


@functools.cache
def _core_api() -> Any:
    """Return Airflow's core API app (created once per process: it imports much of Airflow)."""
    from airflow.api_fastapi.app import create_app

    return create_app(apps="core")


def _api_client(user: str) -> Any:
    """Return a client of Airflow's core API in this process, authenticated as ``user``."""
    from airflow.api_fastapi.app import get_auth_manager
    from fastapi.testclient import TestClient

    app = _core_api()
    manager = get_auth_manager()
    token = manager.generate_jwt(manager.deserialize_user({"sub": user, "role": "admin"}))
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})
