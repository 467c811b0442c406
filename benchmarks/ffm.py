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
  (``recsys.training.Stream``, ``ffm_children.STREAM_CHUNK`` rows at a time), interleaved with
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

This module prepares the data and drives the runs; each run is a process of
``ffm_children.py``, and ``ffm_goals.py`` names the goals and prints the tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ffm_goals import PHASES, SCALES, goals, summary, table, tag  # beside this file
from ffm_references import THREADS, load, predictions

# the pipeline these figures are of: its params, whatever else the project holds
os.environ.setdefault("STAGEBOOK_PIPELINE", "recommendations")

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "benchmarks" / ".envs"
RESULTS = REPO / "benchmarks" / "results" / "ffm.json"
HISTORY = REPO / "benchmarks" / "results" / "ffm-runs.json"  # the goals of every run, in turn
CHILD = Path(__file__).with_name("ffm_children.py")  # each run, in a process of its own
REPEATS = 3  # Stagebook and xLearn, interleaved, each row the medians (the machine is shared)


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


# --- driver --------------------------------------------------------------------------------


def child(python: Path, impl: str, path: Path, scale: int = 1, phase: str = "") -> dict:
    env = {
        **os.environ,
        "USER": os.environ.get("USER", "stagebook"),
        "OMP_NUM_THREADS": str(THREADS),
    }
    proc = subprocess.Popen(
        [str(python), str(CHILD), impl, str(path), str(scale), phase],
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


if __name__ == "__main__":
    main()
