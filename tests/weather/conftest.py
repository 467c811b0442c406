import pytest


@pytest.fixture(autouse=True)
def _weather_pipeline(monkeypatch):
    """Every test here works for the weather pipeline: its params, its data area."""
    monkeypatch.setenv("STAGEBOOK_PIPELINE", "weather")
