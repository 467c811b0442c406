"""Notifications: a message per task event, per run, and a run summary, to the channels in params.

One message format (:class:`Message`) and four channels, chosen by
``notifications.channels`` (``params/common.yaml``, overridable per phase):

- ``log``: the task's log (logger ``stagebook.notify``);
- ``slack``: a Slack incoming webhook, through the Slack provider's hook;
- ``email``: SMTP, through the SMTP provider's hook;
- ``webhook``: a JSON ``POST`` of the message to any URL.

Credentials live in Airflow connections, never in params. Every send has a
bounded timeout (``notifications.timeout_s``, at most 10 s) and is not retried;
a channel that fails is logged with its name and never changes a task's state.

Task callbacks use :class:`StagebookNotifier` (an ``airflow.sdk.BaseNotifier``);
DAG callbacks are the plain functions :func:`on_dag_success` and
:func:`on_dag_failure` (notifier objects fail as DAG callbacks inside
``dag.test()``); :class:`RunSummaryOperator` sends one summary per run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier, BaseOperator

from stagebook import dates, params, reports, settings, storage
from stagebook.errors import ParamsError

log = logging.getLogger("stagebook.notify")

ICONS = {"success": "✅", "failure": "❌", "retry": "🔁", "summary": "📋"}
_TRY = re.compile(r"\.try(\d+)\.html$")


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
        for row in self.stages:
            report = f", report {row['report_url']}" if row["report_url"] else ""
            lines.append(f"- {row['task_id']}: {row['state']}, tries {row['tries']}{report}")
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


def latest_report(dag_id: str, ds: str, phase: str, stage: str) -> tuple[Path | None, int]:
    """Return the newest archived HTML report of a stage and its try number."""
    folder = storage.report_path(dag_id, dates.parse_ds(ds), phase, stage, 1).parent
    tries = [
        (int(m.group(1)), p)
        for p in folder.glob(f"{stage}.try*.html")
        if (m := _TRY.search(p.name))
    ]
    if not tries:
        return None, 0
    number, path = max(tries)
    return path, number


def index_url() -> str:
    """Return the link to the index of every report."""
    return reports.url(settings.home() / "reports" / "index.html")


def _phase_of(task: Any) -> str:
    return getattr(task, "phase", None) or "common"


def _load(phase: str, context: Mapping[str, Any]) -> params.NotificationParams:
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    merged = params.load(None if phase == "common" else phase, dict(conf.get("overrides") or {}))
    return merged.notifications


def _phases(context: Mapping[str, Any]) -> str:
    """Return the run's phases, comma-separated (``unknown`` when its conf names a bad one)."""
    try:
        return ",".join(params.resolve_run_conf(getattr(context.get("dag_run"), "conf", None)))
    except ParamsError:
        return "unknown"


def _ds(context: Mapping[str, Any]) -> str:
    dag = context.get("dag")
    timezone = getattr(getattr(dag, "timezone", None), "name", dates.TIMEZONE)
    try:
        return dates.run_business_date(context, timezone).isoformat()
    except ValueError:
        return "unknown"


def task_message(context: Mapping[str, Any], event: str) -> Message:
    """Return the message of a task event (``success``, ``failure`` or ``retry``)."""
    ti, task = context["ti"], context.get("task")
    phase, ds = _phase_of(task), _ds(context)
    try_number = int(ti.try_number)
    stage = getattr(task, "stage", None)
    report = None
    if stage:
        path = storage.report_path(ti.dag_id, dates.parse_ds(ds), phase, stage, try_number)
        report = path.with_suffix(".html")
    max_tries = int(getattr(ti, "max_tries", 0) or 0)
    return Message(
        event=event,
        state={"success": "success", "failure": "failed", "retry": "up_for_retry"}[event],
        dag_id=ti.dag_id,
        ds=ds,
        phase=phase,
        task_id=ti.task_id,
        try_number=try_number,
        # tries still to come: after a retry, up to max_tries + 1 in all; none after a failure
        retries_left={"retry": max(max_tries + 1 - try_number, 0), "failure": 0}.get(event),
        error=first_lines(context.get("exception")),
        log_url=getattr(ti, "log_url", None),
        report_url=reports.url(report) if report and report.exists() else index_url(),
    )


# --- channels -------------------------------------------------------------------------------


def _send_log(message: Message, config: params.NotificationParams) -> None:
    level = logging.INFO if message.event in ("success", "summary") else logging.WARNING
    log.log(level, "%s", message.text)


def _send_slack(message: Message, config: params.NotificationParams) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(
        slack_webhook_conn_id=config.slack_conn_id,
        timeout=max(1, int(config.timeout_s)),
        retry_handlers=[],
    )
    hook.send(text=message.text)


def _smtp_hook(config: params.NotificationParams):
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    class BoundedSmtpHook(SmtpHook):
        """The provider's hook with the notification's timeout and no retries."""

        @property
        def timeout(self) -> int:
            return min(int(super().timeout), max(1, int(config.timeout_s)))

        @property
        def smtp_retry_limit(self) -> int:
            return 0

    return BoundedSmtpHook(smtp_conn_id=config.email_conn_id)


def _send_email(message: Message, config: params.NotificationParams) -> None:
    if not config.email_to:
        raise ValueError("notifications.email_to is empty: list the recipients in params")
    from html import escape

    body = "<pre>\n" + escape(message.text) + "\n</pre>\n"  # mail clients link the URLs
    with _smtp_hook(config) as hook:
        hook.send_email_smtp(
            to=config.email_to,
            subject=message.subject,
            html_content=body,
            from_email=config.email_from,
        )


def _webhook_url(conn: Any) -> str:
    extra = conn.extra_dejson
    if extra.get("url"):
        return str(extra["url"])
    host = conn.host or ""
    if "://" in host:
        return host
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.schema or 'http'}://{host}{port}/{str(extra.get('endpoint', '')).lstrip('/')}"


