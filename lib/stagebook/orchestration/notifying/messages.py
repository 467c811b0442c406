"""One notification: what happened, where, and the links that explain it.

A :class:`Message` is built from a task's or a run's Airflow context
(:func:`task_message`, :func:`run_message`, :func:`summary_message`) and sent by
:mod:`stagebook.orchestration.notifying.channels`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stagebook import dates, params, storage
from stagebook.errors import DateError, ParamsError
from stagebook.orchestration.reviewing import links

ICONS = {"success": "✅", "failure": "❌", "retry": "🔁", "summary": "📋", "deadline": "⏰"}
STATES = {"success": "success", "failure": "failed", "retry": "up_for_retry"}


@dataclasses.dataclass
class Message:
    """One notification: what happened, where, and the links that explain it."""

    event: str  # success, failure, retry (a task or the run) or summary
    state: str
    dag_id: str
    ds: str
    phase: str
    task_id: str | None = None  # None for the run as a whole
    try_number: int | None = None
    retries_left: int | None = None
    error: str | None = None
    log_url: str | None = None
    report_url: str | None = None
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the summary's rows
    note: str | None = None  # what a gate decided, e.g. "rejected by ...; publish skipped"
    replay: str | None = None  # the command that replays a failed try in Jupyter

    @property
    def subject(self) -> str:
        """One line: event, DAG or task, date and phase."""
        what = f"{self.dag_id}.{self.task_id}" if self.task_id else f"run of {self.dag_id}"
        tried = f" try {self.try_number}" if self.try_number else ""
        return f"[stagebook] {self.event}: {what} ds {self.ds} phase {self.phase}{tried}"

    @property
    def text(self) -> str:
        """The whole message as plain text (Slack renders it as mrkdwn)."""
        lines = [f"{ICONS.get(self.event, '')} {self.subject}", f"state: {self.state}"]
        if self.try_number:
            lines.append(f"try: {self.try_number}, retries left: {self.retries_left}")
        if self.error:
            lines.append(f"error: {self.error}")
        if self.note:
            lines.append(f"note: {self.note}")
        for row in self.stages:
            report = f", report {row['report_url']}" if row["report_url"] else ""
            note = f" ({row['note']})" if row.get("note") else ""
            lines.append(f"- {row['task_id']}: {row['state']}{note}, tries {row['tries']}{report}")
        if self.replay:
            lines.append(f"replay: {self.replay}")
        if self.report_url:
            lines.append(f"report: {self.report_url}")
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The message as JSON-ready data (the webhook's body)."""
        return {**dataclasses.asdict(self), "subject": self.subject, "text": self.text}


def first_lines(error: BaseException | str | None, lines: int = 5, chars: int = 600) -> str | None:
    """Return the first lines of an error, shortened."""
    if error is None:
        return None
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    short = "\n".join(text.strip().splitlines()[:lines])
    return short if len(short) <= chars else short[: chars - 1] + "…"


def index_url() -> str | None:
    """Return the link to the index of every report (the app's, or the static page)."""
    return links.absolute(links.index_route(), storage.index_page())


def report_url(ti: Any, task_id: str, try_number: int, report: Path | None) -> str | None:
    """Return the link to one try's report: the app's page when Airflow's base URL is known."""
    archived = report if report and report.exists() else None
    return links.absolute(links.task_route(ti.dag_id, ti.run_id, task_id, try_number), archived)


def outcome(task: Any, ti: Any) -> str | None:
    """Return what a task decided in the run of ``ti`` (an approval gate's answer), or None."""
    describe = getattr(task, "outcome", None)
    try:
        return describe(ti) if callable(describe) else None
    except Exception:  # a message must go out even when the decision cannot be read
        return None


def replay_command(run_id: str, task_id: str, try_number: int, dag_id: str) -> str:
    """Return the command that writes a failed try's notebook, run up to its failing cell."""
    import shlex

    return (
        f"stagebook replay {shlex.quote(run_id)} {shlex.quote(task_id)} "
        f"--pipeline {shlex.quote(dag_id)} --try {try_number} --until-failure"
    )


