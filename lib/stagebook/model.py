"""The field-aware factorization machine (FFM) in Keras 3, with ``keras.ops`` only.

Any Keras backend runs it. Importing this module imports Keras and its backend
(about 5 s for TensorFlow), so only the stages that train import it; scoring
uses the exported weights through :mod:`stagebook.scoring`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from stagebook.errors import InvalidLossError


@keras.saving.register_keras_serializable(package="stagebook")
class FFM(keras.Model):
    """Bias + linear terms + pairwise field-aware interactions over ``n_fields`` fields.

    Input: an int matrix ``[batch, n_fields]`` of global feature indices, one per
    field. Output: the click logit. L2 applies to the embedding rows the batch
    uses (as libffm does), not to the whole table.
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
        self.pairs = np.triu(np.ones((n_fields, n_fields), dtype="float32"), k=1)

    def call(self, x, training: bool = False):
        """Return the logit of each row of ``x``."""
        x = ops.cast(x, "int32")
        w = ops.take(self.linear, x, axis=0)  # [B, F]
        v = ops.take(self.factors, x, axis=0)  # [B, F, F, k]: v[b, i, j] = V[x_i, field j]
        cross = ops.sum(v * ops.transpose(v, (0, 2, 1, 3)), axis=-1)  # <V[x_i, j], V[x_j, i]>
        logit = self.bias + ops.sum(w, axis=1) + ops.sum(cross * self.pairs, axis=(1, 2))
        if training and self.l2:
            rows = ops.sum(ops.square(v), axis=(1, 2, 3)) + ops.sum(ops.square(w), axis=1)
            self.add_loss(self.l2 * ops.mean(rows))
        return logit

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
    """Raise :class:`InvalidLossError` as soon as a batch's loss is nan or infinite."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch, for the error message."""
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Stop training on the first non-finite loss."""
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise InvalidLossError(
                f"training loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}, with "
                f"learning rate {self.lr:g}: the next try lowers it by train.lr_decay"
            )


def build(n_features: int, n_fields: int, k: int, l2: float, lr: float) -> FFM:
    """Return a compiled FFM, trained with Adam on the logit's binary cross-entropy."""
    model = FFM(n_features, n_fields, k, l2)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )
    return model


def fit(
    model: FFM,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    lr: float,
    seed: int,
) -> list[dict[str, float]]:
    """Train with early stopping on the validation loss; return the losses of every epoch."""
    keras.utils.set_random_seed(seed)
    history = model.fit(
        train[0],
        train[1].astype("float32"),
        validation_data=(valid[0], valid[1].astype("float32")),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            LossGuard(lr),
            keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True),
        ],
    )
    losses = []
    for epoch, (loss, val_loss) in enumerate(
        zip(history.history["loss"], history.history["val_loss"], strict=True), start=1
    ):
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            raise InvalidLossError(
                f"loss {loss} / validation loss {val_loss} at the end of epoch {epoch} with "
                f"learning rate {lr:g}: the next try lowers it by train.lr_decay"
            )
        losses.append({"epoch": epoch, "loss": float(loss), "val_loss": float(val_loss)})
    return losses
