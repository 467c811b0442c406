"""The recommendation pipeline's datasets keep their layout in its data area of the archive's home."""

import datetime as dt

from recsys import paths as datasets
from stagebook import context, params, storage

DS = dt.date(2019, 11, 20)


def DATA(home):
    return home / "data" / "recommendations"


def test_the_pipelines_datasets_keep_the_archive_layout(tmp_path):
    paths = datasets.paths(DS, "beta", tmp_path)
    day = "ds=2019-11-20"
    assert paths.tables == DATA(tmp_path) / "tables" / day
    assert paths.table("users") == DATA(tmp_path) / "tables" / day / "users.parquet"
    assert paths.features == DATA(tmp_path) / "features/beta" / day
    assert paths.recommendations == DATA(tmp_path) / "recommendations/beta" / day
    assert paths.validated == DATA(tmp_path) / "validated/beta" / day
    assert paths.models == DATA(tmp_path) / "models/beta"
    assert paths.model("sig") == DATA(tmp_path) / "models/beta/sig"
    assert paths.outbox == DATA(tmp_path) / "outbox/beta"
    assert paths.spill == DATA(tmp_path) / "tmp/duckdb"
    assert paths.train_spill == DATA(tmp_path) / "tmp/train/beta"
    assert paths.raw_events("key") == DATA(tmp_path) / "raw/events/key/date=2019-11-20"
    earlier = DATA(tmp_path) / "raw/events/key/date=2019-11-19/part-0.parquet"
    assert paths.raw_events_file("key", DS - dt.timedelta(days=1)) == earlier


def test_the_pipelines_files_keep_their_names(tmp_path):
    paths = datasets.paths(DS, "prod", tmp_path)
    model = DATA(tmp_path) / "models/prod/sig"
    assert datasets.File.WEIGHTS.of(paths.model("sig")) == model / "ffm.npz"
    assert [datasets.File.MODEL.of(model).name, datasets.File.SIGNATURE.of(model).name] == [
        "model.keras",
        "signature.json",
    ]
    encoded = datasets.File.EVENTS_X.of(paths.on(DS - dt.timedelta(days=1)).features)
    assert encoded == DATA(tmp_path) / "features/prod/ds=2019-11-19/events-x.npy"
    assert datasets.File.VOCABULARY.of(paths.features).name == "vocab.json"
    assert datasets.File.RECOMMENDATIONS.of(paths.recommendations).name == (
        "recommendations.parquet"
    )
    validated = DATA(tmp_path) / "validated/prod/ds=2019-11-20"
    assert datasets.File.APPROVAL.of(paths.validated) == validated / "approved.json"
    assert datasets.File.DISTRIBUTION.of(paths.validated) == validated / "item_distribution.parquet"


def test_a_dates_outbox_folder_holds_its_records_and_their_metadata(tmp_path):
    outbox = datasets.paths(DS, "prod", tmp_path).outbox
    records = datasets.outbox_file(outbox, "2019-11-20")
    assert records == DATA(tmp_path) / "outbox/prod/ds=2019-11-20/records.jsonl"
    assert records.parent == datasets.outbox_folder(outbox, "2019-11-20")
    assert datasets.outbox_meta(records) == DATA(tmp_path) / "outbox/prod/ds=2019-11-20/meta.json"
    assert datasets.outbox_legacy(outbox, "2019-11-20") == (
        DATA(tmp_path) / "outbox/prod/ds=2019-11-20.jsonl",
        DATA(tmp_path) / "outbox/prod/ds=2019-11-20.meta.json",
    )


def test_the_pipelines_params_give_its_paths_and_so_does_another_date(tmp_path):
    paths = params.load("prod").paths(DS, "prod", tmp_path)
    assert isinstance(paths, datasets.RecsysPaths)
    assert paths == datasets.paths(DS, "prod", tmp_path)
    assert (
        paths.on(DS - dt.timedelta(days=1)).features
        == DATA(tmp_path) / "features/prod/ds=2019-11-19"
    )


def test_a_stage_context_holds_the_pipelines_paths_in_the_archive(home):
    ctx = context.stage("10-features", ds="2019-11-20", phase="beta")
    assert isinstance(ctx.paths, datasets.RecsysPaths)
    assert isinstance(ctx.paths, storage.Paths)
    assert ctx.paths.features == DATA(home) / "features/beta/ds=2019-11-20"