def phase_of(task: Any) -> str:
    """Return the phase of a task (``common`` for tasks before the phase split)."""
    return getattr(task, "phase", None) or "common"


def run_date(context: Mapping[str, Any]) -> dt.date | None:
    """Return the run's business date, in its DAG's timezone, or None when its conf or interval gives none."""
    dag = context.get("dag")
    # A context without a DAG reads dates as Airflow does: in UTC, the framework's default.
    timezone = getattr(getattr(dag, "timezone", None), "name", dates.TIMEZONE)
    try:
        return dates.run_business_date(context, timezone)
    except DateError:
        return None


def _shown(day: dt.date | None) -> str:
    return day.isoformat() if day else "unknown"


def run_phases(context: Mapping[str, Any]) -> str:
    """Return the run's phases, comma-separated (``unknown`` when its conf names a bad one)."""
    try:
        return ",".join(params.resolve_run_conf(getattr(context.get("dag_run"), "conf", None)))
    except ParamsError:
        return "unknown"


def task_message(context: Mapping[str, Any], event: str) -> Message:
    """Return the message of a task event (``success``, ``failure`` or ``retry``)."""
    ti, task = context["ti"], context.get("task")
    phase, day = phase_of(task), run_date(context)
    try_number = int(ti.try_number)
    stage = getattr(task, "stage", None)
    report = None
    if stage and day:
        notebook = storage.report_path(ti.dag_id, day, phase, ti.run_id, stage, try_number)
        report = storage.rendering(notebook)
    max_tries = int(getattr(ti, "max_tries", 0) or 0)
    return Message(
        event=event,
        state=STATES[event],
        dag_id=ti.dag_id,
        ds=_shown(day),
        phase=phase,
        task_id=ti.task_id,
        try_number=try_number,
        # tries still to come: after a retry, up to max_tries + 1 in all; none after a failure
        retries_left=max(max_tries + 1 - try_number, 0) if event == "retry" else 0,
        error=first_lines(context.get("exception")),
        log_url=getattr(ti, "log_url", None),
        report_url=(report_url(ti, ti.task_id, try_number, report) if stage else None)
        or index_url(),
        note=outcome(task, ti),
        replay=replay_command(ti.run_id, ti.task_id, try_number, ti.dag_id)
        if stage and event in ("failure", "retry")
        else None,
    )


def run_message(context: Mapping[str, Any], event: str) -> Message:
    """Return the message of a whole run's ``success`` or ``failure``."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    return Message(
        event=event,
        state=STATES[event],
        dag_id=getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", "unknown"),
        ds=_shown(run_date(context)),
        phase=run_phases(context),
        error=first_lines(context.get("reason")) if event == "failure" else None,
        report_url=index_url(),
    )


def summary_message(
    context: Mapping[str, Any], tasks: Sequence[Any], states: Mapping[str, Any]
) -> Message:
    """Return the run summary: each task's state, tries and newest report."""
    ti = context["ti"]
    day = run_date(context)
    phases = run_phases(context)
    if phases != "unknown":  # a run of some phases reports on those phases' tasks only
        tasks = [t for t in tasks if phase_of(t) in ("common", *phases.split(","))]
    rows = []
    for task in tasks:
        phase, stage = phase_of(task), getattr(task, "stage", None)
        report, tries = None, "-"
        if stage and day:
            found = storage.tries(storage.report_folder(ti.dag_id, day, phase, ti.run_id), stage)
            report, tries = (found[-1][1], found[-1][0]) if found else (None, 0)
        state = str(states.get(task.task_id) or "none")
        rows.append(
            {
                "task_id": task.task_id,
                "phase": phase,
                "state": state.removeprefix("TaskInstanceState."),
                "tries": tries,
                "report_url": report_url(ti, task.task_id, tries, report) if report else None,
                "note": outcome(task, ti),
            }
        )
    bad = [r["task_id"] for r in rows if r["state"] in ("failed", "upstream_failed")]
    return Message(
        event="summary",
        state="failed" if bad else "success",
        dag_id=ti.dag_id,
        ds=_shown(day),
        phase=phases,
        stages=rows,
        error=f"not successful: {', '.join(bad)}" if bad else None,
        report_url=index_url(),
    )
