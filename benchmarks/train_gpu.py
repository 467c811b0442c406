"""The train stage on a GPU worker against this machine's CPUs: time-to-train and AUC.

    python benchmarks/train_gpu.py [--events-per-day 512000] [--out benchmarks/results/train-gpu.json]

Run on a host with the project's environment and the ``gpu`` dependency group
(JAX's CUDA build: ``uv sync --group gpu``, as the ``worker_gpu`` hosts of
``ansible/inventories/{prod,beta}`` install it). The input tables and the prod
features of one date are built once, on synthetic data at ``--events-per-day``
over the 60-day window; then the train stage (``prod.train``) runs through
``stagebook run --only``, the operator and the stage runner as a worker runs it,
twice on the same data and params: with JAX's default device (the GPU), and with
``JAX_PLATFORMS=cpu``. Each try's sidecar gives the stage's time and its test
AUC. Goal: the whole stage >= 10x faster on the GPU, the same AUC +-0.002.
Never run by ``make test``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runs import DS, environ, params_file, sidecars, stagebook  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "train-gpu.json"


def _device() -> str:
    """Return the GPU's name as nvidia-smi says it, or what is missing."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout.strip() or "no GPU (nvidia-smi printed nothing)"
    except OSError:
        return "no GPU (no nvidia-smi)"


def _train(env: dict[str, str], home: Path) -> dict:
    """Run ``prod.train`` once more on the built features; return its time and AUC."""
    before = {s["run_id"] for s in sidecars(home) if s.get("stage") == "20-train"}
    wall = stagebook(env, "run", "--ds", DS, "--phases", "prod", "--only", r"prod\.train")
    tried = [
        s for s in sidecars(home) if s.get("stage") == "20-train" and s["run_id"] not in before
    ]
    found = max(tried, key=lambda s: s["try_number"])  # a retried stage: its last try
    return {
        "stage_s": found.get("duration_s"),
        "command_s": round(wall, 2),
        "test_auc": (found.get("records") or {}).get("metrics", {}).get("test_auc"),
        "device": (found.get("records") or {}).get("metrics", {}).get("device"),
        "kernel_peak_rss_mb": found.get("kernel_peak_rss_mb"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events-per-day", type=int, default=512_000)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stagebook-train-gpu-") as tmp:
        changes = {"data.source": "synthetic", "data.events_per_day": args.events_per_day}
        params = params_file(Path(tmp) / "params", changes)
        home = Path(tmp) / "home"
        env = environ(home, STAGEBOOK_PARAMS_RECOMMENDATIONS=str(params))
        stagebook(
            env, "run", "--ds", DS, "--phases", "prod", "--only", r"input_tables|prod\.features"
        )
        gpu = _train(env, home)
        if gpu["device"] != "gpu":  # JAX falls back to the CPU with a warning only
            raise SystemExit(
                f"the train stage ran on {gpu['device']!r}, not a GPU: install the gpu "
                "dependency group (uv sync --group gpu) on a host with NVIDIA's driver"
            )
        cpu = _train({**env, "JAX_PLATFORMS": "cpu"}, home)
    result = {
        "device": _device(),
        "events_per_day": args.events_per_day,
        "gpu": gpu,
        "cpu": cpu,
        "speedup": round(cpu["stage_s"] / gpu["stage_s"], 2)
        if gpu["stage_s"] and cpu["stage_s"]
        else None,
        "auc_delta": round(gpu["test_auc"] - cpu["test_auc"], 4)
        if None not in (gpu["test_auc"], cpu["test_auc"])
        else None,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
