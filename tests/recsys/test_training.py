import datetime as dt

import numpy as np
import pytest

from recsys import training


def test_the_last_day_is_held_out_half_for_validation_half_for_test():
    day = np.array([1, 1, 2, 3, 3, 3, 3, 3])
    split = training.held_out_split(day, seed=7)
    assert split["train"].tolist() == [0, 1, 2]
    held = np.concatenate([split["valid"], split["test"]])
    assert sorted(held.tolist()) == [3, 4, 5, 6, 7]
    assert len(split["valid"]) == 2 and len(split["test"]) == 3
    again = training.held_out_split(day, seed=7)
    assert all((split[k] == again[k]).all() for k in split)  # the same seed, the same split


@pytest.mark.parametrize(("try_number", "lr"), [(1, 0.1), (2, 0.05), (3, 0.025)])
def test_each_try_decays_the_learning_rate(try_number, lr):
    assert training.learning_rate(0.1, 0.5, try_number) == pytest.approx(lr)


def test_the_report_line_explains_the_learning_rate():
    assert training.explain_learning_rate(1e24, 1e-26, 2) == (
        "try 2: learning rate 0.01 = base_lr 1e+24 * lr_decay 1e-26 ** 1"
    )


def test_the_window_is_the_first_and_last_day_of_the_events():
    day = np.array([dt.date(2019, 11, 20).toordinal(), dt.date(2019, 11, 16).toordinal()])
    assert training.window(day) == (dt.date(2019, 11, 16), dt.date(2019, 11, 20))
