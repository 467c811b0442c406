"""FFM training and scoring, Stagebook's model side by side with xLearn and libffm.

    make bench-ffm        (builds the reference environments first, then runs this)

One run, one split per data set, every implementation in its own process (its
peak RSS its own VmHWM), 2 threads each:

- ``synthetic``: 1 M training rows (+ 250 k test rows) of the synthetic source,
  8 fields, k=4, 4 epochs, batch 4096 (Stagebook; the references are per-sample SGD),
  at 1x, 10x, 50x and 500x its vocabulary (the same rows on a larger table:
  ``ffm_references.load``), Stagebook and xLearn at each, libffm at 1x.
  Stagebook and xLearn run ``REPEATS`` times, interleaved, here and on MovieLens:
  their rows hold the medians (and each run), as the machine is shared.
- ``stagebook-stream``: Stagebook on the synthetic set at 1x, trained from disk
  (``recsys.training.Stream``, ``STREAM_CHUNK`` rows at a time), interleaved with
  the rest: its samples/s and AUC against training in memory.
- ``movielens100k``: the first 80 % of ratings by time to train, the last 20 % to test;
  Stagebook with the benchmark's protocol, and with prod's and beta's own train params.

Reports, for every implementation measured the same way, the time to a trained
model (from the data in memory: model set-up, compile, every epoch) and its
fixed cost, the steady rate (median epoch after the first), test logloss, AUC
and peak RSS; scoring rows/s for 10k users x 1k items with top-10 (the
decomposed scorer against ``model.predict``); and whether each of the goals
holds. Writes ``benchmarks/results/ffm.json`` and appends the goals to
``benchmarks/results/ffm-runs.json``.
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
    steady,
)

# the pipeline these figures are of: its params, whatever else the project holds
os.environ.setdefault("STAGEBOOK_PIPELINE", "recommendations")

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "benchmarks" / ".envs"
RESULTS = REPO / "benchmarks" / "results" / "ffm.json"
HISTORY = REPO / "benchmarks" / "results" / "ffm-runs.json"  # the goals of every run, in turn


# --- data --------------------------------------------------------------------------------


def prepare(folder: Path) -> None:
    """Write each data set's encoded split to ``folder/<name>.npz``."""
    sys.path.insert(0, str(REPO / "lib"))
    from recsys import data, features
    from stagebook import params

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


def scored(path: Path, tag: str) -> dict:
    """Return the test logloss and AUC of ``tag``'s predictions, by recsys.metrics."""
    sys.path.insert(0, str(REPO / "lib"))
    from recsys import metrics

    _, y, n, _, _ = load(path)
    prob = np.load(predictions(path, tag))
    return {"logloss": metrics.logloss(y[n:], prob), "auc": metrics.auc(y[n:], prob)}


# --- implementations, each run in its own process ------------------------------------------


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


# --- driver --------------------------------------------------------------------------------

SCALES = (1, 10, 50, 500)
PHASES = ("prod", "beta")
REPEATS = 3  # Stagebook and xLearn, interleaved, each row the medians (the machine is shared)
STREAM_CHUNK = 262_144  # rows a chunk when the synthetic set trains from disk: 4 chunks of 1 M


def tag(impl: str, scale: int = 1, phase: str | None = None) -> str:
    """Return a run's name: its implementation, then its phase or its vocabulary scale."""
    return impl + (f"-{phase}" if phase else "") + (f"-x{scale}" if scale > 1 else "")


