from stagebook import notebook, params, pipelines, settings


def test_each_notebook_declares_what_its_stage_injects_and_records_what_it_declares():
    weather = pipelines.get("weather")
    assert weather.phase_stages == () and params.known_phases(settings.params_dir("weather")) == []
    assert [s.notebook for s in weather.every_stage] == [
        "00-observe",
        "10-train",
        "20-backtest",
        "30-validate",
        "40-publish",
    ]
    for stage in weather.every_stage:
        path = weather.notebook(stage.notebook)
        assert set(notebook.parameters(path)) == set(notebook.INJECTED) | set(stage.pulls)
        assert notebook.record_problems(path, stage.records) == []
        assert notebook.kernel_name(path) == "stagebook"


def test_the_params_name_the_weather_schema_and_no_phase():
    merged = params.load()
    assert type(merged).__name__ == "WeatherParams"
    assert merged.pipeline.phases == []
    assert set(merged.pipeline.overridable) <= {"data", "train", "backtest"}
