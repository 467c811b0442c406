"""FFM training and scoring, Stagebook's model side by side with xLearn and libffm.

    make bench-ffm        (builds the reference environments first, then runs this)

One run, one split per data set, every implementation in its own process (its
peak RSS its own VmHWM), 2 threads each:

- ``synthetic``: 1 M training rows (+ 250 k test rows) of the synthetic source,
  8 fields, k=4, 4 epochs, batch 4096 (Stagebook; the references are per-sample SGD).
- ``movielens100k``: the first 80 % of ratings by time to train, the last 20 % to test.

Reports samples/s (median of epochs 2-4; each epoch's too, for Stagebook and xLearn),
test logloss, AUC and peak RSS; and
scoring rows/s for 10k users x 1k items with top-10: the decomposed scorer
against ``model.predict``. Writes ``benchmarks/results/ffm.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ffm_references import (  # beside this file: the child processes import it too
    BATCH,
    EPOCHS,
    THREADS,
    K,
    load,
    predictions,
    run_libffm,
    run_xlearn,
)

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "benchmarks" / ".envs"
RESULTS = REPO / "benchmarks" / "results" / "ffm.json"


# --- data --------------------------------------------------------------------------------


def prepare(folder: Path) -> list[str]:
    """Write each data set's encoded split to ``folder/<name>.npz``; return the names."""
    sys.path.insert(0, str(REPO / "lib"))
    from stagebook import params
    from stagebook.recsys import data, features

    day = dt.date(2019, 11, 20)
    synth = params.load().data.model_copy(
        update={
            "source": "synthetic",
            "events_per_day": 1_250_000,
            "n_users": 20_000,
            "n_items": 2_000,
        }
    )
    sets = {"synthetic": (data.events_for(synth, day), data.source("synthetic"), 1_000_000)}
    ml = data.movielens_events()
    sets["movielens100k"] = (ml, data.source("movielens100k"), int(len(ml) * 0.8))
    for name, (events, source, n_train) in sets.items():
        vocab = features.build_vocabulary(
            events.iloc[:n_train], source.user_fields, source.item_fields, 1
        )
        np.savez(
            folder / f"{name}.npz",
            x=vocab.encode(events, vocab.fields),
            y=events["label"].to_numpy(np.float32),
            n_train=n_train,
            n_features=vocab.n_features,
            n_user_fields=len(source.user_fields),
        )
    return list(sets)


def scored(path: Path, impl: str) -> dict:
    """Return the test logloss and AUC of ``impl``'s predictions, by stagebook.recsys.metrics."""
    sys.path.insert(0, str(REPO / "lib"))
    from stagebook.recsys import metrics

    _, y, n, _, _ = load(path)
    prob = np.load(predictions(path, impl))
    return {"logloss": metrics.logloss(y[n:], prob), "auc": metrics.auc(y[n:], prob)}


# --- implementations, each run in its own process ------------------------------------------


def run_stagebook(path: Path) -> dict:
    sys.path.insert(0, str(REPO / "lib"))
    from stagebook.recsys import ffm

    x, y, n, n_features, _ = load(path)
    # the references' protocol: every training row, a fixed number of epochs
    lr, l2 = float(os.environ.get("FFM_LR", "0.1")), float(os.environ.get("FFM_L2", "2e-3"))
    model = ffm.build(n_features, x.shape[1], K, l2, lr, seed=1)
    losses = ffm.fit(
        model, (x[:n], y[:n]), None, epochs=EPOCHS, batch_size=BATCH, patience=EPOCHS, lr=lr, seed=1
    )
    prob = 1 / (1 + np.exp(-model.predict(x[n:], batch_size=65536, verbose=0)))
    speed = [row["samples_per_s"] for row in losses]
    np.save(predictions(path, "stagebook"), prob)
    return {"samples_per_s": statistics.median(speed[1:]), "epochs_samples_per_s": speed}


def run_scorer(impl: str, path: Path) -> dict:
    sys.path.insert(0, str(REPO / "lib"))
    from stagebook.recsys import scoring

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
        from stagebook.recsys.ffm import FFM

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


# --- driver --------------------------------------------------------------------------------


def child(python: Path, impl: str, path: Path) -> dict:
    env = {
        **os.environ,
        "USER": os.environ.get("USER", "stagebook"),
        "OMP_NUM_THREADS": str(THREADS),
    }
    proc = subprocess.Popen(
        [str(python), __file__, "--child", impl, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    out = proc.stdout.read()
    status = proc.wait()
    if status != 0:
        return {"error": f"exit status {status}"}
    return json.loads(out.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "DATA"))
    args = parser.parse_args()
    if args.child:
        impl, path = args.child[0], Path(args.child[1])
        runners = {"stagebook": run_stagebook, "xlearn": run_xlearn, "libffm": run_libffm}
        result = runners[impl](path) if impl in runners else run_scorer(impl, path)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return

    pythons = {
        "stagebook": Path(sys.executable),
        "xlearn": ENVS / "xlearn" / "bin" / "python",
        "libffm": ENVS / "libffm" / "bin" / "python",
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        names = prepare(Path(tmp))
        for name in names:
            for impl, python in pythons.items():
                path = Path(tmp) / f"{name}.npz"
                result = child(python, impl, path)
                if "error" not in result:  # every implementation is scored by the same code
                    result.update(scored(path, impl))
                rows.append({"impl": impl, "dataset": name, **result})
                print(json.dumps(rows[-1]), flush=True)
        for impl in ("decomposed", "keras_predict"):
            result = child(Path(sys.executable), impl, Path(tmp) / "synthetic.npz")
            rows.append({"impl": impl, **result})
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    lines = [f"{'impl':<14}{'dataset':<15}{'samples/s':>12}{'logloss':>9}{'AUC':>8}{'peak MB':>9}"]
    for r in rows:
        if "dataset" in r:
            lines.append(
                f"{r['impl']:<14}{r['dataset']:<15}{r.get('samples_per_s', 0):>12,.0f}"
                f"{r.get('logloss', float('nan')):>9.4f}{r.get('auc', float('nan')):>8.4f}{r.get('peak_rss_mb', 0):>9.0f}"
            )
    lines.append(f"{'scorer':<29}{'rows/s':>12}{'':>17}{'peak MB':>9}")
    for r in rows:
        if "dataset" not in r:
            lines.append(
                f"{r['impl']:<29}{r.get('rows_per_s', 0):>12,.0f}{'':>17}{r.get('peak_rss_mb', 0):>9.0f}"
            )
    for name in sorted({r["dataset"] for r in rows if "dataset" in r}):
        by = {r["impl"]: r for r in rows if r.get("dataset") == name}
        ours = by.get("stagebook", {})
        for ref in ("xlearn", "libffm"):
            if "samples_per_s" in by.get(ref, {}) and "samples_per_s" in ours:
                lines.append(
                    f"{name}: stagebook/{ref} speed {ours['samples_per_s'] / by[ref]['samples_per_s']:.2f}x, "
                    f"logloss {ours['logloss'] - by[ref]['logloss']:+.4f}"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
