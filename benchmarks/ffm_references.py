"""The benchmark's protocol (hyper-parameters, the split file) and the reference runners.

xLearn and libffm run here, each in its own environment under ``benchmarks/.envs``
(numpy < 2, no Stagebook): this module imports nothing of the project.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

K, EPOCHS, BATCH, THREADS = 4, 4, 4096, 2


def load(path: Path, scale: int = 1):
    """Return a data set's ids, labels, training rows, feature count and user fields.

    With ``scale`` > 1, the same rows on a table ``scale`` times larger: feature
    f becomes ``f * scale + h(f)``, ``h`` a fixed hash in ``[0, scale)``. Every
    sample, repeat and field is unchanged (so is what a model can learn); only
    the vocabulary grows, with the features spread over it as a large
    vocabulary spreads the ones a minibatch touches.
    """
    with np.load(path) as d:
        x, y, n = d["x"], d["y"], int(d["n_train"])
        n_features, n_user_fields = int(d["n_features"]), int(d["n_user_fields"])
    if scale > 1:
        wide = x.astype(np.int64)
        x = (wide * scale + (wide * 2654435761 % 2**32) % scale).astype(np.int32)
        n_features *= scale
    return x, y, n, n_features, n_user_fields


def predictions(path: Path, impl: str) -> Path:
    """Return where ``impl`` leaves its test-set probabilities for data set ``path``."""
    return path.with_name(f"{path.stem}.{impl}.npy")


def write_libffm_text(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    fields = np.arange(x.shape[1])
    with path.open("w") as out:
        for label, row in zip(y.astype(int), x, strict=True):
            out.write(
                f"{label} "
                + " ".join(f"{f}:{v}:1" for f, v in zip(fields, row, strict=True))
                + "\n"
            )


def steady(n: int, seconds: list[float], total: float) -> dict:
    """Return the steady rate (median epoch after the first), the time to train and its fixed cost.

    The fixed cost is what the whole fit took beyond its epochs at the steady
    rate: compiling, warming up, initialising the model, the first pass.
    """
    rate = n / statistics.median(seconds[1:])
    return {
        "samples_per_s": rate,
        "epochs_samples_per_s": [n / s if s else None for s in seconds],
        "time_to_train_s": total,
        "fixed_cost_s": total - len(seconds) * n / rate,
    }


def run_xlearn(path: Path, scale: int = 1) -> dict:
    import xlearn as xl

    x, y, n, _, _ = load(path, scale)
    # the text files once a data set and scale (xLearn's reading is not timed)
    train, test = (path.with_name(f"{path.stem}.x{scale}.{part}.txt") for part in ("train", "test"))
    if not test.exists():
        write_libffm_text(train, x[:n], y[:n])
        write_libffm_text(test, x[n:], y[n:])
    with tempfile.TemporaryDirectory() as tmp:
        model = xl.create_ffm()
        model.setTrain(str(train))
        model.setTest(str(test))
        model.setSigmoid()
        log = Path(tmp) / "xlearn.log"
        fd = os.dup(1)
        with log.open("w") as sink:
            os.dup2(sink.fileno(), 1)
            try:
                param = {
                    "task": "binary",
                    "lr": 0.2,
                    "lambda": 2e-5,
                    "k": K,
                    "epoch": EPOCHS,
                    "nthread": THREADS,
                }
                model.fit(param, str(Path(tmp) / "model.out"))
                model.predict(str(Path(tmp) / "model.out"), str(Path(tmp) / "out.txt"))
            finally:
                os.dup2(fd, 1)
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
        prob = np.loadtxt(Path(tmp) / "out.txt")
    np.save(predictions(path, "xlearn"), prob)
    # the per-epoch table: "[  25%      ]     1     0.598442     0.06" -> last column, seconds
    # (2 decimals); and the time to train: the total of fit, less reading the
    # text file and saving the model
    seconds = [
        float(line.split()[-1]) for line in text.splitlines() if re.match(r"\[\s*\d+%\s*\]", line)
    ]

    def cost(what: str) -> float:
        return sum(float(v) for v in re.findall(rf"Time cost for {what}: ([0-9.]+)", text))

    totals = [float(v) for v in re.findall(r"Total time cost: ([0-9.]+)", text)]
    return steady(n, seconds, totals[0] - cost("reading problem") - cost("saving model"))


def run_libffm(path: Path, scale: int = 1) -> dict:
    import pylibffm
    import scipy.sparse as sparse

    x, y, n, n_features, _ = load(path, scale)

    def csr(rows):
        indptr = np.arange(0, rows.size + 1, rows.shape[1])
        return sparse.csr_matrix(
            (np.ones(rows.size, np.float32), rows.ravel(), indptr), shape=(len(rows), n_features)
        )

    fields = np.zeros(n_features, np.int32)
    for f in range(x.shape[1]):
        fields[np.unique(x[:, f])] = f
    with tempfile.TemporaryDirectory() as tmp:
        train_bin, _ = pylibffm.make_bin(tmp, csr(x[:n]), y[:n].astype(np.int32), fields)
        options = {"eta": 0.2, "lambda": 2e-5, "k": K, "nr_iters": EPOCHS, "nr_threads": THREADS}
        start = time.perf_counter()
        model = pylibffm.train_with_bin(train_bin, options)
        total = time.perf_counter() - start
    prob = model.predict(csr(x[n:]), fields)
    np.save(predictions(path, "libffm"), prob)
    return {"samples_per_s": n * EPOCHS / total, "time_to_train_s": total}  # no epoch times
