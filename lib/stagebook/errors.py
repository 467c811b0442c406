"""The framework's own errors, and the base class of every pipeline's errors.

Every message says what was wrong, where (file, key, date) and what to do.
``retryable`` tells the operator whether another try of the task can help: a
missing partition or a malformed params file cannot, so those fail the task at
once. A pipeline defines its own subclasses in its own package; a stage's
kernel reports their ``retryable`` to the operator (``stagebook.failures``).
"""

from __future__ import annotations


class StagebookError(Exception):
    """Base class of every error raised on purpose, by the framework or by a pipeline."""

    retryable = True


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
