"""What the train stage decides before Keras runs: the held-out split and each try's learning rate."""

from __future__ import annotations

import datetime as dt

import numpy as np


def held_out_split(day: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Return row indices: ``train`` (every day but the last), ``valid`` and ``test``.

    The last day is held out and shuffled with ``seed``: half of it drives early
    stopping (``valid``), the other half is the test set the report scores.
    """
    last = day == day.max()
    held_out = np.flatnonzero(last)
    np.random.default_rng(seed).shuffle(held_out)
    return {
        "train": np.flatnonzero(~last),
        "valid": np.sort(held_out[: len(held_out) // 2]),
        "test": np.sort(held_out[len(held_out) // 2 :]),
    }


def learning_rate(base_lr: float, lr_decay: float, try_number: int) -> float:
    """Return the learning rate of try ``try_number``: ``base_lr * lr_decay ** (try - 1)``."""
    return base_lr * lr_decay ** (try_number - 1)


def explain_learning_rate(base_lr: float, lr_decay: float, try_number: int) -> str:
    """Return the line a report prints about the try's learning rate."""
    lr = learning_rate(base_lr, lr_decay, try_number)
    return (
        f"try {try_number}: learning rate {lr:g} = base_lr {base_lr:g} * lr_decay "
        f"{lr_decay:g} ** {try_number - 1}"
    )


def window(day: np.ndarray) -> tuple[dt.date, dt.date]:
    """Return the first and last date of the days (ordinals) the events cover."""
    return dt.date.fromordinal(int(day.min())), dt.date.fromordinal(int(day.max()))
