"""The field-aware factorization machine (FFM) as a Keras 3 model: ``keras.ops``, and a lazy AdaGrad step on JAX."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras import ops

from recsys.ffm import sparse
from recsys.ffm.optimizer import Adagrad


class _Slots(NamedTuple):
    params: list[int]  # bias, linear, factors in the trainable variables
    accumulators: list[int]  # their AdaGrad accumulators in the optimizer's variables
    learning_rate: int
    iterations: int


class _Uniform(keras.initializers.Initializer):
    """Uniform on ``[0, high)``, drawn on the device, seeded by ``keras.utils.set_random_seed``.

    Positive, as libffm initialises (smaller here). Each weight is a hash of its
    index and a seed (:func:`_uniform`, compiled), written straight into the
    variable's buffer: no host copy, so the table's first step can donate it.
    Measured on 2 cores for an 11 M-feature table (352 M weights): 0.3 s, where
    numpy's uniform took 1.3-4.1 s (and a second copy of the table), JAX's
    ``unsafe_rbg`` 2.3 s and its default threefry 4-10 s.
    """

    def __init__(self, high: float) -> None:
        self.high = high

    def __call__(self, shape, dtype=None):
        seed = np.random.randint(2**31)  # numpy's global generator: set_random_seed seeds it
        return _uniform(tuple(shape), np.uint32(seed), np.float32(self.high))

    def get_config(self) -> dict:
        return {"high": self.high}


@functools.partial(jax.jit, static_argnums=0)
def _uniform(shape: tuple[int, ...], seed, high):
    """Return ``[0, high)`` uniform floats of ``shape``: murmur3's finalizer of index + seed.

    The top 24 bits of the hash, scaled: every value of the grid ``high * i / 2**24``
    is equally likely, and neighbouring weights are independent for this use. The
    index is 32-bit: a table past 2**32 weights (16 GiB) would repeat its values.
    """
    x = jax.lax.iota(jnp.uint32, math.prod(shape)) * jnp.uint32(0x9E3779B9) + seed
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = (x ^ (x >> shift)) * jnp.uint32(multiplier)
    x = x ^ (x >> 16)
    return ((x >> 8).astype(jnp.float32) * (high / 2**24)).reshape(shape)


@keras.saving.register_keras_serializable(package="stagebook")
class FFM(keras.Model):
    """Pairwise field-aware interactions over ``n_fields`` fields (+ bias and linear terms).

    Input: an int matrix ``[batch, n_fields]`` of global feature indices, one per
    field. Output: the click logit. L2 applies to the embedding rows the batch
    uses (as libffm does), not to the whole table. The factors start from
    U(0, ``init_scale`` / sqrt(k)).

    With ``linear_terms`` off (libffm's model), the bias and linear weights stay
    0 and are neither read nor trained; they are still exported, so the scorer
    is the same. Measured on the MovieLens split of ``make bench-ffm`` (3
    seeds), leaving them out and the small positive start gave AUC 0.704-0.706
    where the model with them stayed at 0.690-0.698.

    Training writes the gradient out (:meth:`gradient`) instead of asking
    autodiff for it, and applies the compiled AdaGrad to the rows each
    minibatch touches only (:meth:`train_step`): its cost follows the rows a
    minibatch uses, not the size of the vocabulary.
    """

    def __init__(
        self,
        n_features: int,
        n_fields: int,
        k: int,
        l2: float = 0.0,
        *,
        linear_terms: bool = False,
        init_scale: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.n_features, self.n_fields, self.k, self.l2 = n_features, n_fields, k, l2
        self.linear_terms, self.init_scale = linear_terms, init_scale
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")
        self.linear = self.add_weight(shape=(n_features,), initializer="zeros", name="linear")
        self.factors = self.add_weight(
            shape=(n_features, n_fields, k),
            initializer=_Uniform(init_scale / math.sqrt(k)),
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
        rows of 4.
        """
        x = ops.cast(x, "int32")
        w = ops.take(self.linear, x, axis=0)
        v = ops.take(self.factors, x, axis=0)
        return (w, v, *self.logit(self.bias, w, v))

    def logit(self, bias, w, v):
        """Return ``vt`` and the logit of samples whose weights ``w`` and factors ``v`` are gathered.

        Pair (i, j) is ``v[b, i, j] . v[b, j, i]`` = ``(v * vt)[b, i, j]``; the
        sum over i != j counts each pair twice.
        """
        vt = ops.transpose(v, (0, 2, 1, 3))
        pairs = 0.5 * ops.sum(v * vt * self.off_diagonal, axis=(1, 2, 3))
        if not self.linear_terms:
            return vt, pairs
        return vt, bias + ops.sum(w, axis=1) + pairs

    def penalty(self, w, v):
        """Return the L2 penalty of the rows the batch used (its mean over rows)."""
        used = ops.sum(ops.square(v) * self.off_diagonal, axis=(1, 2, 3))
        if self.linear_terms:
            used = used + ops.sum(ops.square(w), axis=1)
        return self.l2 * ops.mean(used)

    def call(self, x, training: bool = False):
        """Return the logit of each row of ``x``.

        With ``training``, the L2 penalty is added as a loss: Keras's own
        (autodiff) train step then sees the objective :meth:`gradient` writes out.
        """
        w, v, _, logit = self.terms(x)
        if training and self.l2:
            self.add_loss(self.penalty(w, v))
        return logit

    def gradient(self, w, v, vt, logit, y, weight):
        """Return a minibatch's loss, rows (weight sum) and per-sample gradient blocks.

        The gradient is written out, not asked of autodiff: with ``d`` = weight *
        (sigmoid(logit) - y) / rows and ``c`` = 2 l2 weight / rows, it is ``d``
        for the bias, ``d + c w`` for each used linear weight ``[B, F]``, and
        ``(d vt + c v)`` off the diagonal for each used factor block
        ``[B, F, F, k]``. Summed per feature, that is the gradient of the mean
        cross-entropy plus :meth:`penalty` (a test checks it against autodiff).
        A minibatch of padding only (rows 0) gives a zero gradient.
        """
        rows = ops.sum(weight)
        per_row = weight / ops.maximum(rows, 1.0)
        loss = ops.sum(per_row * ops.binary_crossentropy(y, logit, from_logits=True))
        d = per_row * (ops.sigmoid(logit) - y)
        c = 2 * self.l2 * per_row
        dw = d[:, None] + c[:, None] * w
        dv = (d[:, None, None, None] * vt + c[:, None, None, None] * v) * self.off_diagonal
        if not self.linear_terms:  # bias and linear weights stay 0
            return loss, rows, ops.zeros_like(rows), ops.zeros_like(dw), dv
        return loss, rows, ops.sum(d), dw, dv

    def train_step(self, state, data):
        """Train on a block of M minibatches, one lazy AdaGrad step each (JAX backend).

        ``data`` is ``((rows, inverse), y, weight)`` as :class:`~recsys.ffm.fit.Blocks`
        deals it: ``rows [M, U]`` the unique table rows of each minibatch and
        ``inverse [M, B, F]`` each sample's position in them
        (:func:`~recsys.ffm.sparse.dedupe`). Each step gathers its U rows,
        computes the gradient blocks (:meth:`gradient`), sums them per row and
        applies row-wise AdaGrad to those rows only (:mod:`~recsys.ffm.sparse`).
        The M steps run in one compiled loop on donated state (writes in place). The loss
        reported is the cross-entropy before each step, weighted by each minibatch's rows
        (padding weighs 0), like the validation loss.
        """
        trainable, non_trainable, optimizer_variables, metrics_variables = state
        (rows, inverse), y, weight = keras.utils.unpack_x_y_sample_weight(data)
        y, weight = ops.cast(y, "float32"), ops.cast(weight, "float32")
        slots = self._slots()
        params = [trainable[i] for i in slots.params]
        accumulators = [optimizer_variables[i] for i in slots.accumulators]
        lr = optimizer_variables[slots.learning_rate]
        epsilon = self.optimizer.epsilon

        def step(i, carry):
            (bias, linear, factors), (acc_b, acc_l, acc_f), total, seen = carry
            v_rows = sparse.gather(factors, rows[i])
            w_rows = (
                sparse.gather(linear, rows[i])
                if self.linear_terms
                else ops.zeros(rows.shape[1:], "float32")
            )
            w, v = w_rows[inverse[i]], v_rows[inverse[i]]
            loss, n, g_bias, dw, dv = self.gradient(w, v, *self.logit(bias, w, v), y[i], weight[i])
            flat, u = ops.reshape(inverse[i], (-1,)), rows.shape[1]
            g_factors = jax.ops.segment_sum(ops.reshape(dv, (-1, *v.shape[2:])), flat, u)
            factors, acc_f = sparse.adagrad_rows(
                factors, acc_f, rows[i], v_rows, g_factors, lr, epsilon
            )
            if self.linear_terms:
                g_linear = jax.ops.segment_sum(ops.reshape(dw, (-1,)), flat, u)
                linear, acc_l = sparse.adagrad_rows(
                    linear, acc_l, rows[i], w_rows, g_linear, lr, epsilon
                )
                bias, acc_b = sparse.adagrad(bias, acc_b, g_bias, lr, epsilon)
            return (bias, linear, factors), (acc_b, acc_l, acc_f), total + loss * n, seen + n

        zero = ops.zeros((), "float32")
        params, accumulators, total, seen = jax.lax.fori_loop(
            0, rows.shape[0], step, (tuple(params), tuple(accumulators), zero, zero)
        )
        trainable, optimizer_variables = list(trainable), list(optimizer_variables)
        for i, value in zip(slots.params, params, strict=True):
            trainable[i] = value
        for i, value in zip(slots.accumulators, accumulators, strict=True):
            optimizer_variables[i] = value
        steps = ops.sum(ops.cast(ops.sum(weight, axis=1) > 0, "int32"))  # empty ones aside
        optimizer_variables[slots.iterations] = optimizer_variables[slots.iterations] + steps
        logs, metrics_variables = self._loss_logs(
            metrics_variables, total / ops.maximum(seen, 1.0), seen
        )
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def _loss_logs(self, metrics_variables, loss, rows):
        """Update the loss metric statelessly; return the logs and the new metric values."""
        mapping = list(zip(self.metrics_variables, metrics_variables, strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            for metric in self.metrics:  # the loss only: build() compiles no other metric
                if metric.name == "loss":
                    metric.update_state(loss, sample_weight=rows)
            logs = {metric.name: metric.result() for metric in self.metrics}
        new = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, [v if n is None else n for v, n in zip(metrics_variables, new, strict=True)]

    def _slots(self) -> _Slots:
        """Return where bias, linear, factors and their AdaGrad state sit in Keras's state lists."""
        optimizer = self.optimizer
        if not isinstance(optimizer, Adagrad):
            raise TypeError(
                f"FFM trains with stagebook's Adagrad (lazy, row-wise), not "
                f"{type(optimizer).__name__}: compile it with recsys.ffm.build"
            )
        paths = [v.path for v in self.trainable_variables]
        params = [paths.index(v.path) for v in (self.bias, self.linear, self.factors)]
        slots = [v.path for v in optimizer.variables]
        return _Slots(
            params=params,
            accumulators=[
                slots.index(optimizer._accumulators[optimizer._get_variable_index(v)].path)
                for v in (self.bias, self.linear, self.factors)
            ],
            learning_rate=next(
                i for i, v in enumerate(optimizer.variables) if v.name == "learning_rate"
            ),
            iterations=slots.index(optimizer.iterations.path),
        )

    def get_config(self) -> dict:
        """Return the constructor arguments, for saving."""
        return {
            **super().get_config(),
            "n_features": self.n_features,
            "n_fields": self.n_fields,
            "k": self.k,
            "l2": self.l2,
            "linear_terms": self.linear_terms,
            "init_scale": self.init_scale,
        }

    def export(self) -> dict[str, np.ndarray]:
        """Return the weights as numpy arrays, for :mod:`recsys.scoring`.

        Without linear terms, the bias and linear weights are exported as zeros
        (what the model adds), whatever their variables hold.
        """
        bias, linear = (
            np.asarray(ops.convert_to_numpy(self.bias)),
            ops.convert_to_numpy(self.linear),
        )
        if not self.linear_terms:
            bias, linear = np.zeros_like(bias), np.zeros_like(linear)
        return {"bias": bias, "linear": linear, "factors": ops.convert_to_numpy(self.factors)}
