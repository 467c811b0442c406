import pytest

from stagebook import settings
from stagebook.errors import PipelineError
from tests.support.stages import stage_notebook


def test_the_project_root_can_be_configured_for_a_non_editable_install(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEBOOK_HOME", raising=False)
    monkeypatch.delenv("STAGEBOOK_PARAMS_RECOMMENDATIONS", raising=False)
    stage_notebook(tmp_path, "01-a", [])
    folder = tmp_path / "pipelines" / "recommendations"
    assert settings.notebooks_dir() == folder / "notebooks"
    assert settings.params_dir() == folder / "params"
    assert settings.dags_dir() == tmp_path / "dags"
    assert settings.home() == tmp_path / "var"


def test_the_current_pipeline_is_the_named_one_the_one_worked_in_or_the_only_one(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEBOOK_PIPELINE")
    with pytest.raises(PipelineError, match="no pipeline in .*pipelines: a pipeline is a folder"):
        settings.pipeline_name()
    stage_notebook(tmp_path, "01-a", [], pipeline="sales")
    assert settings.pipeline_name() == "sales"  # the only one
    stage_notebook(tmp_path, "01-a", [], pipeline="weather")
    with pytest.raises(PipelineError, match=r"several pipelines \(sales, weather\): name one"):
        settings.pipeline_name()
    monkeypatch.chdir(tmp_path / "pipelines" / "weather" / "notebooks")  # Jupyter's folder
    assert settings.pipeline_name() == "weather"
    monkeypatch.setenv("STAGEBOOK_PIPELINE", "sales")
    assert settings.pipeline_name() == "sales"
    monkeypatch.setenv("STAGEBOOK_PARAMS_WEATHER", str(tmp_path / "elsewhere"))
    assert settings.params_dir("weather") == tmp_path / "elsewhere"
    assert settings.params_dir() == tmp_path / "pipelines" / "sales" / "params"


def test_without_a_configured_root_a_checkout_finds_its_own_folders(monkeypatch):
    monkeypatch.delenv("STAGEBOOK_ROOT", raising=False)
    assert (settings.notebooks_dir("recommendations") / "20-train.py").exists()
    assert (settings.root() / "pyproject.toml").exists()


def test_the_project_the_current_folder_is_in_comes_before_the_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("STAGEBOOK_ROOT", raising=False)
    (tmp_path / "pipelines" / "hello" / "notebooks").mkdir(parents=True)
    (tmp_path / "pipelines" / "hello" / "pipeline.py").write_text("")
    monkeypatch.chdir(tmp_path / "pipelines" / "hello" / "notebooks")
    assert settings.root() == tmp_path


def test_an_installed_package_outside_a_checkout_uses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STAGEBOOK_ROOT", raising=False)
    monkeypatch.setattr(settings, "_CHECKOUT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert settings.root() == tmp_path
