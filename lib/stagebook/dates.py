"""Business dates: the data interval's start in the DAG's timezone, not Airflow's UTC ``ds``.

Every caller that means a DAG's dates passes that DAG's timezone (``dag.timezone.name``);
the default, UTC, is Airflow's own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import pendulum

from stagebook.errors import DateError

TIMEZONE = "UTC"  # the default: a DAG declares its own timezone, and callers pass it
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # not \d: it takes any script's digits


def business_date(data_interval_start: dt.datetime, timezone: str = TIMEZONE) -> dt.date:
    """Return the date a run processes: its data interval's start, in ``timezone``.

    For a daily run at 2019-11-21 10:00 in ``Europe/Paris`` (UTC+1) the interval
    starts 2019-11-20 09:00 UTC, so the business date is 2019-11-20; for a
    schedule at 00:30 Paris time the start is 2019-11-19 23:30 UTC, yet the
    business date is still the Paris date 2019-11-20.
    """
    return pendulum.instance(data_interval_start).in_timezone(timezone).date()


def parse_ds(value: str | dt.date, *, where: str = "ds") -> dt.date:
    """Parse a ``YYYY-MM-DD`` date, with a one-line error naming ``where`` it came from.

    Only that form: Python also reads ``20191120`` or ``2019-W47-3``, but the
    archive's folders, the run conf and the reports all write ``YYYY-MM-DD``.

    Raises:
        DateError: e.g. ``--ds: '2019-02-30' is not a date (day is out of range for month)``.
    """
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if not ISO_DATE.fullmatch(text):
        raise DateError(f"{where}: {text!r} is not a date in the form YYYY-MM-DD, e.g. 2019-11-20")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise DateError(
            f"{where}: {text!r} is not a date ({exc}); give YYYY-MM-DD, e.g. 2019-11-20"
        ) from None


def run_business_date(context: Mapping[str, Any], timezone: str = TIMEZONE) -> dt.date:
    """Return the business date of the running task: conf ``ds`` first, else its data interval.

    A run triggered without a logical date has no data interval; it must then
    carry ``{"ds": "YYYY-MM-DD"}`` in its conf.
    """
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    if conf.get("ds"):
        return parse_ds(conf["ds"], where="run conf key 'ds'")
    start = context.get("data_interval_start")
    if start is None:
        raise DateError(
            "this run has no logical date, so no data interval: trigger it with a logical "
            'date, or pass the business date in its conf: {"ds": "YYYY-MM-DD"}'
        )
    return business_date(start, timezone)


def business_date_of(
    conf: Mapping[str, Any] | None, start: Any, timezone: str = TIMEZONE
) -> dt.date | None:
    """Return a run's business date from its conf and data interval's start, or None.

    ``start`` is a datetime or ISO 8601 text (as a run serialized to JSON carries it).
    None when the run has neither, or a conf ``ds`` that is not a date.
    """
    try:
        if (conf or {}).get("ds"):
            return parse_ds(conf["ds"], where="run conf key 'ds'")
        if start is None:
            return None
        return business_date(pendulum.parse(start) if isinstance(start, str) else start, timezone)
    except (DateError, ValueError):
        return None


def logical_date_for(ds: dt.date, timezone: str = TIMEZONE, hour: int = 0) -> dt.datetime:
    """Return the logical date of a manual run whose inferred data interval starts on ``ds``.

    Airflow infers a manual run's interval as the last complete one before its
    logical date, so the run for ``ds`` is placed at the end of that interval:
    ``hour`` is the daily schedule's hour in ``timezone`` (0: ``@daily``).
    """
    end = pendulum.datetime(ds.year, ds.month, ds.day, hour, tz=timezone).add(days=1)
    return end.in_timezone("UTC")


def window(ds: dt.date, days: int) -> list[dt.date]:
    """Return the ``days`` dates ending with ``ds``, oldest first."""
    return [ds - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def now() -> dt.datetime:
    """Return the present moment, in UTC."""
    return dt.datetime.now(dt.UTC)
