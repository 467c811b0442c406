"""A declaration checks itself when it is imported: each mistake in one line, naming it."""

import pytest

from stagebook.declaration import Pipeline, Stage

A, B = Stage("a", "01-a", records=("rows",)), Stage("b", "02-b", pulls={"rows": "a"})


def declared(**changes):
    base = {"schedule": "0 6 * * *", "timezone": "Europe/Paris", "start": "2019-11-01"}
    return Pipeline(**{**base, "stages": (A, B), **changes})


def test_a_well_formed_declaration_holds():
    assert declared().id == "" and declared(dag_id="sales").id == "sales"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"timezone": "Europe/Parris"}, "timezone 'Europe/Parris' is not an IANA zone"),
        ({"start": "2019-13-01"}, "start '2019-13-01' is not a date"),
        ({"publish_by": ("8 o'clock", 1)}, "publish_by .* write it as \\('HH:MM'"),
        ({"publish_by": ("08:00", 1)}, "publish_by needs a stage whose task is 'publish'"),
        ({"stages": (B, A)}, "stage b: pulls 'rows' from 'a', which is not a stage before it"),
        ({"stages": ()}, "stages is empty"),
    ],
)
def test_a_mistake_is_named_in_one_line(changes, said):
    with pytest.raises(ValueError, match=said) as raised:
        declared(**changes)
    assert "\n" not in str(raised.value)
