"""The field-aware factorization machine (FFM) in Keras 3, with ``keras.ops`` only.

Any Keras backend runs it. Importing this module imports Keras and its backend
(about 5 s for TensorFlow), so only the stages that train import it; scoring
uses the exported weights through :mod:`stagebook.scoring`.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
from keras import ops

from stagebook.errors import InvalidLossError

BLOCK = 32  # minibatches one train step runs through, in one compiled loop
INITIAL_ACCUMULATOR = 1e-6


@keras.saving.register_keras_serializable(package="stagebook")
class FFM(keras.Model):
    """Bias + linear terms + pairwise field-aware interactions over ``n_fields`` fields.

    Input: an int matrix ``[batch, n_fields]`` of global feature indices, one per
    field. Output: the click logit. L2 applies to the embedding rows the batch
    uses (as libffm does), not to the whole table.

    Training writes the gradient out (:meth:`update`) instead of asking
    autodiff for it, and hands it to the compiled optimizer.
    """

    def __init__(self, n_features: int, n_fields: int, k: int, l2: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_features, self.n_fields, self.k, self.l2 = n_features, n_fields, k, l2
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")
        self.linear = self.add_weight(shape=(n_features,), initializer="zeros", name="linear")
        self.factors = self.add_weight(
            shape=(n_features, n_fields, k),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(k) / 4),
            name="factors",
        )
        # 1 where field i meets another field j: the pairs, each counted twice
        self.off_diagonal = (1 - np.eye(n_fields, dtype="float32"))[None, :, :, None]

    def terms(self, x):
        """Return the linear weights ``w``, the factors ``v``, ``vt`` and the logit.

        ``w`` is ``[B, F]``, ``v`` is ``[B, F, F, k]`` and ``vt`` its transpose:
        ``v[b, i, j]`` is the factor of row b's field-i feature towards field j: one
        gather of each feature's ``[F, k]`` block, contiguous in the table, so 8
        rows of 32 floats a sample (8 fields, k=4) where single pairs would be 56
        rows of 4. Pair (i, j) is ``v[b, i, j] . v[b, j, i]`` = ``(v * vt)[b, i, j]``;
        the sum over i != j counts each pair twice.
        """
        x = ops.cast(x, "int32")
        w = ops.take(self.linear, x, axis=0)
        v = ops.take(self.factors, x, axis=0)
        vt = ops.transpose(v, (0, 2, 1, 3))
        pairs = 0.5 * ops.sum(v * vt * self.off_diagonal, axis=(1, 2, 3))
        return w, v, vt, self.bias + ops.sum(w, axis=1) + pairs

    def penalty(self, w, v):
        """Return the L2 penalty of the rows the batch used (its mean over rows)."""
        used = ops.sum(ops.square(v) * self.off_diagonal, axis=(1, 2, 3))
        return self.l2 * ops.mean(used + ops.sum(ops.square(w), axis=1))

    def call(self, x, training: bool = False):
        """Return the logit of each row of ``x``."""
        w, v, _, logit = self.terms(x)
        if training and self.l2:  # for Keras's own train_step (the JAX backend)
            self.add_loss(self.penalty(w, v))
        return logit

    def train_step(self, *args):
        """Train on one batch ``[B, F]``, or on a block ``[M, B, F]`` of M minibatches.

        A block (what :func:`batches` yields) is M optimizer steps, one minibatch
        after the other, in one compiled loop: no return to TensorFlow between
        them (measured in ``fit``: 20-30 % more samples/s than one call a
        minibatch). Sample weights, if given, weight each row's loss and penalty,
        and each minibatch's loss is their weighted mean (``batches`` pads the
        last minibatch with rows of weight 0). The loss reported is the
        cross-entropy alone, like the validation loss, so the two curves compare.
        Where Keras's train step is stateless (JAX), Keras's own runs, on whole
        batches.
        """
        if keras.backend.backend() == "jax":
            return super().train_step(*args)
        x, y, weight = keras.utils.unpack_x_y_sample_weight(args[0])
        y = ops.cast(y, "float32")
        weight = ops.ones_like(y) if weight is None else ops.cast(weight, "float32")
        if len(x.shape) == 2:
            loss, rows = self.update(x, y, weight)
        else:

            def step(i, totals):
                loss, rows = self.update(x[i], y[i], weight[i])
                return totals[0] + loss * rows, totals[1] + rows

            total, rows = ops.fori_loop(0, ops.shape(x)[0], step, (ops.zeros(()), ops.zeros(())))
            loss = total / rows
        for metric in self.metrics:  # the loss only: build() compiles no other metric
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=rows)
        return self.get_metrics_result()

    def update(self, x, y, weight):
        """One optimizer step on a minibatch; return its loss and its rows (weight sum).

        The gradient is written out, not asked of autodiff: with ``d`` = weight *
        (sigmoid(logit) - y) / rows and ``c`` = 2 l2 weight / rows, it is ``d``
        for the bias, ``d + c w`` for each used linear weight, and
        ``(d vt + c v)`` off the diagonal for each used factor block, summed per
        feature by one scatter. Measured on 2 cores the step is 1.4-1.6x faster
        than autodiff of the same loss, whose gradient comes back as 56 row
        slices a sample (a test checks the two are equal). AdaGrad therefore
        accumulates the square of each feature's minibatch sum (minibatch
        AdaGrad); with autodiff's slices, Keras summed per-row squares.
        """
        x = ops.cast(x, "int32")
        w, v, vt, logit = self.terms(x)
        rows = ops.sum(weight)
        loss = ops.sum(weight * ops.binary_crossentropy(y, logit, from_logits=True)) / rows
        d = weight * (ops.sigmoid(logit) - y) / rows
        c = 2 * self.l2 * weight / rows
        dv = (d[:, None, None, None] * vt + c[:, None, None, None] * v) * self.off_diagonal
        index = ops.reshape(x, (-1, 1))
        grads = [
            ops.sum(d),
            ops.scatter(index, ops.reshape(d[:, None] + c[:, None] * w, (-1,)), self.linear.shape),
            ops.scatter(index, ops.reshape(dv, (-1, self.n_fields, self.k)), self.factors.shape),
        ]
        self.optimizer.apply(grads, [self.bias, self.linear, self.factors])
        return loss, rows

    def get_config(self) -> dict:
        """Return the constructor arguments, for saving."""
        return {
            **super().get_config(),
            "n_features": self.n_features,
            "n_fields": self.n_fields,
            "k": self.k,
            "l2": self.l2,
        }

    def export(self) -> dict[str, np.ndarray]:
        """Return the weights as numpy arrays, for :mod:`stagebook.scoring`."""
        return {
            "bias": np.asarray(ops.convert_to_numpy(self.bias)),
            "linear": ops.convert_to_numpy(self.linear),
            "factors": ops.convert_to_numpy(self.factors),
        }


class LossGuard(keras.callbacks.Callback):
    """Raise :class:`InvalidLossError` as soon as a step's loss is nan or infinite.

    A step is one minibatch, or a block of ``block`` minibatches (:func:`batches`).
    """

    def __init__(self, lr: float, block: int = 1) -> None:
        super().__init__()
        self.lr, self.block = lr, block
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch, for the error message."""
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Stop training on the first non-finite loss."""
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            last = (batch + 1) * self.block
            where = (
                f"minibatch {last}"
                if self.block == 1
                else f"minibatches {last - self.block + 1}-{last}"
            )
            raise InvalidLossError(
                f"training loss became {loss} at epoch {self.epoch + 1}, {where}, with "
                f"learning rate {self.lr:g}: the next try lowers it by train.lr_decay"
            )


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch's training steps (validation excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Start the clock."""
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Stop the clock at each step, so the last one is the end of training steps."""
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Record the epoch's training time."""
        self.seconds.append(self._end - self._start)


