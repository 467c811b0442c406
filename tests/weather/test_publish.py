import datetime as dt
import json

import pytest

from stagebook import params
from weather import data, model, publish
from weather.errors import AlreadyPublished

DS = dt.date(2015, 11, 30)


@pytest.fixture
def forecast(home):
    merged = params.load()
    paths = merged.paths(DS, "common")
    frame = data.window(merged.data, DS)
    fitted, info = model.train(frame, merged.train.lags, merged.train.alpha)
    return paths, publish.records(paths, frame, fitted, info)


def test_the_forecast_is_of_the_next_day_beside_persistence(forecast):
    paths, found = forecast
    (row,) = found
    assert row["ds"] == "2015-11-30" and row["date"] == "2015-12-01"
    assert row["naive_temp_max"] == 5.6  # seattle-weather.csv: 2015/11/30, temp_max 5.6
    assert row["model_id"].startswith("ridge-") and isinstance(row["temp_max"], float)
    assert publish.digest(found) == publish.digest([dict(row)])


def test_a_date_is_published_once_and_the_same_forecast_again_does_nothing(forecast):
    paths, found = forecast
    done = publish.write(paths.outbox, found, {"run_id": "run-1"})
    assert done["action"] == "published" and done["records"] == 1
    assert done["digest"] == publish.digest(found)
    written = paths.outbox / "forecast.jsonl"
    assert [json.loads(line) for line in written.read_text().splitlines()] == found
    meta = json.loads((paths.outbox / "meta.json").read_text())
    assert meta == {"run_id": "run-1", "digest": done["digest"]}
    again = publish.write(paths.outbox, found, {"run_id": "run-2"})
    assert again["action"] == "unchanged"
    assert json.loads((paths.outbox / "meta.json").read_text())["run_id"] == "run-1"


def test_another_forecast_for_a_published_date_is_refused_in_one_line(forecast):
    paths, found = forecast
    publish.write(paths.outbox, found, {"run_id": "run-1"})
    other = [{**found[0], "temp_max": found[0]["temp_max"] + 1}]
    with pytest.raises(AlreadyPublished, match="already published with sha256") as refused:
        publish.write(paths.outbox, other, {"run_id": "run-2"})
    assert "\n" not in str(refused.value)
    kept = (paths.outbox / "forecast.jsonl").read_text()
    assert json.loads(kept)["temp_max"] == found[0]["temp_max"]


def test_a_publication_that_fails_midway_leaves_nothing(forecast):
    paths, found = forecast
    with pytest.raises(ValueError, match="Out of range float values"):
        # forecast.jsonl is written, then meta.json cannot be (nan is not JSON)
        publish.write(paths.outbox, found, {"run_id": float("nan")})
    assert not paths.outbox.exists()
    assert [p.name for p in paths.outbox.parent.iterdir() if not p.name.endswith(".lock")] == []
    assert publish.write(paths.outbox, found, {"run_id": "run-1"})["action"] == "published"
