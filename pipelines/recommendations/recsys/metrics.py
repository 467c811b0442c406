"""Metrics of a binary classifier, in numpy (no Keras needed to read a model's quality)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def logloss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """Return the mean binary cross-entropy of probabilities ``p`` against labels ``y``."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def base_rate_logloss(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Return the log loss of always predicting the training label rate."""
    return rate_logloss(np.mean(y_train), y_test)


def rate_logloss(rate: float, y_test: np.ndarray) -> float:
    """Return the log loss of always predicting ``rate`` (a training set's label rate)."""
    return logloss(y_test, np.full(len(y_test), rate))


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Return the area under the ROC curve (Mann-Whitney U, ties averaged)."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
