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


def load(path: Path):
    with np.load(path) as d:
        return d["x"], d["y"], int(d["n_train"]), int(d["n_features"]), int(d["n_user_fields"])


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


def run_xlearn(path: Path) -> dict:
    import xlearn as xl

    x, y, n, _, _ = load(path)
    with tempfile.TemporaryDirectory() as tmp:
        train, test = Path(tmp) / "train.txt", Path(tmp) / "test.txt"
        write_libffm_text(train, x[:n], y[:n])
        write_libffm_text(test, x[n:], y[n:])
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
        # the per-epoch table: "[ 25%]  1  0.46  0.01" -> epoch, train loss, seconds
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
        # the per-epoch table: "[  25%      ]     1     0.598442     0.06" -> last column, seconds
        seconds = [
            float(line.split()[-1])
            for line in text.splitlines()
            if re.match(r"\[\s*\d+%\s*\]", line)
        ]
        prob = np.loadtxt(Path(tmp) / "out.txt")
    np.save(predictions(path, "xlearn"), prob)
    return {
        "samples_per_s": n / statistics.median(seconds[1:]),
        "epochs_samples_per_s": [n / s if s else None for s in seconds],  # 2-decimal seconds
    }


def run_libffm(path: Path) -> dict:
    import pylibffm
    import scipy.sparse as sparse

    x, y, n, n_features, _ = load(path)

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
        seconds = (time.perf_counter() - start) / EPOCHS
    prob = model.predict(csr(x[n:]), fields)
    np.save(predictions(path, "libffm"), prob)
    return {"samples_per_s": n / seconds}
