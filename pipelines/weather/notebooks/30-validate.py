# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 30-validate: validate
#
# The gate's checks before tomorrow's forecast is published: the backtest's skill against persistence (`validation.min_skill`) and its mean absolute error (`validation.max_mae`, °C), and a finite forecast. A breach of a hard limit raises `ValidationFailed` listing every breached check, and publish does not run; a breach of soft limits only (`validation.soft`) is recorded in `soft_breaches`, and the approve task then waits for a reviewer. A forecast that passes keeps its digest: publish refuses anything else.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2015-12-31"
phase = "common"
try_number = 1
run_id = "manual"
overrides = {}
model_id = "latest"  # by hand: the model train saved for ds

# %%
import matplotlib.pyplot as plt
import pandas as pd

import stagebook
from weather import backtest, data, model, publish, validation
from weather.errors import ValidationFailed

ctx = stagebook.stage(
    "30-validate",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
    model_id=model_id,
)
p = ctx.params
v = p.validation

# %%
frame = data.read(ctx.paths)
fitted, info = model.load(ctx.paths.model, model_id)
_, numbers = backtest.read(ctx.paths, info["id"])
forecast = publish.records(ctx.paths, frame, fitted, info)
digest = publish.digest(forecast)
metrics = validation.gate_metrics(numbers, forecast[0]["temp_max"])
rows = validation.checks(metrics, v)
stagebook.record("validation", metrics)
stagebook.record("checks", rows)  # the card shows each
pd.DataFrame(rows)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].bar(
    ["model", "persistence"],
    [metrics["mae_model"], metrics["mae_naive"]],
    color=["#4c72b0", "grey"],
)
axes[0].axhline(v.max_mae, ls="--", c="#c44e52")
axes[0].set(ylabel="°C", title="backtest MAE (line: validation.max_mae)")
axes[1].bar(["skill"], [metrics["skill"] or 0.0], color="#55a868")
axes[1].axhline(v.min_skill, ls="--", c="#c44e52")
axes[1].set(title="skill against persistence (line: validation.min_skill)")
fig.tight_layout()

# %%
found = [str(b) for b in validation.breaches(rows)]
if found:
    raise ValidationFailed(f"{ctx.ds}: " + "; ".join(found))
soft = validation.soft_breaches(rows)
validation.passed(ctx.paths, digest, ctx.run_id, soft=soft)
stagebook.record("approved_digest", digest)
stagebook.record("soft_breaches", [b.as_dict() for b in soft])
if soft:
    print("soft limits breached, publish waits for a reviewer's approval:")
    print("\n".join(f"  {b}" for b in soft))
else:
    print(f"all checks passed: publish may publish exactly this forecast (sha256 {digest[:12]})")
