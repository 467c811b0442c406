import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

from stagebook import dates
from stagebook.errors import DateError
from tests.support import DAG_ID

TOKYO = "Asia/Tokyo"  # the recommendation DAG's timezone
JST = pendulum.timezone(TOKYO)


def first_run(cron: str):
    timetable = CronDataIntervalTimetable(cron, timezone=JST)
    restriction = TimeRestriction(
        earliest=pendulum.datetime(2019, 11, 20, tz=JST), latest=None, catchup=True
    )
    return timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)


def test_run_at_10_jst_processes_the_previous_jst_day():
    info = first_run("0 10 * * *")
    assert info.run_after == pendulum.datetime(2019, 11, 21, 10, tz=JST)
    assert info.logical_date == pendulum.datetime(2019, 11, 20, 1, tz="UTC")
    assert dates.business_date(info.data_interval.start, TOKYO) == dt.date(2019, 11, 20)


def test_schedule_before_9_jst_uses_the_jst_date_not_the_utc_one():
    info = first_run("0 8 * * *")
    assert info.logical_date == pendulum.datetime(2019, 11, 19, 23, tz="UTC")
    assert info.logical_date.date() == dt.date(2019, 11, 19)  # Airflow's UTC ds
    assert dates.business_date(info.data_interval.start, TOKYO) == dt.date(2019, 11, 20)
    assert dates.business_date(info.data_interval.start) == dt.date(2019, 11, 19)  # UTC


def test_manual_run_for_a_date_gets_that_date_as_its_interval():
    timetable = CronDataIntervalTimetable("0 10 * * *", timezone=JST)
    logical = dates.logical_date_for(dt.date(2019, 11, 20), TOKYO, hour=10)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.instance(logical))
    assert dates.business_date(interval.start, TOKYO) == dt.date(2019, 11, 20)


def test_without_a_timezone_dates_are_utc_as_airflows_own():
    daily = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
    logical = dates.logical_date_for(dt.date(2019, 11, 20))
    assert logical == pendulum.datetime(2019, 11, 21, tz="UTC")
    interval = daily.infer_manual_data_interval(run_after=pendulum.instance(logical))
    assert dates.business_date(interval.start) == dt.date(2019, 11, 20)
    start = pendulum.datetime(2019, 11, 19, 23, 30, tz="UTC")  # 2019-11-20 00:30 in Paris
    assert dates.run_business_date({"data_interval_start": start}) == dt.date(2019, 11, 19)
    assert dates.run_business_date({"data_interval_start": start}, "Europe/Paris") == dt.date(
        2019, 11, 20
    )


def test_conf_ds_wins_and_a_run_without_logical_date_needs_it():
    class Run:
        conf = {"ds": "2019-11-18"}

    assert dates.run_business_date({"dag_run": Run(), "data_interval_start": None}) == dt.date(
        2019, 11, 18
    )
    Run.conf = {}
    with pytest.raises(DateError, match='"ds": "YYYY-MM-DD"'):
        dates.run_business_date({"dag_run": Run(), "data_interval_start": None})


def test_dag_uses_data_interval_timetable_at_10_tokyo():
    from airflow.dag_processing.dagbag import DagBag

    from stagebook import settings

    dag = DagBag(dag_folder=str(settings.dags_dir())).dags[DAG_ID]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 10 * * *"
    assert str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)) == "Asia/Tokyo"


def test_a_day_that_does_not_exist_is_one_line_naming_the_value_and_where():
    with pytest.raises(DateError) as err:
        dates.parse_ds("2019-02-30", where="--ds")
    assert str(err.value) == (
        "--ds: '2019-02-30' is not a date (day is out of range for month); "
        "give YYYY-MM-DD, e.g. 2019-11-20"
    )


@pytest.mark.parametrize("value", ["20191120", "2019-W47-3", "2019-11-20T00:00", " 2019-11-20"])
def test_only_the_yyyy_mm_dd_form_is_a_date(value):
    with pytest.raises(DateError) as err:
        dates.parse_ds(value, where="run conf key 'ds'")
    assert str(err.value) == (
        f"run conf key 'ds': {value!r} is not a date in the form YYYY-MM-DD, e.g. 2019-11-20"
    )
    assert dates.parse_ds("2019-11-20") == dt.date(2019, 11, 20)


def test_a_runs_business_date_comes_from_its_conf_or_its_interval_even_as_text():
    start = "2019-11-20T01:00:00+00:00"  # a run serialized to JSON, as a deadline callback gets it
    assert dates.business_date_of({}, start, TOKYO) == dt.date(2019, 11, 20)
    assert dates.business_date_of(None, start, "America/Los_Angeles") == dt.date(2019, 11, 19)
    assert dates.business_date_of({"ds": "2019-11-18"}, start) == dt.date(2019, 11, 18)
    assert dates.business_date_of({"ds": "2019-02-30"}, start) is None
    assert dates.business_date_of({}, None) is None