def child(python: Path, impl: str, path: Path, scale: int = 1, phase: str = "") -> dict:
    env = {
        **os.environ,
        "USER": os.environ.get("USER", "stagebook"),
        "OMP_NUM_THREADS": str(THREADS),
    }
    proc = subprocess.Popen(
        [str(python), __file__, "--child", impl, str(path), str(scale), phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    out = proc.stdout.read()
    status = proc.wait()
    if status != 0:
        return {"error": f"exit status {status}"}
    return json.loads(out.decode().strip().splitlines()[-1])


def plan() -> list[tuple[str, str, int, str]]:
    """Return the training runs: (implementation, data set, scale, phase)."""
    runs = [("libffm", "synthetic", 1, ""), ("libffm", "movielens100k", 1, "")]
    for _ in range(REPEATS):
        for scale in SCALES:
            runs += [("stagebook", "synthetic", scale, ""), ("xlearn", "synthetic", scale, "")]
        runs.append(("stagebook-stream", "synthetic", 1, ""))
        runs += [(impl, "movielens100k", 1, "") for impl in ("stagebook", "xlearn")]
    return runs + [("stagebook", "movielens100k", 1, phase) for phase in PHASES]


def medians(runs: list[dict]) -> dict:
    """Return one row for the repeats of a run: the medians, the largest peak RSS, each run."""
    row = {**runs[0]}
    for key in ("samples_per_s", "time_to_train_s", "fixed_cost_s", "logloss", "auc"):
        if all(key in r for r in runs):
            row[key] = statistics.median(r[key] for r in runs)
    if all("peak_rss_mb" in r for r in runs):
        row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    if len(runs) > 1:
        keep = ("samples_per_s", "epochs_samples_per_s", "time_to_train_s", "fixed_cost_s")
        row["runs"] = [{k: r[k] for k in keep if k in r} for r in runs]
        row.pop("epochs_samples_per_s", None)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4, metavar=("IMPL", "DATA", "SCALE", "PHASE"))
    args = parser.parse_args()
    if args.child:
        impl, path, scale, phase = args.child
        path, scale = Path(path), int(scale)
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
        return

    pythons = {
        "stagebook": Path(sys.executable),
        "stagebook-stream": Path(sys.executable),
        "xlearn": ENVS / "xlearn" / "bin" / "python",
        "libffm": ENVS / "libffm" / "bin" / "python",
    }
    found: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp))
        for impl, name, scale, phase in plan():
            path = Path(tmp) / f"{name}.npz"
            result = child(pythons[impl], impl, path, scale, phase)
            if "error" not in result:  # every implementation is scored by the same code
                result.update(scored(path, tag(impl, scale, phase or None)))
            row = {
                "impl": impl,
                "dataset": name,
                "scale": scale,
                **({"phase": phase} if phase else {}),
            }
            runs = found.setdefault((impl, name, scale, phase), [])
            runs.append({**row, "n_features": n_features(path, scale), **result})
            print(json.dumps(runs[-1]), flush=True)
        rows = [medians(runs) for runs in found.values()]
        for impl in ("decomposed", "keras_predict"):
            result = child(Path(sys.executable), impl, Path(tmp) / "synthetic.npz")
            rows.append({"impl": impl, **result})
            print(json.dumps(rows[-1]), flush=True)
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "rows": rows,
        "goals": goals(rows),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    history = json.loads(HISTORY.read_text()) if HISTORY.exists() else []
    HISTORY.write_text(
        json.dumps([*history, {k: report[k] for k in ("date", "goals")}], indent=2) + "\n"
    )
    print(table(rows))
    print(summary(report["goals"]))


def n_features(path: Path, scale: int) -> int:
    with np.load(path) as d:
        return int(d["n_features"]) * scale


def pick(
    rows: list[dict], impl: str, dataset: str, scale: int = 1, phase: str | None = None
) -> dict:
    """Return the row of one run (an empty dict if it is missing)."""
    for r in rows:
        if (r["impl"], r.get("dataset"), r.get("scale"), r.get("phase")) == (
            impl,
            dataset,
            scale,
            phase,
        ):
            return r
    return {}


