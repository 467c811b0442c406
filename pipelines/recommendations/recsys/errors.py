"""The recommendation app's own errors; each class says whether another try can help.

A diverging loss can recover with a lower learning rate and a sink may be back on
the next try; a failed validation or a sink that is not configured cannot.
"""

from __future__ import annotations

from stagebook.errors import StagebookError


class InvalidLossError(StagebookError):
    """Training produced a nan or infinite loss (retried: the next try lowers the learning rate)."""


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
