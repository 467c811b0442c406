"""The sweep that chose prod's and beta's train params: the MovieLens split, over seeds.

    .venv/bin/python benchmarks/ffm_sweep.py [--seeds 1,2,3]

The split of ``make bench-ffm`` (the first 80 % of ratings by time to train, the
last 20 % to test), every training row, fixed epochs. For each configuration
(k, l2, epochs, linear terms; learning rate 0.1, batch 4096, factors from
U(0, 0.1 / sqrt(k))), the test AUC and logloss of each seed, their mean and
the worst seed. A configuration is only as good as its worst seed: the table
is sorted by it. Writes ``benchmarks/results/ffm-sweep.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
RESULTS = REPO / "benchmarks" / "results" / "ffm-sweep.json"

GRID = {"k": (4, 8), "l2": (2e-3, 3e-3, 4e-3), "epochs": (6, 8), "linear_terms": (False, True)}
LR, BATCH, INIT = 0.1, 4096, 0.1


def _fit_and_score(config: dict, seed: int, vocab, x, y, n: int) -> dict:
    """Train one model of the grid on the first ``n`` rows; return its AUC and logloss on the rest."""
    from recsys import ffm, metrics

    model = ffm.build(
        vocab.n_features,
        len(vocab.fields),
        config["k"],
        config["l2"],
        LR,
        seed=seed,
        linear_terms=config["linear_terms"],
        init_scale=INIT,
    )
    ffm.fit(
        model,
        (x[:n], y[:n]),
        None,
        epochs=config["epochs"],
        batch_size=BATCH,
        patience=config["epochs"],
        lr=LR,
        seed=seed,
    )
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=8192, verbose=0)))
    return {"auc": metrics.auc(y[n:], prob), "logloss": metrics.logloss(y[n:], prob)}


def main() -> None:
    from recsys import data, features

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3")
    seeds = [int(s) for s in parser.parse_args().seeds.split(",")]
    events = data.movielens_events()
    n = int(len(events) * 0.8)
    source = data.source("movielens100k")
    vocab = features.build_vocabulary(events.iloc[:n], source.user_fields, source.item_fields, 1)
    x, y = vocab.encode(events, vocab.fields), events["label"].to_numpy(np.float32)
    rows = []
    for values in itertools.product(*GRID.values()):
        config = dict(zip(GRID, values, strict=True))
        runs = [_fit_and_score(config, seed, vocab, x, y, n) for seed in seeds]
        auc = [r["auc"] for r in runs]
        rows.append(
            {
                **config,
                "lr": LR,
                "batch_size": BATCH,
                "init_scale": INIT,
                "seeds": dict(zip(seeds, runs, strict=True)),
                "auc_mean": statistics.mean(auc),
                "auc_worst": min(auc),
                "logloss_worst": max(r["logloss"] for r in runs),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    rows.sort(key=lambda r: -r["auc_worst"])
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"{'k':>3}{'l2':>8}{'epochs':>7}{'linear':>8}{'AUC mean':>10}{'worst':>8}{'logloss worst':>15}"
    )
    for r in rows:
        print(
            f"{r['k']:>3}{r['l2']:>8g}{r['epochs']:>7}{r['linear_terms']!s:>8}"
            f"{r['auc_mean']:>10.4f}{r['auc_worst']:>8.4f}{r['logloss_worst']:>15.4f}"
        )


if __name__ == "__main__":
    main()
