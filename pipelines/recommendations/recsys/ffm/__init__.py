"""The field-aware factorization machine in Keras 3: the model and its training.

Keras runs on its JAX backend, chosen here before Keras is imported: the
training step (:meth:`FFM.train_step`) is a lazy AdaGrad step on JAX, with
Keras donating the state so the rows a minibatch touches are written in place.
Importing this package imports Keras and JAX, so only the stages that train
import it; scoring uses the exported weights through
:mod:`recsys.scoring`.
"""

import os
import sys

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "jax"  # the training step is JAX's (lazy AdaGrad, donated state)

# XLA:CPU hands reductions to YNNPACK, which splits the step's fusions: the
# gathered [batch, fields, fields, k] blocks are then written out and read back.
# Without it, a step took 0.94-0.97 ms instead of 1.33-1.36 (4096 rows, k=4, 2
# cores); jax-ml/jax#37465 is the same regression, with the same workaround.
# XLA reads its flags when the backend starts: a process that ran JAX before
# importing this package keeps its own.
_YNN_FLAG, _YNN_REDUCE = "--xla_cpu_experimental_ynn_fusion_type", "-reduce"
_XLA_FLAGS = os.environ.get("XLA_FLAGS", "")
if _YNN_FLAG not in _XLA_FLAGS:
    os.environ["XLA_FLAGS"] = f"{_XLA_FLAGS} {_YNN_FLAG}={_YNN_REDUCE}".strip()

import jax  # noqa: E402
import keras  # noqa: E402

from stagebook import settings  # noqa: E402

if keras.backend.backend() != "jax":
    raise ImportError(
        f"recsys.ffm trains on Keras's JAX backend, but Keras was imported first "
        f"with {keras.backend.backend()!r}: set KERAS_BACKEND=jax, or import "
        "recsys.ffm before keras"
    )

# Compiled steps persist across processes: a nightly train of the same shapes
# skips XLA's compile (measured: 0.5-0.7 s of a fit's fixed cost). The cache is
# bounded: the least recently used entries go past 256 MiB.
jax.config.update("jax_compilation_cache_dir", str(settings.home() / "cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_compilation_cache_max_size", 256 * 2**20)

from recsys.ffm.fit import BLOCK, build, fit, save  # noqa: E402
from recsys.ffm.model import FFM  # noqa: E402

__all__ = ["BLOCK", "FFM", "build", "device", "fit", "save"]


def device() -> str:
    """Return the kind of device JAX trains on here: ``cpu``, or ``gpu`` with its CUDA build."""
    return jax.default_backend()
