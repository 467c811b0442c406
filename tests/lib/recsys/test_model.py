import datetime as dt

import numpy as np
import pytest

from stagebook import params
from stagebook.errors import InvalidLossError
from stagebook.recsys import data, features, ffm, metrics

TRAIN = params.load().train  # the defaults the pipeline trains with


def encode(events, source, n_train):
    vocab = features.build_vocabulary(
        events.iloc[:n_train], source.user_fields, source.item_fields, 1
    )
    return vocab, vocab.encode(events, vocab.fields), events["label"].to_numpy(np.float32)


def test_small_synthetic_set_beats_the_base_rate_clearly():
    p = params.load().data.model_copy(
        update={"source": "synthetic", "events_per_day": 60_000, "n_users": 500, "n_items": 200}
    )
    events = data.events_for(p, dt.date(2019, 11, 20))
    n = 50_000
    vocab, x, y = encode(events, data.source("synthetic"), n)
    model = ffm.build(vocab.n_features, len(vocab.fields), 4, TRAIN.l2, TRAIN.base_lr, seed=1)
    losses = ffm.fit(
        model, (x[:n], y[:n]), None, epochs=3, batch_size=1024, patience=3, lr=TRAIN.base_lr, seed=1
    )
    prob = 1 / (1 + np.exp(-model.predict(x[n:], verbose=0)))
    assert metrics.logloss(y[n:], prob) < metrics.base_rate_logloss(y[:n], y[n:]) - 0.05
    assert len(losses) == 3 and all(row["samples_per_s"] > 0 for row in losses)


def test_movielens_time_split_reaches_auc_069():
    events = data.movielens_events()  # sorted by time: first 80 % train, last 20 % test
    n = int(len(events) * 0.8)
    vocab, x, y = encode(events, data.source("movielens100k"), n)
    k = params.load("beta").train.k  # 8: AUC 0.694 here; prod's k=4 gives 0.691
    model = ffm.build(vocab.n_features, len(vocab.fields), k, TRAIN.l2, TRAIN.base_lr, seed=1)
    # the benchmark's protocol: batch 4096, 4 epochs
    ffm.fit(
        model, (x[:n], y[:n]), None, epochs=4, batch_size=4096, patience=4, lr=TRAIN.base_lr, seed=1
    )
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=8192, verbose=0)))
    assert metrics.auc(y[n:], prob) >= 0.69
    assert metrics.logloss(y[n:], prob) < metrics.base_rate_logloss(y[:n], y[n:])


def test_a_learning_rate_too_high_diverges_and_is_caught_during_the_epoch():
    p = params.load().data.model_copy(update={"source": "synthetic", "events_per_day": 20_000})
    events = data.events_for(p, dt.date(2019, 11, 20))
    vocab, x, y = encode(events, data.source("synthetic"), len(events))
    model = ffm.build(vocab.n_features, len(vocab.fields), 4, 1e-4, 1e24)
    with pytest.raises(
        InvalidLossError, match=r"at epoch 1, minibatches 1-32, with learning rate 1e\+24"
    ):
        ffm.fit(model, (x, y), None, epochs=2, batch_size=256, patience=2, lr=1e24, seed=1)


def test_the_written_out_gradient_equals_autodiffs():
    """FFM.train_step's gradient against Keras's autodiff train step, one SGD step each.

    With SGD at learning rate 1 the step is the gradient itself, so equal weights
    after the step mean equal gradients. The batch repeats features, so the
    scatter's sums are checked too.
    """
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, size=(64, 5)).astype("int32")  # 12 features: many repeats
    y = rng.integers(0, 2, size=64).astype("float32")
    models = []
    for _ in range(2):
        model = ffm.FFM(12, 5, 3, l2=0.05)
        for weight, value in zip(model.weights, (0.2, 0.3, 0.4), strict=True):
            weight.assign(np.random.default_rng(1).normal(0, value, weight.shape))
        model.compile(
            optimizer=keras.optimizers.SGD(1.0),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
        )
        models.append(model)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)(y, models[0](x))
    ours = models[0].train_step((x, y))
    keras.Model.train_step(models[1], (x, y))  # autodiff of call(training=True): loss + penalty
    # the reported loss is the cross-entropy before the step, like the validation loss
    np.testing.assert_allclose(float(ours["loss"]), float(cross_entropy), rtol=1e-6)
    for got, want in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_a_block_trains_like_its_minibatches_in_turn_and_padding_weighs_nothing():
    """One train step on a block [2, 32, F] (the last 8 rows padding, weight 0)
    against two steps on the minibatches of 32 and 24 rows, without padding."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 12, size=(64, 5)).astype("int32")
    y = rng.integers(0, 2, size=64).astype("float32")
    weight = np.r_[np.ones(56), np.zeros(8)].astype("float32")  # rows 56-63: padding
    models = [ffm.build(12, 5, 3, l2=0.05, lr=0.1, seed=3) for _ in range(2)]
    block = models[0].train_step((x.reshape(2, 32, 5), y.reshape(2, 32), weight.reshape(2, 32)))
    models[1].train_step((x[:32], y[:32]))
    in_turn = models[1].train_step((x[32:56], y[32:56]))
    for got, want in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)
    # the loss: each minibatch's cross-entropy before its step, weighted by its real rows
    np.testing.assert_allclose(float(block["loss"]), float(in_turn["loss"]), rtol=1e-6)
    assert int(models[0].optimizer.iterations.numpy()) == 2
