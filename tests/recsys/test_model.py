import datetime as dt

import numpy as np
import pytest

from recsys import data, features, ffm, metrics
from recsys.errors import InvalidLossError
from stagebook import params

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


@pytest.mark.parametrize("phase", ["prod", "beta"])
def test_movielens_time_split_reaches_auc_070_with_each_phases_params(phase):
    """The benchmark's MovieLens split, trained with the phase's own params:
    libffm reaches AUC 0.701 there, xLearn 0.698 (``make bench-ffm``)."""
    events = data.movielens_events()  # sorted by time: first 80 % train, last 20 % test
    n = int(len(events) * 0.8)
    vocab, x, y = encode(events, data.source("movielens100k"), n)
    p = params.load(phase).train
    model = ffm.build(
        vocab.n_features,
        len(vocab.fields),
        p.k,
        p.l2,
        p.base_lr,
        seed=1,
        linear_terms=p.linear_terms,
        init_scale=p.init_scale,
    )
    ffm.fit(
        model,
        (x[:n], y[:n]),
        None,
        epochs=p.epochs,
        batch_size=p.batch_size,
        patience=p.epochs,
        lr=p.base_lr,
        seed=1,
    )
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=8192, verbose=0)))
    assert metrics.auc(y[n:], prob) >= 0.70
    assert metrics.logloss(y[n:], prob) < 0.63


def test_a_learning_rate_too_high_diverges_and_is_caught_during_the_epoch():
    p = params.load().data.model_copy(update={"source": "synthetic", "events_per_day": 20_000})
    events = data.events_for(p, dt.date(2019, 11, 20))
    vocab, x, y = encode(events, data.source("synthetic"), len(events))
    model = ffm.build(vocab.n_features, len(vocab.fields), 4, 1e-4, 1e24)
    with pytest.raises(
        InvalidLossError, match=r"at epoch 1, minibatches 1-32, with learning rate 1e\+24"
    ):
        ffm.fit(model, (x, y), None, epochs=2, batch_size=256, patience=2, lr=1e24, seed=1)


LINEAR_TERMS = pytest.mark.parametrize("linear", [False, True], ids=["ffm", "with-linear-terms"])


def compiled(
    n_features: int, n_fields: int, k: int, l2: float, linear: bool = False, seed: int = 3
) -> ffm.FFM:
    """Return a compiled FFM with random weights and a built optimizer."""
    model = ffm.build(n_features, n_fields, k, l2=l2, lr=0.1, seed=seed, linear_terms=linear)
    rng = np.random.default_rng(seed)
    for weight, scale in zip(model.trainable_variables, (0.2, 0.3, 0.4), strict=True):
        weight.assign(rng.normal(0, scale, weight.shape).astype("float32"))
    # built as fit builds it: the model, its loss and the optimizer
    model._symbolic_build(data_batch=(np.zeros((1, n_fields), "int32"), np.zeros(1, "float32")))
    return model


def sparse_step(model: ffm.FFM, x, y, weight=None):
    """Run FFM.train_step on minibatches ``x [M, B, F]`` as fit runs it; return its logs."""
    from keras import ops

    from recsys.ffm import sparse

    weight = np.ones(y.shape, "float32") if weight is None else weight
    rows, inverse = sparse.dedupe(x, model.n_features)
    groups = (model.trainable_variables, model.non_trainable_variables)
    groups += (model.optimizer.variables, model.metrics_variables)
    state = tuple([v.value for v in group] for group in groups)
    data = tuple(map(ops.convert_to_tensor, (rows, inverse, y, weight)))
    logs, state = model.train_step(state, (data[:2], *data[2:]))
    for group, values in zip(groups, state, strict=True):
        for variable, value in zip(group, values, strict=True):
            variable.assign(value)
    return logs


