import pytest

from recsys import errors as app_errors
from stagebook import errors


class AppSpecific(errors.MissingInputError):
    """An application's own error: its class, not its name, says it is not retried."""


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (app_errors.InvalidLossError, True),
        (app_errors.SinkUnavailable, True),
        (errors.MissingInputError, False),
        (app_errors.ValidationFailed, False),
        (errors.DateError, False),
        (errors.NotebookContractError, False),
        (errors.RecordError, False),
        (errors.RunConfError, False),
        (app_errors.SinkConfigError, False),
        (app_errors.NotValidated, False),
        (AppSpecific, False),
    ],
)
def test_each_error_class_says_itself_whether_a_retry_can_help(cls, retryable):
    assert issubclass(cls, errors.StagebookError)
    assert cls("x").retryable is retryable


def test_the_frameworks_errors_name_no_error_of_the_app():
    for name in ("InvalidLossError", "ValidationFailed", "NotValidated", "SinkUnavailable"):
        assert not hasattr(errors, name)
    assert not hasattr(errors, "is_retryable")  # a class name decides nothing any more


def test_errors_for_bad_input_are_stagebook_errors_and_value_errors():
    for cls in (errors.ParamsError, errors.DateError, errors.RecordError):
        assert issubclass(cls, errors.StagebookError) and issubclass(cls, ValueError)