def _send_webhook(message: Message, config: params.NotificationParams) -> None:
    import urllib.request

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(config.webhook_conn_id)
    headers = {"Content-Type": "application/json", **(conn.extra_dejson.get("headers") or {})}
    request = urllib.request.Request(
        _webhook_url(conn),
        data=json.dumps(message.as_dict()).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=config.timeout_s) as response:  # noqa: S310
        response.read()


CHANNELS = {"log": _send_log, "slack": _send_slack, "email": _send_email, "webhook": _send_webhook}


def send(message: Message, config: params.NotificationParams) -> dict[str, str]:
    """Send ``message`` to every configured channel; return ``ok`` or the error per channel.

    Never raises: a failing channel is logged with its name and the others still send.
    """
    results: dict[str, str] = {}
    for name in config.channels:
        try:
            CHANNELS[name](message, config)
            results[name] = "ok"
        except Exception as exc:  # a channel never changes the task's outcome
            results[name] = f"{type(exc).__name__}: {exc}"
            log.error(
                "notification channel %s failed for %r: %s", name, message.subject, results[name]
            )
    return results


# --- Airflow callbacks ----------------------------------------------------------------------


class StagebookNotifier(BaseNotifier):
    """Task callback: sends the task's ``event`` message if the phase's params enable it."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event = event

    def notify(self, context: Mapping[str, Any]) -> None:
        """Format and send the message; a failing channel is only logged."""
        config = _load(_phase_of(context.get("task")), context)
        if self.event in config.events:
            send(task_message(context, self.event), config)


def task_callbacks() -> dict[str, StagebookNotifier]:
    """Return the success, failure and retry callbacks of a stage task."""
    return {
        "on_success_callback": StagebookNotifier("success"),
        "on_failure_callback": StagebookNotifier("failure"),
        "on_retry_callback": StagebookNotifier("retry"),
    }


CONNECTIONS = {"slack": "slack_conn_id", "email": "email_conn_id", "webhook": "webhook_conn_id"}


def _stored_connections(config: params.NotificationParams) -> dict[str, str]:
    """Return ``AIRFLOW_CONN_<ID>`` -> JSON for channel connections only the metastore can give.

    A DAG callback runs where the task SDK may not reach connections (inside
    ``dag.test()``, the test process itself); there they are read from the
    metastore and handed to the hooks through the environment, for the call only.
    """
    from airflow.sdk import Connection

    found = {}
    for channel in config.channels:
        if channel not in CONNECTIONS:
            continue
        conn_id = getattr(config, CONNECTIONS[channel])
        try:
            Connection.get(conn_id)
        except Exception:
            try:
                from airflow.models.connection import Connection as Stored

                stored = Stored.get_connection_from_secrets(conn_id)
                found[settings.connection_variable(conn_id)] = stored.as_json()
            except Exception:  # the channel's own send will name what is missing
                continue
    return found


def _dag_event(context: Mapping[str, Any], event: str) -> None:
    try:
        config = _load("common", context)
        if event not in config.events:
            return
        dag_run = context.get("dag_run")
        message = Message(
            event=event,
            state="success" if event == "success" else "failed",
            dag_id=getattr(dag_run, "dag_id", settings.DAG_ID),
            ds=_ds(context),
            phase=_phases(context),
            error=first_lines(context.get("reason")),
            report_url=index_url(),
        )
        with settings.environ(_stored_connections(config)):
            send(message, config)
    except Exception:  # best effort, like every DAG-level callback
        log.exception("DAG %s callback could not notify", event)


def on_dag_success(context: Mapping[str, Any]) -> None:
    """DAG callback (a plain function: notifier objects fail here inside ``dag.test()``)."""
    _dag_event(context, "success")


def on_dag_failure(context: Mapping[str, Any]) -> None:
    """DAG callback for a failed run."""
    _dag_event(context, "failure")


class RunSummaryOperator(BaseOperator):
    """Send one summary per run: each stage's state, tries and report; fail if a stage failed.

    Runs with trigger rule ``all_done``, so it reports on failed runs too; DAG
    callbacks are best effort in Airflow, this task is not.
    """

    ui_color = "#e8e0f0"

    def __init__(self, *, stages: Sequence[tuple[str, str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.stages = list(stages)  # (task_id, phase, stage notebook)

    def execute(self, context: Mapping[str, Any]) -> None:
        """Collect the states, send the summary, fail if any stage failed."""
        from airflow.sdk.exceptions import AirflowFailException

        ti = context["ti"]
        states = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=[t for t, _, _ in self.stages], run_ids=[ti.run_id]
        ).get(ti.run_id, {})
        ds = _ds(context)
        rows = []
        for task_id, phase, stage in self.stages:
            report, tries = latest_report(ti.dag_id, ds, phase, stage) if stage else (None, "-")
            state = str(states.get(task_id) or "none")
            rows.append(
                {
                    "task_id": task_id,
                    "phase": phase,
                    "state": state.removeprefix("TaskInstanceState."),
                    "tries": tries,
                    "report_url": reports.url(report) if report else None,
                }
            )
        bad = [r["task_id"] for r in rows if r["state"] in ("failed", "upstream_failed")]
        message = Message(
            event="summary",
            state="failed" if bad else "success",
            dag_id=ti.dag_id,
            ds=ds,
            phase=_phases(context),
            stages=rows,
            error=f"not successful: {', '.join(bad)}" if bad else None,
            report_url=index_url(),
        )
        self.log.info("Run summary:\n%s", message.text)
        config = _load("common", context)
        send(message, config)
        if bad:
            raise AirflowFailException(f"stages not successful in this run: {', '.join(bad)}")
