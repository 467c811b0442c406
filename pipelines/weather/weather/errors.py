"""The weather pipeline's own errors; each class says whether another try can help.

None of them can: the data, a failed check or a date already published stay as
they are on the next try.
"""

from __future__ import annotations

from stagebook.errors import MissingInputError, StagebookError


class NoObservations(MissingInputError):
    """A date the dataset has no observation for (before its first day or after the anchor)."""


class ValidationFailed(StagebookError):
    """The forecast breached one or more hard limits of the validation gate."""

    retryable = False


class NotValidated(StagebookError):
    """The forecast to publish is not the one validation passed, or no reviewer approved it."""

    retryable = False


class AlreadyPublished(StagebookError):
    """Another forecast was published for this date: a published forecast is never replaced."""

    retryable = False
