# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 20-backtest: backtest
#
# A rolling-origin backtest over the window's last `backtest.days` days: each day is forecast by a model with the train stage's settings, fitted only on what was known the day before, and by persistence (tomorrow as warm as today). Records both mean absolute errors and the skill, `1 - MAE(model) / MAE(persistence)`, which `30-validate` checks.

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

import stagebook
from weather import backtest, data, model

ctx = stagebook.stage(
    "20-backtest",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
    model_id=model_id,
)
p = ctx.params

# %%
frame = data.read(ctx.paths)
_, info = model.load(ctx.paths.model, model_id)
errors = backtest.run(frame, info["lags"], info["alpha"], p.backtest.days)
numbers = backtest.summary(errors)
backtest.save(ctx.paths, errors, numbers, info["id"])
stagebook.record("backtest", numbers)
numbers

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
axes[0].plot(errors["date"], errors["actual"], c="black", lw=1, label="observed")
axes[0].plot(errors["date"], errors["model"], lw=1, label="model")
axes[0].plot(errors["date"], errors["naive"], lw=1, ls=":", label="persistence")
axes[0].set(ylabel="°C", title="temp_max: observed and forecast the day before")
axes[0].legend()
axes[1].bar(errors["date"], errors["error_model"].abs(), width=0.45, label="model")
axes[1].plot(errors["date"], errors["error_naive"].abs(), "o", ms=3, c="grey", label="persistence")
axes[1].set(ylabel="°C", title="absolute error by day")
axes[1].legend()
fig.tight_layout()
