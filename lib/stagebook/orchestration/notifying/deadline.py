"""A pipeline's publish deadline: "publish by 11:00 Europe/Paris on the day after ds".

Built on Airflow's deadline alerts. A DAG declares
``deadline=publish_by("11:00", timezone="Europe/Paris")``; when the scheduler
creates a run, :class:`PublishBy` turns the run's business date (conf ``ds``,
else its data interval's start in ``timezone``) into that instant. The
scheduler marks a deadline missed once, if the run has not succeeded by then,
and the triggerer runs :func:`notify_missed`, which sends ONE message naming
the DAG, ``ds``, each phase whose ``<phase>.publish`` has not succeeded and its
pending tasks, through the ``notifications`` channels of ``common.yaml``.

:class:`PublishBy` is a custom deadline reference: Airflow evaluates it only
if a plugin lists it in ``deadline_references`` (the Stagebook plugin does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

from airflow.sdk import AsyncCallback, BaseDeadlineReference, DeadlineAlert

from stagebook import dates, pipelines, settings
from stagebook.declaration import PUBLISH

log = logging.getLogger("stagebook.notify")

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def _clock(value: str) -> tuple[int, int, int]:
    """Return hour, minute and second of ``HH:MM[:SS]``, or raise a one-line ValueError."""
    found = _TIME.match(str(value))
    if not found:
        raise ValueError(
            f"publish_by: {value!r} is not a time of day; write it as HH:MM, e.g. '11:00'"
        )
    return int(found[1]), int(found[2]), int(found[3] or 0)


@dataclasses.dataclass(frozen=True, eq=False)  # eq and hash: the base's, on the serialized form
class PublishBy(BaseDeadlineReference):
    """The instant ``time`` in ``timezone`` on ``days_after_ds`` days after the run's ``ds``.

    A manual run created after its own deadline gets none: it re-runs a date
    whose deadline has already passed (and was reported by the run that missed
    it). A scheduled run created late (the scheduler was down) alerts at once.
    """

    time: str = "11:00"
    timezone: str = "UTC"
    days_after_ds: int = 1

    required_kwargs: ClassVar[set[str]] = {"dag_id", "run_id"}

    def serialize_reference(self) -> dict[str, Any]:
        """Return the reference as stored with the serialized DAG."""
        return {
            **super().serialize_reference(),  # Airflow's own key: the reference's type
            "time": self.time,
            "timezone": self.timezone,
            "days_after_ds": self.days_after_ds,
        }

    @classmethod
    def deserialize_reference(cls, reference_data: dict[str, Any]) -> PublishBy:
        """Return the reference from its stored form."""
        return cls(
            time=reference_data["time"],
            timezone=reference_data["timezone"],
            days_after_ds=int(reference_data["days_after_ds"]),
        )

    def due(self, ds: dt.date) -> dt.datetime:
        """Return the deadline of business date ``ds``, in UTC."""
        import pendulum

        day = ds + dt.timedelta(days=self.days_after_ds)
        hour, minute, second = _clock(self.time)
        local = pendulum.datetime(
            day.year, day.month, day.day, hour, minute, second, tz=self.timezone
        )
        return local.in_timezone("UTC")

    def describe(self) -> str:
        """Return the deadline in words, e.g. ``11:00 Europe/Paris on the day after ds``."""
        days = {0: "on ds", 1: "on the day after ds"}.get(self.days_after_ds)
        return f"{self.time} {self.timezone} {days or f'{self.days_after_ds} days after ds'}"

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> dt.datetime | None:
        """Return the deadline of the run ``kwargs['run_id']`` (in the scheduler), or None.

        Airflow gives a custom reference only its session and the run's ids: the
        run's record is read through :func:`stagebook.orchestration.compat.run_record`.
        """
        import pendulum

        from stagebook.orchestration import compat

        run = compat.run_record(session, kwargs["dag_id"], kwargs["run_id"])
        ds = dates.business_date_of(
            getattr(run, "conf", None), getattr(run, "data_interval_start", None), self.timezone
        )
        if run is None or ds is None:
            log.warning("%s: no business date, so no publish deadline", kwargs["run_id"])
            return None
        due = self.due(ds)
        if run.run_type == "manual" and due <= pendulum.now("UTC"):
            log.info("%s: re-runs ds %s after its deadline; no deadline alert", run.run_id, ds)
            return None
        return due


def publish_by(time: str, *, timezone: str, days_after_ds: int = 1) -> DeadlineAlert:
    """Return the deadline alert of a pipeline that must publish by ``time`` in ``timezone``.

    Args:
        time: The time of day, ``HH:MM`` or ``HH:MM:SS``.
        timezone: An IANA timezone name, e.g. ``Europe/Paris``.
        days_after_ds: How many days after the run's business date ``ds``.

    Raises:
        ValueError: One line naming the bad time, timezone or day count.
    """
    import pendulum

    _clock(time)
    try:
        pendulum.timezone(timezone)
    except Exception:
        raise ValueError(
            f"publish_by: unknown timezone {timezone!r}; use an IANA name, e.g. 'Europe/Paris'"
        ) from None
    if not isinstance(days_after_ds, int) or days_after_ds < 0:
        raise ValueError(
            f"publish_by: days_after_ds must be a whole number >= 0, got {days_after_ds!r}"
        )
    reference = PublishBy(time=time, timezone=timezone, days_after_ds=days_after_ds)
    kwargs = {
        "time": reference.time,
        "timezone": reference.timezone,
        "days_after_ds": reference.days_after_ds,
    }
    return DeadlineAlert(
        reference=reference,
        interval=dt.timedelta(0),
        callback=AsyncCallback(notify_missed, kwargs=kwargs),
        name=f"publish by {reference.describe()}",
    )


@contextlib.contextmanager
def untimed(dag: Any) -> Iterator[None]:
    """Take ``dag``'s deadline alerts off for the block: around ``dag.test()``.

    No scheduler loop evaluates deadlines under ``dag.test()``, and Airflow
    3.3.2's ``dag.test()`` fails when a run of a DAG with deadline alerts
    succeeds (``DagRun.update_state`` looks the in-memory alert definitions up
    as database ids). Without them, its runs create no deadline either, so a
    scheduler served later on the same metastore never alerts for them.
    """
    from unittest import mock

    with mock.patch.object(dag, "deadline", None):  # restored however the block ends
        yield


def _phase_of(task_id: str) -> str:
    """Return the phase of a task: its group, or ``common`` for a task outside the phases."""
    return task_id.split(".", 1)[0] if "." in task_id else "common"


def unpublished(
    states: Mapping[str, Any], phases: list[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Return each phase whose ``publish`` task has not succeeded, with its unfinished tasks.

    A phase is one with a ``<phase>.publish`` task (``publish`` alone: the phase
    ``common`` of a pipeline without phases), limited to the conf's ``phases`` when
    given; a phase whose every task was skipped was not chosen. Each pending task
    comes with its state (``not started`` when it has none).
    """
    shown = {
        task: str(state).removeprefix("TaskInstanceState.") if state else "not started"
        for task, state in states.items()
    }
    found = {_phase_of(task) for task in shown if task.rsplit(".", 1)[-1] == PUBLISH}
    wanted = found if phases is None else found & {*phases, "common"}
    out = {}
    for phase in sorted(wanted):
        tasks = {t: s for t, s in shown.items() if _phase_of(t) == phase}
        publish = PUBLISH if phase == "common" else f"{phase}.{PUBLISH}"
        if shown[publish] == "success" or all(s == "skipped" for s in tasks.values()):
            continue
        waiting = [(t, s) for t, s in tasks.items() if s != "success"]
        # what is under way or stuck first; the tasks still to start after it
        out[phase] = sorted(waiting, key=lambda row: (row[1] == "not started", row[0]))
    return out


