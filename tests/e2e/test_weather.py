"""The weather pipeline end to end through Airflow: observe, train, backtest, validate, approve, publish.

A second pipeline in another domain, on the same framework: one phase (no
branch), the Seattle weather replayed onto calendar dates, a gate against the
persistence forecast. One run publishes; one whose soft limit is breached and
that nobody approves within 1 s skips its publish. Its lineage, replay, run
summary and notifications work as the recommendation pipeline's do.
"""

import datetime as dt
import json

import pytest
import yaml

from stagebook import settings, storage
from stagebook.orchestration.commands import cli
from tests.support.runs import run_dag

DS = dt.date(2015, 11, 30)
SKIPPED_DS = dt.date(2015, 11, 29)
CONF: dict = {}  # the params as committed: a 90-day backtest


@pytest.fixture(scope="module")
def weather_params(module_env, tmp_path_factory):
    """The weather pipeline current, with a params copy a test may change."""
    patch, _ = module_env
    patch.setenv("STAGEBOOK_PIPELINE", "weather")
    folder = tmp_path_factory.mktemp("weather-params")
    common = yaml.safe_load((settings.params_dir("weather") / "common.yaml").read_text())
    patch.setenv("STAGEBOOK_PARAMS_WEATHER", str(folder))

    def write(**validation):
        common["validation"].update(validation)
        (folder / "common.yaml").write_text(yaml.safe_dump(common))

    write()
    return write


@pytest.fixture(scope="module")
def published(airflow_db, weather_params):
    return run_dag(DS, CONF)


@pytest.fixture(scope="module")
def unapproved(published, weather_params, module_env):
    weather_params(soft={"min_skill": 0.99}, approval_timeout_s=1)
    module_env[0].setenv("AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL", "1")
    try:
        return run_dag(SKIPPED_DS, CONF)
    finally:
        weather_params(soft={}, approval_timeout_s=86400)


def test_a_weather_run_forecasts_tomorrow_and_publishes_once(published, home):
    run = published
    assert run.dag_run.dag_id == "weather"
    assert set(run.states.values()) == {"success"}, run.out[-3000:]
    assert "select_phase" not in run.states  # one phase: no branch
    outbox = storage.data_area("weather", home) / "outbox" / f"ds={DS}"
    (line,) = (outbox / "forecast.jsonl").read_text().splitlines()
    forecast = json.loads(line)
    assert forecast["date"] == str(DS + dt.timedelta(days=1))
    assert -10 < forecast["temp_max"] < 40
    assert "summary: run of weather" in run.out  # the run summary, sent to the log channel


def test_each_stage_is_archived_with_its_card_and_declared_figures(published, home):
    folder = storage.report_day("weather", DS, home) / "common"
    (run,) = folder.iterdir()
    stages = ["00-observe", "10-train", "20-backtest", "30-validate", "40-publish"]
    for stage in stages:
        sidecar = json.loads((run / f"{stage}.try1.json").read_text())
        assert sidecar["state"] == "success" and sidecar["summary"], stage
    backtest = json.loads((run / "20-backtest.try1.json").read_text())
    assert backtest["figure"]["label"] == "MAE"
    assert backtest["records"]["backtest"]["skill"] > 0  # it beats persistence
    assert "weather" in storage.index_page(home).read_text()


def test_a_soft_breach_nobody_approves_skips_the_publish(unapproved, home):
    assert unapproved.states["validate"] == "success", unapproved.out[-3000:]
    assert unapproved.states["approve"] == "success"
    assert unapproved.states["publish"] == "skipped"
    outbox = storage.data_area("weather", home) / "outbox" / f"ds={SKIPPED_DS}"
    assert not outbox.exists()


def test_lineage_and_replay_name_the_weather_pipeline(published, capsys, tmp_path):
    assert cli.main(["lineage", "--pipeline", "weather", "--ds", str(DS), "--phase", "common"]) == 0
    assert "model_id" in capsys.readouterr().out
    code = cli.main(
        ["replay", "--pipeline", "weather", "--ds", str(DS), "--phase", "common"]
        + ["--stage", "20-backtest"]
    )
    assert code == 0
    assert "replays/weather/" in capsys.readouterr().out
