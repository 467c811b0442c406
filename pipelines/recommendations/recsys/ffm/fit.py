"""Training the FFM: the compiled model, its input blocks, the fit loop and its guards."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from recsys import features
from recsys.errors import InvalidLossError
from recsys.ffm.blocks import BLOCK, Blocks, Streamed
from recsys.ffm.model import FFM, Adagrad
from recsys.paths import File
from stagebook import atomic

if TYPE_CHECKING:
    from recsys.training import Stream

__all__ = ["BLOCK", "Blocks", "build", "fit", "save"]

INITIAL_ACCUMULATOR = 1e-6


class LossGuard(keras.callbacks.Callback):
    """Raise :class:`InvalidLossError` as soon as a step's loss is nan or infinite.

    A step is one minibatch, or a block of ``block`` minibatches (:class:`Blocks`).
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


def build(
    n_features: int,
    n_fields: int,
    k: int,
    l2: float,
    lr: float,
    *,
    seed: int = 0,
    linear_terms: bool = False,
    init_scale: float = 0.1,
) -> FFM:
    """Return a compiled FFM, trained with AdaGrad on the logit's binary cross-entropy.

    AdaGrad, as libffm and xLearn use, with a tiny initial accumulator: a batch's
    gradient of a rarely seen row is about 1/batch of a per-sample one, and an
    accumulator of 0.1 (Keras's default) would freeze those rows. Measured on the
    benchmark's split, AdaGrad reaches the references' test logloss where Adam,
    at any learning rate, stayed 0.006-0.010 above it.

    The step is compiled (XLA) and each call runs a block of ``BLOCK``
    minibatches (:class:`Blocks`), so the Python loop is out of the hot path.
    """
    keras.utils.set_random_seed(seed)  # the initial factors, so a run can be repeated
    model = FFM(n_features, n_fields, k, l2, linear_terms=linear_terms, init_scale=init_scale)
    model.compile(
        optimizer=Adagrad(learning_rate=lr, initial_accumulator_value=INITIAL_ACCUMULATOR),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


def fit(
    model: FFM,
    train: tuple[np.ndarray, np.ndarray] | Stream,
    valid: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    lr: float,
    seed: int,
    spill: Path | None = None,
) -> list[dict[str, float]]:
    """Train; return each epoch's losses and training speed.

    ``train`` is ``(x, y)`` in memory (:class:`Blocks`) or a
    :class:`~recsys.training.Stream` on disk (:class:`Streamed`: a chunk at a
    time, its dealt chunks spilled under ``spill``). With ``valid``, stop early
    on its loss and keep the best epoch's weights; without, run all ``epochs``.

    Raises:
        InvalidLossError: as soon as the loss is nan or infinite (during the epoch).
    """
    keras.utils.set_random_seed(seed)
    options = {"batch_size": batch_size, "n_features": model.n_features, "seed": seed}
    in_memory = isinstance(train, tuple)
    data = Blocks(*train, **options) if in_memory else Streamed(train, **options, spill=spill)
    rows = len(train[0]) if in_memory else len(train)
    # build the model, its loss and the optimizer on plain ids, symbolically: fit's own
    # build would call the model on a block of the training data
    one = np.zeros((1, model.n_fields), np.int32)
    model._symbolic_build(data_batch=(one, np.zeros(1, np.float32)))
    timer = EpochTimer()
    callbacks = [LossGuard(lr, data.block), timer]
    if valid is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
        )
    try:
        history = model.fit(
            data,
            validation_data=valid,
            validation_batch_size=8192,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
            shuffle=in_memory,  # Keras deals a stream's blocks in order: its chunks come in order
        )
    finally:
        if not in_memory:
            data.close()  # its spilled chunks
    return _losses(history.history, rows, timer.seconds, lr)


def _losses(
    history: dict[str, list[float]], rows: int, seconds: list[float], lr: float
) -> list[dict[str, float]]:
    """Return each epoch's losses and samples/s, refusing a non-finite one."""
    losses = []
    for epoch, loss in enumerate(history["loss"], start=1):
        val_loss = history["val_loss"][epoch - 1] if "val_loss" in history else None
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
                "samples_per_s": rows / seconds[epoch - 1],
            }
        )
    return losses


def save(model: FFM, vocab: features.Vocabulary, description: dict[str, Any], folder: Path) -> None:
    """Write a trained model's folder whole: Keras model, exported weights, vocabulary, description."""
    with atomic.replacing(folder) as tmp:
        model.save(File.MODEL.of(tmp))
        np.savez(File.WEIGHTS.of(tmp), **model.export())
        features.save(vocab, tmp)
        atomic.write_json(File.SIGNATURE.of(tmp), description)
