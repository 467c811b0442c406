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

    @classmethod
    def named(cls, ename: str) -> type[StagebookError] | None:
        """Return the subclass called ``ename`` (an application's own included), or None."""
        for sub in cls.__subclasses__():
            if sub.__name__ == ename:
                return sub
            found = sub.named(ename)
            if found is not None:
                return found
        return None


class ParamsError(StagebookError, ValueError):
    """A params file, or a run's conf, is malformed or names an unknown key."""

    retryable = False


class RunConfError(ParamsError):
    """A run's conf asks for an unknown phase or overrides an unknown key."""


class DateError(StagebookError, ValueError):
    """A business date is malformed, or a run has none."""

    retryable = False


class MissingInputError(StagebookError):
    """An input the stage reads (raw events, tables, features, a model) does not exist."""

    retryable = False


class InvalidLossError(StagebookError):
    """Training produced a nan or infinite loss."""


class ValidationFailed(StagebookError):
    """Recommendations breached one or more validation thresholds."""

    retryable = False


class NotValidated(StagebookError):
    """The recommendations to publish are not the ones validation passed, or none passed."""

    retryable = False


class SinkUnavailable(StagebookError):
    """A publishing sink cannot be reached now (retried: the server may be back next try)."""


class SinkConfigError(StagebookError):
    """A publishing sink's connection is not defined or cannot be read."""

    retryable = False


class NotebookContractError(StagebookError):
    """A stage notebook breaks the stage contract (parameters cell, kernelspec, records)."""

    retryable = False


class RecordError(NotebookContractError, ValueError):
    """A record's name is not an identifier or its value is not JSON."""


class PipelineError(StagebookError):
    """The DAG folder cannot be loaded, or does not hold the DAG asked for."""

    retryable = False


class LineageError(StagebookError):
    """No published batch (asset event) exists for the date and phase asked about."""

    retryable = False


class ReplayError(StagebookError):
    """The run, task or try asked to replay is not in the archive."""

    retryable = False


class ApprovalError(StagebookError):
    """The run's approval task is not waiting for an answer, or the answer was refused."""

    retryable = False


class StageFailed(StagebookError):
    """A stage notebook raised; carries the notebook's error and the report path."""

    def __init__(self, message: str, *, ename: str, report: str, retryable: bool) -> None:
        super().__init__(message)
        self.ename = ename
        self.report = report
        self.retryable = retryable


def is_retryable(ename: str) -> bool:
    """Tell whether a notebook error named ``ename`` may succeed on another try.

    A Stagebook error answers with its class's ``retryable``; any other error
    (a crash, an exception of a library) may be transient, so it is retried.
    """
    cls = StagebookError.named(ename)
    return True if cls is None else cls.retryable
