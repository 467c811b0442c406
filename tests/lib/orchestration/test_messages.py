import datetime as dt
from types import SimpleNamespace
from urllib.parse import quote

import pendulum

from stagebook import storage
from stagebook.orchestration.notifying import messages
from stagebook.orchestration.notifying.messages import first_lines
from tests.support.samples import MESSAGE


def test_a_message_holds_state_date_phase_try_error_and_links():
    assert MESSAGE.subject == (
        "[stagebook] retry: recommendation_pipeline.prod.train ds 2019-11-16 phase prod try 1"
    )
    for part in (
        "state: up_for_retry",
        "try: 1, retries left: 1",
        "error: StageFailed: stage 20-train raised InvalidLossError",
        "report: file:///archive/reports/recommendation_pipeline/2019-11-16/prod/20-train.try1.html",
        "log: http://localhost:8080/dags/recommendation_pipeline/runs/r/tasks/prod.train?try_number=1",
    ):
        assert part in MESSAGE.text
    assert MESSAGE.as_dict()["subject"] == MESSAGE.subject


def test_first_lines_of_an_error_are_short():
    error = ValueError("\n".join(f"line {n}" for n in range(20)))
    assert first_lines(error) == "ValueError: line 0\nline 1\nline 2\nline 3\nline 4"
    assert len(first_lines("x" * 5000)) == 600


def _context(run_id="scheduled__2019-11-21T01:00:00+00:00"):
    ti = SimpleNamespace(
        dag_id="recommendation_pipeline",
        run_id=run_id,
        task_id="prod.train",
        try_number=2,
        max_tries=2,
    )
    return {
        "ti": ti,
        "task": SimpleNamespace(phase="prod", stage="20-train"),
        "dag_run": SimpleNamespace(conf={"ds": "2019-11-20"}),
        "dag": SimpleNamespace(
            dag_id="recommendation_pipeline", timezone=pendulum.timezone("Asia/Tokyo")
        ),
    }


def test_a_message_links_the_report_in_the_airflow_ui_from_its_base_url(monkeypatch, home):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    message = messages.task_message(_context(), "retry")
    run = quote("scheduled__2019-11-21T01:00:00+00:00", safe="")
    assert message.report_url == (
        f"https://airflow.example.com/stagebook/tasks/recommendation_pipeline/{run}/prod.train?try=2"
    )
    assert messages.index_url() == "https://airflow.example.com/stagebook/"


def test_without_a_base_url_a_message_links_the_archived_file(monkeypatch, home):
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    context = _context()
    notebook = storage.report_path(
        "recommendation_pipeline",
        dt.date(2019, 11, 20),
        "prod",
        context["ti"].run_id,
        "20-train",
        2,
    )
    notebook.parent.mkdir(parents=True)
    storage.rendering(notebook).write_text("<html></html>")
    message = messages.task_message(context, "retry")
    assert message.report_url == storage.rendering(notebook).resolve().as_uri()


def test_a_messages_date_is_the_business_date_in_the_dags_timezone_else_utc():
    start = pendulum.datetime(2019, 11, 19, 23, 30, tz="UTC")  # 2019-11-20 00:30 in Paris
    run = SimpleNamespace(conf={})
    paris = SimpleNamespace(timezone=pendulum.timezone("Europe/Paris"))
    context = {"dag_run": run, "data_interval_start": start}
    assert messages.run_date({**context, "dag": paris}) == dt.date(2019, 11, 20)
    assert messages.run_date(context) == dt.date(2019, 11, 19)  # no DAG: UTC, Airflow's own