def dense_gradient(model: ffm.FFM, x, y, weight=None):
    """Return the written-out gradient of one minibatch, summed into table-sized arrays."""
    weight = np.ones(y.shape, "float32") if weight is None else weight
    w, v, vt, logit = model.terms(x)
    loss, _, g_bias, dw, dv = model.gradient(w, v, vt, logit, y, weight)
    g_linear = np.zeros(model.linear.shape, "float32")
    g_factors = np.zeros(model.factors.shape, "float32")
    np.add.at(g_linear, x, np.asarray(dw))
    np.add.at(g_factors, x, np.asarray(dv))
    return float(loss), [np.asarray(g_bias), g_linear, g_factors]


def state(model: ffm.FFM) -> list[np.ndarray]:
    """Return the weights and the optimizer's accumulators, as numpy arrays."""
    accumulators = [v for v in model.optimizer.variables if "accumulator" in v.name]
    return [np.asarray(v.value) for v in [*model.trainable_variables, *accumulators]]


@LINEAR_TERMS
def test_the_written_out_gradient_equals_autodiffs(linear):
    """FFM.gradient, summed per feature, against JAX's autodiff of the objective.

    The objective is what Keras's own train step would differentiate: the
    cross-entropy plus the penalty ``call(training=True)`` adds. The batch
    repeats features, so the sums per feature are checked too.
    """
    import jax
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, size=(64, 5)).astype("int32")  # 12 features: many repeats
    y = rng.integers(0, 2, size=64).astype("float32")
    model = compiled(12, 5, 3, l2=0.05, linear=linear)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)

    def objective(values):
        logit, _, losses = model.stateless_call(values, [], x, training=True, return_losses=True)
        return cross_entropy(y, logit) + sum(losses)

    want = jax.grad(objective)([v.value for v in model.trainable_variables])
    loss, got = dense_gradient(model, x, y)
    np.testing.assert_allclose(loss, float(cross_entropy(y, model(x))), rtol=1e-6)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, np.asarray(w), atol=1e-6)


