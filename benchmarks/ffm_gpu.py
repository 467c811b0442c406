"""FFM training on an accelerator, the data resident on the device.

    python benchmarks/ffm_gpu.py DATA.npz [--batch 65536] [--scales 1,50,500] [--epochs 4]

The same :meth:`FFM.train_step` (lazy AdaGrad) as ``make bench-ffm``, on the
same data file (``ffm.py`` writes it: ``synthetic.npz``) and vocabulary
scales. What differs is who drives it: the minibatches (deduplicated once,
:class:`~recsys.ffm.fit.Blocks`) are copied to the device once, and
each epoch is one compiled loop over the blocks, in a new order each epoch, the
model's state donated; Keras's ``fit`` would copy each block from the host and
return to Python between blocks. Never run by ``make test``; nothing in the
project needs an accelerator. Prints one JSON line a run, with the device named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ffm_references import K, load  # noqa: E402


def ffm_only() -> None:
    """Make ``recsys.ffm`` importable without the rest of Stagebook.

    An accelerator machine has JAX and Keras, not Stagebook's whole
    environment (Airflow, pydantic, ...), which ``import stagebook`` would pull
    in: the two parent packages are made bare namespaces over ``lib/``.
    """
    import types

    for name in ("stagebook", "recsys"):
        package = types.ModuleType(name)
        package.__path__ = [str(REPO / "lib" / Path(*name.split(".")))]
        sys.modules.setdefault(name, package)


def train(path: Path, scale: int, batch: int, epochs: int) -> dict:
    import jax
    import jax.numpy as jnp

    from recsys import ffm, metrics
    from recsys.ffm.fit import Blocks

    x, y, n, n_features, _ = load(path, scale)
    start = time.perf_counter()
    model = ffm.build(n_features, x.shape[1], K, 2e-3, 0.1, seed=1)
    data = Blocks(x[:n], y[:n], batch, n_features, seed=1)
    model._symbolic_build(data_batch=(x[:1], y[:1]))
    device = jax.devices()[0]
    rows, inverse, labels, weight = (
        jax.device_put(a, device)
        for a in (data.data.rows, data.data.inverse, data.data.y, data.data.weight)
    )
    groups = (model.trainable_variables, model.non_trainable_variables)
    groups += (model.optimizer.variables, model.metrics_variables)
    state = tuple([jax.device_put(v.value, device) for v in group] for group in groups)
    blocks, size = len(data), data.block

    def epoch(state, order):
        def one(i, state):
            pick = jax.lax.dynamic_slice_in_dim(order, i * size, size)
            block = ((rows[pick], inverse[pick]), labels[pick], weight[pick])
            return model.train_step(state, block)[1]

        return jax.lax.fori_loop(0, blocks, one, state)

    step = jax.jit(epoch, donate_argnums=0)
    rng = np.random.default_rng(1)
    seconds = []
    for _ in range(epochs):
        order = jax.device_put(rng.permutation(len(data.order)).astype(np.int32), device)
        begin = time.perf_counter()
        state = jax.block_until_ready(step(state, order))
        seconds.append(time.perf_counter() - begin)
    total = time.perf_counter() - start
    trainable = state[0]
    logit, _ = model.stateless_call(trainable, state[1], jnp.asarray(x[n:]))
    prob = 1 / (1 + np.exp(-np.asarray(logit)))
    rate = n / statistics.median(seconds[1:])
    return {
        "device": device.device_kind,
        "scale": scale,
        "n_features": n_features,
        "batch_size": batch,
        "samples_per_s": rate,
        "epochs_samples_per_s": [n / s for s in seconds],
        "time_to_train_s": total,
        "fixed_cost_s": total - epochs * n / rate,
        "logloss": metrics.logloss(y[n:], prob),
        "auc": metrics.auc(y[n:], prob),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--batch", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--scales", default="1,50,500")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    ffm_only()
    for scale in map(int, args.scales.split(",")):
        for batch in args.batch:
            print(json.dumps(train(args.data, scale, batch, args.epochs)), flush=True)


if __name__ == "__main__":
    main()