def missed_message(
    context: Mapping[str, Any], states: Mapping[str, Any], reference: PublishBy
) -> Any:
    """Return the deadline's message, or None when every phase of the run has published."""
    from stagebook.orchestration.notifying.messages import Message, index_url

    dag_run = context.get("dag_run") or {}
    conf = dag_run.get("conf") or {}
    phases = conf.get("phases") if isinstance(conf.get("phases"), list) else None
    late = unpublished(states, phases)
    if not late:
        return None
    ds = dates.business_date_of(conf, dag_run.get("data_interval_start"), reference.timezone)
    due = (
        reference.due(ds).in_timezone(reference.timezone).format("YYYY-MM-DD HH:mm:ss zz")
        if ds
        else "?"
    )
    rows = [
        {
            "task_id": task,
            "phase": phase,
            "state": state,
            "tries": "-",
            "report_url": None,
            "note": None,
        }
        for phase, pending in late.items()
        for task, state in pending
    ]
    return Message(
        event="deadline",
        state="missed",
        dag_id=str(dag_run.get("dag_id")),
        ds=ds.isoformat() if ds else "unknown",
        phase=",".join(late),
        stages=rows,
        note=f"not published by {reference.describe()} ({due}); still pending below",
        report_url=index_url(),
    )


def _send(context: Mapping[str, Any], states: Mapping[str, Any], reference: PublishBy) -> str:
    from stagebook.orchestration.notifying import callbacks, channels

    message = missed_message(context, states, reference)
    if message is None:
        return "every phase published; nothing to say"
    dag_run = context.get("dag_run") or {}
    conf = dag_run.get("conf") or {}
    # A triggerer serves every pipeline: the run's own, or (a DAG file of its own that
    # declares publish_by) the current one's params.
    declared = pipelines.declaring(str(dag_run.get("dag_id")))
    with settings.using(declared.name) if declared else contextlib.nullcontext():
        config = callbacks.notification_params(
            "common", {"dag_run": SimpleNamespace(conf=dict(conf))}
        )
    return f"{message.subject}: {channels.send(message, config)}"


async def notify_missed(
    context: dict[str, Any], time: str, timezone: str, days_after_ds: int
) -> str:
    """The deadline alert's callback (in the triggerer): send one message if a phase has not published.

    Never raises: a failed callback is only logged, like every notification.
    """
    from asgiref.sync import sync_to_async

    from stagebook.orchestration import compat

    reference = PublishBy(time=time, timezone=timezone, days_after_ds=days_after_ds)
    dag_run = context.get("dag_run") or {}
    try:
        states = await sync_to_async(compat.task_states)(dag_run["dag_id"], dag_run["dag_run_id"])
        return await sync_to_async(_send)(context, states, reference)
    except Exception:  # a deadline alert must not take the triggerer down
        log.exception("the publish deadline of %s could not notify", dag_run.get("dag_run_id"))
        return "failed; see the triggerer's log"
