from stagebook import settings


def test_the_project_root_can_be_configured_for_a_non_editable_install(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGEBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEBOOK_HOME", raising=False)
    monkeypatch.delenv("STAGEBOOK_PARAMS", raising=False)
    assert settings.notebooks_dir() == tmp_path / "notebooks"
    assert settings.params_dir() == tmp_path / "params"
    assert settings.dags_dir() == tmp_path / "dags"
    assert settings.home() == tmp_path / "var"


def test_without_a_configured_root_a_checkout_finds_its_own_folders(monkeypatch):
    monkeypatch.delenv("STAGEBOOK_ROOT", raising=False)
    assert (settings.notebooks_dir() / "20-train.ipynb").exists()
    assert (settings.root() / "pyproject.toml").exists()


def test_an_installed_package_outside_a_checkout_uses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STAGEBOOK_ROOT", raising=False)
    monkeypatch.setattr(settings, "_CHECKOUT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert settings.root() == tmp_path
