"""Model signatures: one per training try, readable, sorted by training time."""

import datetime as dt

import pytest

from recsys import signature
from stagebook.errors import MissingInputError

DS = dt.date(2019, 11, 20)
AT = dt.datetime(2026, 12, 6, 8, 57, 12, 345678)
OLD = "ffm.TH.202612060857_20191120"  # minute resolution, as archives made before hold


def test_two_runs_of_one_date_training_in_the_same_minute_get_different_signatures():
    scheduled = signature.make("TH", AT, DS, run_id="scheduled__2019-11-20", try_number=1)
    manual = signature.make("TH", AT, DS, run_id="manual__2026-12-06T08:50", try_number=1)
    retried = signature.make("TH", AT, DS, run_id="scheduled__2019-11-20", try_number=2)
    by_hand = signature.make(
        "TH", AT.replace(microsecond=1), DS, run_id="manual", try_number=1
    )  # two notebooks run by hand share run and try: the instant tells them apart
    by_hand_too = signature.make("TH", AT.replace(microsecond=2), DS, run_id="manual", try_number=1)
    assert len({scheduled, manual, retried, by_hand, by_hand_too}) == 5
    assert scheduled.startswith("ffm.TH.20261206085712_20191120_")
    assert signature.make("TH", AT, DS, run_id="scheduled__2019-11-20", try_number=1) == scheduled


def test_parse_reads_new_and_old_signatures():
    new = signature.make("TH", AT, DS, run_id="r", try_number=1)
    parsed = signature.parse(new)
    assert (parsed["market"], parsed["trained_at"], parsed["ds"]) == (
        "TH",
        "20261206085712",
        "20191120",
    )
    assert len(parsed["try_id"]) == 6
    assert signature.parse(OLD) == {
        "market": "TH",
        "trained_at": "202612060857",
        "ds": "20191120",
        "try_id": None,
    }


def test_latest_picks_the_newest_training_among_old_and_new_signatures(tmp_path):
    def made(at, run_id):
        return signature.make("TH", at, DS, run_id=run_id, try_number=1)

    before_old = made(dt.datetime(2026, 12, 6, 8, 56, 59), "a")
    after_old = made(dt.datetime(2026, 12, 6, 8, 58, 1), "b")
    for name in (after_old, OLD, before_old):
        (tmp_path / name).mkdir()
    assert signature.latest(tmp_path) == after_old
    (tmp_path / after_old).rmdir()
    assert signature.latest(tmp_path) == OLD


def test_a_malformed_signature_is_a_one_line_error_naming_it():
    with pytest.raises(
        MissingInputError, match=r"'ffm\.TH\.2026_2019' is not of the form"
    ) as caught:
        signature.parse("ffm.TH.2026_2019")
    assert "\n" not in str(caught.value)