def goals(rows: list[dict]) -> list[dict]:
    """Return each goal of the benchmark: what it compares, the figure, the bound, whether it holds."""
    out = []

    def goal(name: str, value: float, bound: float, at_least: bool = True) -> None:
        holds = value >= bound if at_least else value <= bound
        out.append({"goal": name, "value": value, "bound": bound, "holds": bool(holds)})

    ours = {s: pick(rows, "stagebook", "synthetic", s) for s in SCALES}
    xl = {s: pick(rows, "xlearn", "synthetic", s) for s in SCALES}
    rate = {s: ours[s].get("samples_per_s", 0.0) for s in SCALES}
    goal("samples/s at 50x / at 1x", rate[50] / rate[1], 0.8)
    goal("samples/s at 500x / at 1x", rate[500] / rate[1], 0.5)
    for s in SCALES:
        goal(
            f"samples/s at {s}x / xLearn's", rate[s] / xl[s].get("samples_per_s", float("inf")), 1.0
        )
    for s in (1, 50):
        goal(
            f"time to train at {s}x: xLearn's / ours",
            xl[s].get("time_to_train_s", 0.0) / ours[s].get("time_to_train_s", float("inf")),
            1.0,
        )
    stream = pick(rows, "stagebook-stream", "synthetic")
    goal("samples/s from disk / in memory", stream.get("samples_per_s", 0.0) / rate[1], 0.9)
    goal("AUC from disk - in memory", stream.get("auc", 0.0) - ours[1].get("auc", 1.0), -0.002)
    goal(
        "synthetic logloss - xLearn's",
        ours[1].get("logloss", float("inf")) - xl[1].get("logloss", 0.0),
        0.002,
        at_least=False,
    )
    libffm = pick(rows, "libffm", "movielens100k")
    for phase in PHASES:
        run = pick(rows, "stagebook", "movielens100k", 1, phase)
        goal(
            f"MovieLens AUC with {phase}'s params - libffm's",
            run.get("auc", 0.0) - libffm.get("auc", 1.0),
            0.0,
        )
        goal(
            f"MovieLens logloss with {phase}'s params - libffm's",
            run.get("logloss", float("inf")) - libffm.get("logloss", 0.0),
            0.002,
            at_least=False,
        )
    ml = pick(rows, "stagebook", "movielens100k")
    goal(
        "MovieLens samples/s / xLearn's",
        ml.get("samples_per_s", 0.0)
        / pick(rows, "xlearn", "movielens100k").get("samples_per_s", float("inf")),
        1.0,
    )
    scorer = next((r for r in rows if r["impl"] == "decomposed"), {})
    goal("scoring rows/s (millions)", scorer.get("rows_per_s", 0.0) / 1e6, 20.0)
    return out


def summary(found: list[dict]) -> str:
    lines = [f"{'goal':<48}{'value':>10}{'bound':>9}  holds"]
    for g in found:
        lines.append(
            f"{g['goal']:<48}{g['value']:>10.4f}{g['bound']:>9.3f}  {'yes' if g['holds'] else 'NO'}"
        )
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    head = f"{'run':<26}{'features':>11}{'samples/s':>12}{'to train s':>11}{'fixed s':>8}{'logloss':>9}{'AUC':>8}{'peak MB':>9}{'table MB':>9}"
    lines = [head]
    for r in rows:
        if "dataset" in r:
            name = f"{tag(r['impl'], r['scale'], r.get('phase'))} {r['dataset'][:9]}"
            lines.append(
                f"{name:<26}{r.get('n_features', 0):>11,}{r.get('samples_per_s', 0):>12,.0f}"
                f"{r.get('time_to_train_s', float('nan')):>11.2f}{r.get('fixed_cost_s', float('nan')):>8.2f}"
                f"{r.get('logloss', float('nan')):>9.4f}{r.get('auc', float('nan')):>8.4f}"
                f"{r.get('peak_rss_mb', 0):>9.0f}{r.get('table_mb', float('nan')):>9.0f}"
            )
    lines.append(f"{'scorer':<37}{'rows/s':>12}{'':>47}{'peak MB':>9}")
    for r in rows:
        if "dataset" not in r:
            lines.append(
                f"{r['impl']:<37}{r.get('rows_per_s', 0):>12,.0f}{'':>47}{r.get('peak_rss_mb', 0):>9.0f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
