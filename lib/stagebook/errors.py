"""The whole error hierarchy of Stagebook: one class per way a stage can fail.

Every message says what was wrong, where (file, key, date) and what to do.
``retryable`` tells the operator whether another try of the task can help:
a diverging loss can recover with a lower learning rate, a missing partition or
a failed validation cannot, so those fail the task at once.
"""

from __future__ import annotations


class StagebookError(Exception):
    """Base class of every error Stagebook raises on purpose."""

    retryable = True


class ParamsError(StagebookError, ValueError):
    """A params file, or a run's conf, is malformed or names an unknown key."""

    retryable = False


class RunConfError(ParamsError):
    """A run's conf asks for an unknown phase or overrides an unknown key."""


class MissingInputError(StagebookError):
    """An input the stage reads (raw events, tables, features, a model) does not exist."""

    retryable = False


class InvalidLossError(StagebookError):
    """Training produced a nan or infinite loss."""


class ValidationFailed(StagebookError):
    """Recommendations breached one or more validation thresholds."""

    retryable = False


class SinkUnavailable(StagebookError):
    """A publishing sink (Redis) cannot be reached or its connection is not configured.

    Retried: the server may be back by the next try. Nothing is published to any
    sink when one is unavailable.
    """


class NotebookContractError(StagebookError):
    """A stage notebook breaks the stage contract (parameters cell, kernelspec)."""

    retryable = False


class StageFailed(StagebookError):
    """A stage notebook raised; carries the notebook's error and the report path."""

    def __init__(self, message: str, *, ename: str, report: str, retryable: bool) -> None:
        super().__init__(message)
        self.ename = ename
        self.report = report
        self.retryable = retryable


def is_retryable(ename: str) -> bool:
    """Tell whether a notebook error named ``ename`` may succeed on another try."""
    cls = globals().get(ename)
    if isinstance(cls, type) and issubclass(cls, StagebookError):
        return cls.retryable
    return True
