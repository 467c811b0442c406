"""The approval gate: a reviewer decides about a day whose checks breached soft limits only.

:class:`ApprovalGate` is Airflow 3's ``ApprovalOperator`` (human in the loop,
standard provider) placed before a publishing stage. When the checking stage
recorded no soft breach it succeeds at once; otherwise the task waits in
``awaiting_input`` until someone answers in the Airflow UI (Required actions),
through the HITL API, or with ``stagebook approve`` (:mod:`answers`). Approve
lets the next task run; Reject skips it. Unanswered within its timeout, the
scheduler answers with the default, Reject (under ``dag.test()``, the same
sweep of the scheduler, :mod:`timeouts`). A pipeline may name its approvers in params (the
gate's ``approvers`` key): they become the task's ``assigned_users``, and
Airflow refuses an answer from anyone else.

What the gate asks is the pipeline's own words: the stage table's ``Gate``
declares its ``subject`` and ``what`` a publication holds.

Either way the gate pushes one XCom, ``approval`` (see :func:`decision`), that
the publishing stage pulls, the run summary and the notifications describe
(:func:`describe`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param

from stagebook import dates
from stagebook.orchestration.approving.answers import COMMENT, answer
from stagebook.orchestration.approving.timeouts import timeouts
from stagebook.orchestration.execution import stopping
from stagebook.orchestration.reviewing import links

__all__ = [
    "COMMENT",
    "KEY",
    "ApprovalGate",
    "answer",
    "body",
    "decision",
    "describe",
    "last_published",
    "timeouts",
]

KEY = "approval"  # the XCom the gate pushes
SUBJECT = "Publish {phase} of {ds}?"  # a gate's question unless its pipeline words it
WHAT = "the results"  # what Approve publishes, unless the pipeline names it


def describe(
    approval: Mapping[str, Any] | None, *, timeout_key: str | None = None, skips: str = ""
) -> str | None:
    """Return one line on a gate's outcome for messages and the run summary (None if it did not run).

    Args:
        approval: the gate's ``approval`` record.
        timeout_key: the params key of the timeout, named when nobody answered.
        skips: the task(s) a rejection skips, e.g. ``publish``.
    """
    if not approval:
        return None
    if not approval.get("required"):
        return "no soft limit breached: nothing to approve"
    comment = f': "{approval["comment"]}"' if approval.get("comment") else ""
    if approval.get("decision") == "approved":
        return f"approved by {approval.get('by')} at {approval.get('at')}{comment}"
    skipped = f"; {skips} skipped" if skips else ""
    if approval.get("timed_out"):
        key = f" ({timeout_key})" if timeout_key else ""
        return f"rejected: nobody answered within {approval.get('timeout_s')} s{key}{skipped}"
    return f"rejected by {approval.get('by')} at {approval.get('at')}{comment}{skipped}"


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
    checks: str = "the checks",
    what: str = WHAT,
) -> str:
    """Return the Markdown a reviewer reads: each breached check, the report, the last published date.

    ``checks`` names the checking task (e.g. ``validate``); ``what`` what Approve publishes.
    """
    last = f"last published ({earlier[0]})" if earlier else "last published"
    lines = [
        f"**{phase}, ds {ds}**: {checks} breached soft limits only. **Approve** publishes "
        f"{what}; **Reject** skips publishing."
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
        lines += ["", f"[The {checks} report]({report})"]
    return "\n".join(lines)


def last_published(
    dag_id: str, phase: str, before: str, checks_stage: str, publish_stages: Sequence[str]
) -> tuple[str, dict[str, Any]] | None:
    """Return the latest date before ``before`` whose run published, with its checks' values.

    Read from the archive's sidecars: the checking stage's ``checks`` record of
    the run whose publishing stage succeeded.
    """
    from stagebook.orchestration.reviewing import review

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
        checks_stage: that task's notebook, e.g. ``30-check`` (for the last published date).
        timeout_s: unanswered this long, the answer is Reject (None: wait forever).
        timeout_key: the params key ``timeout_s`` came from, named when nobody answered.
        subject: the question, with ``{phase}`` and ``{ds}``, e.g. ``Publish {phase} of {ds}?``.
        what: what Approve publishes, in the body, e.g. ``these scores``.
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
        timeout_key: str | None = None,
        subject: str = SUBJECT,
        what: str = WHAT,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            subject=subject.format(phase=phase, ds="ds"),  # the run's date is known when it runs
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
        self.timeout_key = timeout_key
        self.question = subject
        self.what = what

    def _checked(self, context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        ti = context["ti"]
        breaches = ti.xcom_pull(task_ids=self.checks_task, key="soft_breaches") or []
        return list(breaches), ti.xcom_pull(task_ids=self.checks_task, key="approved_digest")

    def asks(self, ds: str, breaches: int) -> str:
        """Return the subject a reviewer reads for ``ds``: the gate's question and the breach count."""
        return f"{self.question.format(phase=self.phase, ds=ds)} {breaches} soft limit(s) breached"

    def _skips(self) -> str:
        """Return the tasks a rejection skips, by their names inside the phase."""
        return ", ".join(t.task_id.rsplit(".", 1)[-1] for t in self.downstream_list)

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
        self.subject = self.asks(ds, len(breaches))
        self.body = body(
            phase=self.phase,
            ds=ds,
            breaches=breaches,
            report=report,
            earlier=earlier,
            timeout_s=self.timeout_s,
            checks=self.checks_task.rsplit(".", 1)[-1],
            what=self.what,
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
            self.log.info("Approval: %s", self.said(approval))
        return super().execute_complete(context=context, event=event)

    def said(self, approval: Mapping[str, Any] | None) -> str | None:
        """Return :func:`describe`'s line on ``approval``, with this gate's timeout key and skips."""
        return describe(approval, timeout_key=self.timeout_key, skips=self._skips())

    def outcome(self, ti: Any) -> str | None:
        """Return one line on this gate's outcome in the run of ``ti`` (for messages)."""
        return self.said(ti.xcom_pull(task_ids=self.task_id, key=KEY))
