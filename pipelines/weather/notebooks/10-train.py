# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 10-train: train
#
# Fits a ridge regression that forecasts tomorrow's `temp_max` from the last `train.lags` days of `temp_max`, `temp_min` and `precipitation` and tomorrow's day of the year (sine, cosine), on every day of the window, and saves it under `models/ds=…/`. Records the model's description (`model`) and its id (`model_id`, a digest of its fitted numbers), which the next stages check.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2015-12-31"
phase = "common"
try_number = 1
run_id = "manual"
overrides = {}

# %%
import matplotlib.pyplot as plt
import pandas as pd

import stagebook
from weather import data, model

ctx = stagebook.stage(
    "10-train",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
)
p = ctx.params

# %%
frame = data.read(ctx.paths)
fitted, info = model.train(frame, p.train.lags, p.train.alpha)
model.save(fitted, info, ctx.paths.model)
stagebook.record("model", info)
stagebook.record("model_id", info["id"])
print(
    f"{info['id']}: {info['train_rows']} days, in-sample MAE {info['mae_in_sample']} °C -> {ctx.paths.model}"
)

# %%
coef = pd.Series(fitted.named_steps["ridge"].coef_, index=info["features"])
ax = coef.plot.barh(figsize=(8, 0.3 * len(coef) + 1), color="#55a868")
ax.set(title="ridge coefficients (standardised features)", xlabel="°C per standard deviation")
plt.tight_layout()