def build(n_features: int, n_fields: int, k: int, l2: float, lr: float, *, seed: int = 0) -> FFM:
    """Return a compiled FFM, trained with AdaGrad on the logit's binary cross-entropy.

    AdaGrad, as libffm and xLearn use, with a tiny initial accumulator: a batch's
    gradient of a rarely seen row is about 1/batch of a per-sample one, and an
    accumulator of 0.1 (Keras's default) would freeze those rows. Measured on the
    benchmark's split, AdaGrad reaches the references' test logloss where Adam,
    at any learning rate, stayed 0.006-0.010 above it.

    XLA is on (Keras leaves it off on CPU); with :func:`batches`, each call
    runs a block of up to ``BLOCK`` minibatches, so the Python loop is out of
    the hot path.
    """
    keras.utils.set_random_seed(seed)  # the initial factors, so a run can be repeated
    model = FFM(n_features, n_fields, k, l2)
    model.compile(
        optimizer=keras.optimizers.Adagrad(
            learning_rate=lr, initial_accumulator_value=INITIAL_ACCUMULATOR
        ),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )
    return model


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None):
    """Return the training data for ``fit``: blocks of minibatches on TensorFlow.

    On TensorFlow: a cached ``tf.data`` pipeline of ``(x, y, weight)`` blocks
    ``[M, batch_size, ...]`` of up to ``BLOCK`` minibatches, that
    :meth:`FFM.train_step` trains on one after the other. The rows are shuffled
    once (with ``seed``), padded with rows of weight 0 to whole minibatches, and
    the minibatches are dealt into new blocks, in a new order, every epoch. On
    other backends: the numpy arrays.
    """
    if keras.backend.backend() != "tensorflow":
        return x, y
    import tensorflow as tf

    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(x))
        x, y = x[order], y[order]
    pad = -len(x) % batch_size
    weight = np.concatenate([np.ones(len(x), "float32"), np.zeros(pad, "float32")])
    x = np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)])
    y = np.concatenate([y.astype("float32"), np.zeros(pad, "float32")])
    data = tf.data.Dataset.from_tensor_slices((x, y, weight)).batch(batch_size).cache()
    if seed is not None:
        data = data.shuffle(len(x) // batch_size, seed=seed, reshuffle_each_iteration=True)
    return data.batch(BLOCK).prefetch(tf.data.AUTOTUNE)


def fit(
    model: FFM,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    lr: float,
    seed: int,
) -> list[dict[str, float]]:
    """Train; return each epoch's losses and training speed.

    With ``valid``, stop early on its loss and keep the best epoch's weights;
    without, run all ``epochs``.

    Raises:
        InvalidLossError: as soon as the loss is nan or infinite (during the epoch).
    """
    keras.utils.set_random_seed(seed)
    data = batches(*train, batch_size, seed)
    numpy_input = isinstance(data, tuple)
    timer = EpochTimer()
    callbacks = [LossGuard(lr, 1 if numpy_input else BLOCK), timer]
    if valid is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
        )
    history = model.fit(
        *(data if numpy_input else (data,)),
        validation_data=valid,
        validation_batch_size=8192,
        epochs=epochs,
        verbose=0,
        **({"batch_size": batch_size, "shuffle": True} if numpy_input else {"shuffle": False}),
        callbacks=callbacks,
    )
    losses = []
    for epoch, loss in enumerate(history.history["loss"], start=1):
        val_loss = history.history["val_loss"][epoch - 1] if valid is not None else None
        if not all(math.isfinite(v) for v in (loss, val_loss) if v is not None):
            raise InvalidLossError(
                f"loss {loss} / validation loss {val_loss} at the end of epoch {epoch} with "
                f"learning rate {lr:g}: the next try lowers it by train.lr_decay"
            )
        losses.append(
            {
                "epoch": epoch,
                "loss": float(loss),
                "val_loss": None if val_loss is None else float(val_loss),
                "samples_per_s": len(train[0]) / timer.seconds[epoch - 1],
            }
        )
    return losses
