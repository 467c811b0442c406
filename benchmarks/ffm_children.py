"""One training or scoring run of ``make bench-ffm``, in a process of its own.

    python benchmarks/ffm_children.py IMPL DATA.npz SCALE [PHASE]

``benchmarks/ffm.py`` starts one per run, with the Python of the implementation's
own environment (the xLearn and libffm ones too), so that each peak RSS is its own
VmHWM. The last line printed is the run's figures, in JSON; its test predictions
are written beside the data set, for the driver to score.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ffm_goals import tag  # beside this file, as ffm_references
from ffm_references import BATCH, EPOCHS, K, load, predictions, run_libffm, run_xlearn, steady

# the pipeline these figures are of, run by hand too: its params, whatever else the project holds
os.environ.setdefault("STAGEBOOK_PIPELINE", "recommendations")

REPO = Path(__file__).resolve().parents[1]
STREAM_CHUNK = 262_144  # rows a chunk when the synthetic set trains from disk: 4 chunks of 1 M


def run_stagebook(path: Path, scale: int, phase: str | None) -> dict:
    """Train on the benchmark's protocol, or with ``phase``'s own train params."""
    sys.path.insert(0, str(REPO / "lib"))
    from recsys import ffm
    from stagebook import params

    x, y, n, n_features, _ = load(path, scale)
    if phase:
        p = params.load(phase).train
        k, epochs, batch, lr, l2 = p.k, p.epochs, p.batch_size, p.base_lr, p.l2
        model_options = {"linear_terms": p.linear_terms, "init_scale": p.init_scale}
    else:  # the references' protocol: every training row, a fixed number of epochs
        k, epochs, batch, lr, l2 = K, EPOCHS, BATCH, 0.1, 2e-3
        model_options = {}  # the model's defaults, which are the phases' too
    start = time.perf_counter()
    model = ffm.build(n_features, x.shape[1], k, l2, lr, seed=1, **model_options)
    losses = ffm.fit(
        model, (x[:n], y[:n]), None, epochs=epochs, batch_size=batch, patience=epochs, lr=lr, seed=1
    )
    total = time.perf_counter() - start
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=65536, verbose=0)))
    np.save(predictions(path, tag("stagebook", scale, phase)), prob)
    # the weights and their AdaGrad accumulators (one a latent vector for the factors)
    table = sum(v.value.nbytes for v in [*model.weights, *model.optimizer.variables])
    return {
        **steady(n, [n / row["samples_per_s"] for row in losses], total),
        "table_mb": table / 2**20,
        "params": {
            "k": k,
            "epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "l2": l2,
            **model_options,
        },
    }


def run_stream(path: Path) -> dict:
    """Train as :func:`run_stagebook` on the protocol, from disk: ``STREAM_CHUNK`` rows at a time."""
    sys.path.insert(0, str(REPO / "lib"))
    from recsys import encoded, ffm, training

    x, y, n, n_features, _ = load(path)
    with tempfile.TemporaryDirectory() as folder:
        with encoded.Writer(Path(folder), n, x.shape[1]) as out:
            out.append(encoded.Encoded(x[:n], y[:n], np.zeros(n, np.int32)))
        stream = training.Stream.whole(encoded.EncodedEvents(Path(folder)), STREAM_CHUNK)
        start = time.perf_counter()
        model = ffm.build(n_features, x.shape[1], K, 2e-3, 0.1, seed=1)
        losses = ffm.fit(
            model, stream, None, epochs=EPOCHS, batch_size=BATCH, patience=EPOCHS, lr=0.1, seed=1
        )
        total = time.perf_counter() - start
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=65536, verbose=0)))
    np.save(predictions(path, tag("stagebook-stream")), prob)
    return {**steady(n, [n / row["samples_per_s"] for row in losses], total), "chunk": STREAM_CHUNK}


def run_scorer(impl: str, path: Path) -> dict:
    sys.path.insert(0, str(REPO / "lib"))
    from recsys import scoring

    n_users, n_items, top = 10_000, 1_000, 10
    x, _, _, n_features, n_user_fields = load(path)
    rng = np.random.default_rng(0)
    users = x[rng.choice(len(x), n_users), :n_user_fields]
    items = x[rng.choice(len(x), n_items), n_user_fields:]
    weights = {
        "bias": np.float32(0.1),
        "linear": rng.normal(0, 0.1, n_features).astype(np.float32),
        "factors": rng.normal(0, 0.1, (n_features, x.shape[1], K)).astype(np.float32),
    }
    start = time.perf_counter()
    if impl == "decomposed":
        for _ in scoring.top_k(weights, users, items, n_user_fields, top, block=1024):
            pass
    else:
        from recsys.ffm import FFM

        model = FFM(n_features, x.shape[1], K)
        model.set_weights([weights["bias"], weights["linear"], weights["factors"]])
        for block in range(0, n_users, 500):  # 500 users x 1k items per predict call
            u = users[block : block + 500]
            pairs = np.concatenate([np.repeat(u, n_items, 0), np.tile(items, (len(u), 1))], axis=1)
            logits = model.predict(pairs, batch_size=65536, verbose=0).reshape(len(u), n_items)
            np.argpartition(-logits, top, axis=1)[:, :top]
    return {"rows_per_s": n_users * n_items / (time.perf_counter() - start)}


def peak_rss_mb() -> float:
    """Return this process's peak resident set (VmHWM: since exec, unlike ru_maxrss after a fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(impl: str, path: Path, scale: int, phase: str) -> None:
    """Run ``impl`` on the data set at ``path``; print its figures as the last line, in JSON."""
    if impl == "stagebook":
        result = run_stagebook(path, scale, phase or None)
    elif impl == "stagebook-stream":
        result = run_stream(path)
    elif impl in ("xlearn", "libffm"):
        result = {"xlearn": run_xlearn, "libffm": run_libffm}[impl](path, scale)
        os.replace(predictions(path, impl), predictions(path, tag(impl, scale)))
    else:
        result = run_scorer(impl, path)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    impl, path, scale, phase = (sys.argv[1:] + [""])[:4]
    main(impl, Path(path), int(scale), phase)
