"""The Airflow callbacks that notify: one per task event, and one per run.

Task callbacks are :class:`StagebookNotifier` objects (an ``airflow.sdk.BaseNotifier``);
DAG callbacks are the plain functions :func:`on_dag_success` and
:func:`on_dag_failure` (notifier objects fail as DAG callbacks inside
``dag.test()``). ``notifications.events`` in params switches each event on or off.
The run summary is a task of its own
(:class:`~stagebook.orchestration.execution.operators.RunSummaryOperator`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseNotifier

from stagebook import params, pipelines
from stagebook.errors import ParamsError
from stagebook.schema import NotificationParams

log = logging.getLogger("stagebook.notify")


def notification_params(phase: str, context: Mapping[str, Any]) -> NotificationParams:
    """Return the ``notifications`` params of ``phase``, with the run conf's overrides.

    A run whose overrides are invalid still notifies, with the params files alone,
    and a phase whose params file is invalid with ``common.yaml``'s: a failure
    must not silence its own messages.
    """
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    phase_or_common = None if phase == "common" else phase
    if context.get("dag") is not None:  # a DAG callback runs where no task made it current
        pipelines.enter(context["dag"].dag_id)
    try:
        merged = params.load(phase_or_common, dict(conf.get("overrides") or {}))
    except ParamsError as exc:
        log.warning("Notifying with the params files alone: the run conf is invalid: %s", exc)
        merged = params.load_or_common(phase_or_common)
    return merged.notifications


class StagebookNotifier(BaseNotifier):
    """Task callback: sends the task's ``event`` message if the phase's params enable it."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event = event

    def notify(self, context: Mapping[str, Any]) -> None:
        """Format and send the message; a failing channel is only logged."""
        from stagebook.orchestration.notifying import channels, messages

        config = notification_params(messages.phase_of(context.get("task")), context)
        if self.event in config.events:
            channels.send(messages.task_message(context, self.event), config)


def task_callbacks() -> dict[str, StagebookNotifier]:
    """Return the success, failure and retry callbacks of a stage task."""
    return {
        "on_success_callback": StagebookNotifier("success"),
        "on_failure_callback": StagebookNotifier("failure"),
        "on_retry_callback": StagebookNotifier("retry"),
    }


def _dag_event(context: Mapping[str, Any], event: str) -> None:
    try:
        from stagebook.orchestration.notifying import channels, messages

        config = notification_params("common", context)
        if event in config.events:
            channels.send(messages.run_message(context, event), config)
    except Exception:  # best effort, like every DAG-level callback
        log.exception("DAG %s callback could not notify", event)


def on_dag_success(context: Mapping[str, Any]) -> None:
    """DAG callback (a plain function: notifier objects fail here inside ``dag.test()``)."""
    _dag_event(context, "success")


def on_dag_failure(context: Mapping[str, Any]) -> None:
    """DAG callback for a failed run."""
    _dag_event(context, "failure")