@LINEAR_TERMS
def test_a_sparse_step_equals_a_dense_adagrad_step(linear):
    """One lazy step against the optimizer's dense step (Keras's ``apply`` of the whole,
    table-sized gradient): the same weights and accumulators, rows touched or not; and
    the factors follow row-wise AdaGrad, written out here in numpy."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 40, size=(96, 5)).astype("int32")
    y = rng.integers(0, 2, size=96).astype("float32")
    lazy, dense = (compiled(40, 5, 3, l2=0.05, linear=linear) for _ in range(2))
    logs = sparse_step(lazy, x[None], y[None])
    loss, grads = dense_gradient(dense, x, y)
    before = state(dense)
    dense.optimizer.apply(grads, dense.trainable_variables)
    acc = before[5] + (grads[2] ** 2).mean(axis=-1)  # one accumulator a latent vector
    want = before[2] - 0.1 * grads[2] / np.sqrt(acc + dense.optimizer.epsilon)[..., None]
    np.testing.assert_allclose(state(dense)[5], acc, rtol=1e-6)
    np.testing.assert_allclose(state(dense)[2], want, rtol=1e-5, atol=1e-7)
    for got, want in zip(state(lazy), state(dense), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(logs["loss"]), loss, rtol=1e-6)
    assert int(lazy.optimizer.iterations.numpy()) == 1


@LINEAR_TERMS
def test_a_step_leaves_the_rows_it_did_not_gather_bit_identical(linear):
    rng = np.random.default_rng(2)
    x = (rng.integers(0, 50, size=(256, 4)) * 7).astype("int32")  # rows 0, 7, 14, ... of 1000
    y = rng.integers(0, 2, size=256).astype("float32")
    model = compiled(1000, 4, 4, l2=0.01, linear=linear)
    before = state(model)
    sparse_step(model, x[None], y[None])
    after = state(model)
    untouched = np.setdiff1d(np.arange(1000), x)
    for i in (1, 2, 4, 5):  # linear, factors and their accumulators
        old, new = before[i], after[i]
        assert np.array_equal(old[untouched], new[untouched])
        trained = linear or i in (2, 5)  # without linear terms, the linear weights stay
        assert np.array_equal(old[np.unique(x)], new[np.unique(x)]) != trained


@LINEAR_TERMS
def test_a_block_trains_like_its_minibatches_in_turn_and_padding_weighs_nothing(linear):
    """One train step on a block [2, 32, F] (the last 8 rows padding, weight 0)
    against two steps on the minibatches of 32 and 24 rows, without padding."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 12, size=(64, 5)).astype("int32")
    y = rng.integers(0, 2, size=64).astype("float32")
    weight = np.r_[np.ones(56), np.zeros(8)].astype("float32")  # rows 56-63: padding
    block, in_turn = (compiled(12, 5, 3, l2=0.05, linear=linear) for _ in range(2))
    logs = sparse_step(block, x.reshape(2, 32, 5), y.reshape(2, 32), weight.reshape(2, 32))
    sparse_step(in_turn, x[None, :32], y[None, :32])
    in_turn_logs = sparse_step(in_turn, x[None, 32:56], y[None, 32:56])
    for got, want in zip(state(block), state(in_turn), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # the loss: each minibatch's cross-entropy before its step, weighted by its real rows
    # (in turn, the loss metric is the mean over both calls, weighted the same way)
    np.testing.assert_allclose(float(logs["loss"]), float(in_turn_logs["loss"]), rtol=1e-6)
    assert int(block.optimizer.iterations.numpy()) == 2


def test_the_factors_start_uniform_positive_and_repeat_with_the_seed():
    def factors(seed):
        model = ffm.build(5000, 4, 8, 0.0, 0.1, seed=seed, init_scale=0.2)
        return np.asarray(model.factors.numpy())

    first, again, other = factors(1), factors(1), factors(2)
    high = 0.2 / np.sqrt(8)
    assert first.shape == (5000, 4, 8) and first.dtype == np.float32
    assert first.min() >= 0 and first.max() < high
    # uniform on [0, high): its mean, spread and deciles, within sampling error of 160 k draws
    assert abs(first.mean() / high - 0.5) < 0.005 and abs(first.std() / high - 12**-0.5) < 0.005
    deciles = np.quantile(first, np.linspace(0.1, 0.9, 9)) / high
    np.testing.assert_allclose(deciles, np.linspace(0.1, 0.9, 9), atol=0.01)
    # neighbouring weights are not correlated (a counter hash, not a stream)
    assert abs(np.corrcoef(first.ravel()[:-1], first.ravel()[1:])[0, 1]) < 0.01
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_dedupe_by_mask_and_by_sort_agree():
    from recsys.ffm import sparse

    x = np.random.default_rng(4).integers(0, 300, size=(5, 64, 3)).astype("int32")
    small = sparse.dedupe(x, 300)  # 300 features <= SCAN x 192 ids: the mask
    large = sparse.dedupe(x, 300 * sparse.SCAN * 192)  # the sort
    assert np.array_equal(small[1], large[1])
    real = small[0] < 300
    assert np.array_equal(small[0][real], large[0][large[0] < 300])
    for rows, inverse, batch in zip(small[0], small[1], x, strict=True):
        assert np.array_equal(rows[inverse], batch) and np.all(np.diff(rows) > 0)


def test_blocks_deal_every_row_once_an_epoch_and_fill_with_weightless_minibatches():
    from recsys.ffm.fit import BLOCK, Blocks

    x = np.arange(1000 * 3, dtype="int32").reshape(1000, 3) % 500
    y = np.ones(1000, "float32")
    data = Blocks(x, y, 16, 500, seed=1)  # 63 minibatches: 2 blocks of 32, one empty
    for _ in range(2):
        seen, weights = [], 0.0
        for i in range(len(data)):
            (rows, inverse), _, weight = data[i]
            assert rows.shape == (BLOCK, rows.shape[1]) and inverse.shape == (BLOCK, 16, 3)
            ids = np.take_along_axis(rows[:, None, :], inverse.reshape(BLOCK, 1, -1), 2)
            seen.append(ids.reshape(BLOCK, 16, 3)[weight > 0])
            weights += weight.sum()
        assert weights == 1000
        assert sorted(map(tuple, np.concatenate(seen))) == sorted(map(tuple, x))
        data.on_epoch_end()
