import numpy as np
import pytest

from recsys import scoring
from recsys.ffm import FFM


@pytest.mark.parametrize("linear_terms", [False, True])
def test_decomposed_scores_equal_the_model_and_give_the_same_top_k(linear_terms):
    rng = np.random.default_rng(0)
    sizes = [50, 4, 3, 30, 6, 5]  # three user fields, three item fields
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    model = FFM(sum(sizes), len(sizes), k=4, linear_terms=linear_terms)
    for w in model.weights:  # away from the zero init, so every term matters
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    users = np.stack([offsets[f] + rng.integers(0, sizes[f], 40) for f in range(3)], axis=1)
    items = np.stack([offsets[f] + rng.integers(0, sizes[f], 25) for f in range(3, 6)], axis=1)
    pairs = np.concatenate(
        [np.repeat(users, len(items), axis=0), np.tile(items, (len(users), 1))], axis=1
    )
    expected = np.asarray(model(pairs)).reshape(len(users), len(items))

    weights = model.export()
    ut, uv, it, iv = scoring.decompose(weights, users, items, 3)
    np.testing.assert_allclose(uv @ iv.T + ut[:, None] + it[None, :], expected, atol=1e-5)

    got = list(scoring.top_k(weights, users, items, 3, 5, block=7))
    best = np.concatenate([b for _, b, _ in got])
    assert np.array_equal(best, np.argsort(-expected, axis=1, kind="stable")[:, :5])


def test_excluded_pairs_are_never_recommended():
    rng = np.random.default_rng(1)
    weights = {
        "bias": np.float32(0.0),
        "linear": rng.normal(size=20).astype("float32"),
        "factors": rng.normal(size=(20, 2, 3)).astype("float32"),
    }
    users = np.arange(0, 10)[:, None]
    items = np.arange(10, 20)[:, None]
    exclude = np.array([[u, i] for u in range(10) for i in range(0, 10, 2)])
    for _rows, best, logits in scoring.top_k(weights, users, items, 1, 3, exclude=exclude, block=4):
        assert (best % 2 == 1).all()
        assert np.isfinite(logits).all()
