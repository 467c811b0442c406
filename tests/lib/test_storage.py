import datetime as dt

import pytest

from stagebook import params, storage

DS = dt.date(2019, 11, 20)


def test_a_report_path_is_dag_date_phase_run_and_stage_try():
    run_id = "scheduled__2019-11-21T01:00:00+00:00"
    path = storage.report_path("dag", DS, "prod", run_id, "20-train", 3, home=storage.Path("/a"))
    run = "scheduled__2019-11-21T01-00-00-00-00"
    assert path == storage.Path(f"/a/reports/dag/2019-11-20/prod/{run}/20-train.try3.ipynb")
    assert storage.rendering(path).name == "20-train.try3.html"
    assert storage.sidecar(path).name == "20-train.try3.json"
    assert storage.NAME.match(run)


def test_two_runs_of_a_date_never_share_a_report_folder():
    first = storage.report_folder("dag", DS, "prod", "manual__2026-11-27T19:55:27.468551+00:00")
    second = storage.report_folder("dag", DS, "prod", "manual__2026-11-27T19:56:01.000001+00:00")
    assert first != second and first.parent == second.parent


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("20-train.try12.html", ("20-train", 12, ".html")),
        ("00-input-tables.try1.ipynb", ("00-input-tables", 1, ".ipynb")),
        ("index.html", None),
        ("20-train.tryx.html", None),
    ],
)
def test_a_try_name_parses_back_to_its_stage_and_number(name, parsed):
    assert storage.parse_try(name) == parsed
    if parsed:
        assert storage.try_name(*parsed) == name


def test_tries_are_listed_in_number_order_for_their_stage_only(tmp_path):
    for name in ["20-train.try10.html", "20-train.try2.html", "20-train.try2.ipynb"]:
        (tmp_path / name).touch()
    (tmp_path / "20-train-extra.try1.html").touch()
    assert storage.tries(tmp_path, "20-train") == [
        (2, tmp_path / "20-train.try2.html"),
        (10, tmp_path / "20-train.try10.html"),
    ]


def test_a_dataset_path_is_built_from_the_home_its_name_the_phase_and_the_date(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("STAGEBOOK_PIPELINE", "scoring")
    paths = storage.paths(DS, "beta", tmp_path)
    assert paths.data == tmp_path / "data" / "scoring"  # each pipeline has its own data area
    tmp_path = paths.data
    assert paths.dated("scores") == tmp_path / "scores/ds=2019-11-20"
    assert paths.phased("scores") == tmp_path / "scores/beta/ds=2019-11-20"
    assert (
        paths.phased("scores", DS - dt.timedelta(days=1)) == tmp_path / "scores/beta/ds=2019-11-19"
    )
    assert paths.on(DS + dt.timedelta(days=1)).dated("a", "b") == tmp_path / "a/b/ds=2019-11-21"
    assert paths.folder("scratch", "spill") == tmp_path / "scratch/spill"
    assert storage.partition("2019-11-20") == "ds=2019-11-20"
    assert storage.partition(DS, "date") == "date=2019-11-20"


def test_a_pipeline_declares_its_datasets_and_files_in_subclasses(tmp_path):
    class Files(storage.File):
        SCORES = "scores.parquet"

    class ScorePaths(storage.Paths):
        @property
        def scores(self):
            return self.phased("scores")

    paths = ScorePaths(tmp_path, DS, "prod", "scoring")
    tmp_path = tmp_path / "data" / "scoring"
    later = paths.on(DS + dt.timedelta(days=1))
    assert isinstance(later, ScorePaths)
    assert Files.SCORES.of(later.scores) == tmp_path / "scores/prod/ds=2019-11-21/scores.parquet"
    assert list(storage.File) == []  # the framework names no file of its own


def test_the_params_paths_hook_gives_the_framework_paths_by_default(tmp_path):
    paths = params.Params.model_construct().paths(DS, "beta", tmp_path)
    assert type(paths) is storage.Paths
    assert paths == storage.paths(DS, "beta", tmp_path)
