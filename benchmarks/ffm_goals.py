"""The goals of ``make bench-ffm``: what each compares, its bound, and the tables printed.

``benchmarks/ffm.py`` runs the implementations and keeps a row per run (the medians
of its repeats); this module names the runs and judges the rows.
"""

from __future__ import annotations

SCALES = (1, 10, 50, 500)
PHASES = ("prod", "beta")


def tag(impl: str, scale: int = 1, phase: str | None = None) -> str:
    """Return a run's name: its implementation, then its phase or its vocabulary scale."""
    return impl + (f"-{phase}" if phase else "") + (f"-x{scale}" if scale > 1 else "")


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
