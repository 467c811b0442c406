"""Training in bounded memory: encoded events on disk, written and read a chunk at a time."""

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import data, encoded, features, metrics, tables, training
from recsys import paths as datasets
from stagebook import params

DS = dt.date(2019, 11, 20)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A synthetic window's events table (10 days of 6,000) and its paths."""
    p = params.load().data.model_copy(
        update={"source": "synthetic", "events_per_day": 6_000, "n_users": 400, "n_items": 150}
    )
    days = [data.events_for(p, DS - dt.timedelta(days=d)) for d in range(9, -1, -1)]
    events = pd.concat(days, ignore_index=True)
    paths = datasets.paths(DS, "prod", tmp_path_factory.mktemp("stream"))
    paths.table("events").parent.mkdir(parents=True)
    events.to_parquet(paths.table("events"), index=False, row_group_size=7_000)
    return paths, data.source("synthetic")


def encode(paths, source, batch_rows):
    columns = [*source.fields, "date", "label"]
    events = tables.batches(paths, "events", columns, batch_rows)
    vocab = features.build_vocabulary(events, source.user_fields, source.item_fields, 1)
    features.write(vocab, events, paths)
    return features.read(paths)


def test_features_written_batch_by_batch_equal_the_whole_table_encoded_at_once(synthetic):
    paths, source = synthetic
    whole = tables.read(paths, "events", [*source.fields, "date", "label"], categorical=True)
    vocab = features.build_vocabulary(whole, source.user_fields, source.item_fields, 1)
    expected = features.encode_events(whole, vocab)

    batched_vocab, events = encode(paths, source, batch_rows=2_500)  # 24 batches
    assert batched_vocab == vocab
    assert len(events) == len(whole) == 60_000 and events.fields == len(source.fields)
    got = events.read()
    for name in ("x", "y", "day"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    assert np.array_equal(events.read(59_990, 70_000).x, expected.x[59_990:])
    rows = np.array([0, 5, 31_000, 59_999])
    assert np.array_equal(events.take(rows, size=1_000).x, expected.x[rows])
    # the files are plain .npy arrays
    assert np.array_equal(np.load(datasets.File.EVENTS_Y.of(paths.features)), expected.y)


def test_a_missing_features_folder_names_the_file_and_the_stage(tmp_path):
    paths = datasets.paths(DS, "prod", tmp_path)
    with pytest.raises(Exception, match=r"events-x\.npy do not exist: run 10-features"):
        encoded.EncodedEvents(paths.features)


def test_a_writer_given_fewer_rows_than_announced_refuses(tmp_path):
    one = encoded.Encoded(
        np.zeros((2, 3), np.int32), np.zeros(2, np.float32), np.zeros(2, np.int32)
    )
    with pytest.raises(ValueError, match="encoded 2 events where the table has 3"):
        with encoded.Writer(tmp_path, 3, 3) as out:
            out.append(one)


def test_a_streamed_split_holds_out_the_same_day_and_deals_every_training_row_once(
    synthetic, monkeypatch
):
    monkeypatch.setattr(training, "PIECE", 512)  # pieces small beside the chunks
    paths, source = synthetic
    _, events = encode(paths, source, batch_rows=10_000)
    whole = training.split(events, seed=3, chunk_rows=1 << 20)
    streamed = training.split(events, seed=3, chunk_rows=8_192)
    assert isinstance(whole.train, tuple) and isinstance(streamed.train, training.Stream)
    assert streamed.rows == whole.rows and sum(whole.rows.values()) == len(events)
    n = whole.rows["train"]
    assert streamed.window == whole.window == (DS - dt.timedelta(days=9), DS)
    for part in ("valid", "test"):
        assert np.array_equal(getattr(streamed, part).x, getattr(whole, part).x)
    assert streamed.train_rate == pytest.approx(whole.train_rate, rel=1e-6)

    stream, rng = streamed.train, np.random.default_rng(0)
    assert stream.chunk_sizes() == [8_192] * (n // 8_192) + [n % 8_192]
    for _ in range(2):  # two epochs: every training row once each, drawn all over the window
        chunks = [stream.read(spans) for spans in stream.draw(rng)]
        assert [len(y) for _, y in chunks] == stream.chunk_sizes()
        x = np.concatenate([x for x, _ in chunks])
        assert sorted(map(tuple, x)) == sorted(map(tuple, whole.train[0]))
        first_days = {int(d) for d in events.take(np.sort(_rows_of(chunks[0][0], events))).day}
        assert len(first_days) > 5


def _rows_of(x, events):
    """Row numbers of the rows of ``x`` in the encoded events (a repeated row: any of them)."""
    every = events.read().x
    index = {tuple(r): i for i, r in enumerate(every)}
    return np.array([index[tuple(r)] for r in x])


def test_training_from_a_stream_matches_training_in_memory(synthetic):
    from recsys import ffm
    from recsys.ffm.blocks import Streamed

    paths, source = synthetic
    vocab, events = encode(paths, source, batch_rows=10_000)
    train = params.load().train
    found = {}
    for name, chunk_rows in (("memory", 1 << 20), ("stream", 16_384)):
        split = training.split(events, seed=1, chunk_rows=chunk_rows)
        if name == "stream":
            # 4 blocks a full chunk, 2 the last one: a chunk dealt with another's size shows
            for seed in range(4):
                blocks = Streamed(split.train, 128, vocab.n_features, seed, paths.train_spill)
                assert Path(blocks.spill.name).parent == paths.train_spill
                _deals_every_row_once_an_epoch(blocks)
        model = ffm.build(vocab.n_features, len(vocab.fields), 4, train.l2, 0.1, seed=1)
        losses = ffm.fit(
            model,
            split.train,
            (split.valid.x, split.valid.y),
            epochs=3,
            batch_size=512,
            patience=3,
            lr=0.1,
            seed=1,
            spill=paths.train_spill,
        )
        prob = 1 / (1 + np.exp(-model.predict(split.test.x, verbose=0)))
        found[name] = metrics.auc(split.test.y, prob)
        assert len(losses) == 3
        assert metrics.logloss(split.test.y, prob) < metrics.rate_logloss(
            split.train_rate, split.test.y
        )
    assert found["stream"] == pytest.approx(found["memory"], abs=0.01)
    assert not any(paths.train_spill.iterdir())  # the dealt chunks were removed after


def _deals_every_row_once_an_epoch(blocks):
    from recsys.ffm.blocks import BLOCK

    expected = sorted(
        map(
            tuple,
            np.concatenate(
                [blocks.stream.read(s)[0] for s in blocks.stream.draw(np.random.default_rng(9))]
            ),
        )
    )
    blocks.on_epoch_end()  # as Keras does before the first epoch (EpochIterator.reset)
    for epoch in range(3):  # dealt and spilled, then read back twice in new orders
        seen, shapes = [], set()
        for i in range(len(blocks)):
            (rows, inverse), _, weight = blocks[i]
            assert rows.shape[0] == BLOCK, f"epoch {epoch}, block {i} of {len(blocks)}"
            shapes.add(rows.shape)
            ids = np.take_along_axis(rows[:, None, :], inverse.reshape(BLOCK, 1, -1), 2)
            seen.append(ids.reshape(*inverse.shape)[weight > 0])
        assert sorted(map(tuple, np.concatenate(seen))) == expected
        if epoch:  # widened to the widest chunk: one compiled shape
            assert len(shapes) == 1 and next(iter(shapes))[0] == BLOCK
        if epoch == 0:
            with pytest.raises(IndexError, match="out of order"):
                blocks[0]
        blocks.on_epoch_end()
    spill = blocks.spill.name
    blocks.close()
    assert not os.path.exists(spill)


def test_a_whole_stream_trains_on_every_row(synthetic):
    paths, source = synthetic
    _, events = encode(paths, source, batch_rows=10_000)
    stream = training.Stream.whole(events, chunk_rows=25_000)
    assert len(stream) == len(events) and stream.chunk_sizes() == [25_000, 25_000, 10_000]
    x = np.concatenate([stream.read(spans)[0] for spans in stream.draw(np.random.default_rng(1))])
    assert sorted(map(tuple, x)) == sorted(map(tuple, events.read().x))
