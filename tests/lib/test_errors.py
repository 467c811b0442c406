import pytest

from stagebook import errors


class AppSpecific(errors.MissingInputError):
    """An application's own error: its class, not its name, says it is not retried."""


@pytest.mark.parametrize(
    ("ename", "retryable"),
    [
        ("InvalidLossError", True),
        ("SinkUnavailable", True),
        ("MissingInputError", False),
        ("ValidationFailed", False),
        ("DateError", False),
        ("NotebookContractError", False),
        ("RecordError", False),
        ("RunConfError", False),
        ("SinkConfigError", False),
        ("NotValidated", False),
        ("AppSpecific", False),
        ("ZeroDivisionError", True),  # not ours: a crash may be transient
    ],
)
def test_whether_a_notebook_error_is_retried_comes_from_its_class(ename, retryable):
    assert errors.is_retryable(ename) is retryable


def test_errors_for_bad_input_are_stagebook_errors_and_value_errors():
    for cls in (errors.ParamsError, errors.DateError, errors.RecordError):
        assert issubclass(cls, errors.StagebookError) and issubclass(cls, ValueError)
