# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 00-observe: observe
#
# Lands the observations of the trailing window (`data.history_days`, ending with `ds`) into `observations/ds=…/observations.parquet` of the pipeline's data area: the daily Seattle weather shipped inside the `vega-datasets` wheel, replayed so that `data.anchor_date` shows the dataset's last day (2015-12-31). A date the dataset cannot show fails at once, naming the date.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2015-12-31"
phase = "common"
try_number = 1
run_id = "manual"
overrides = {}

# %%
import matplotlib.pyplot as plt

import stagebook
from weather import data

ctx = stagebook.stage(
    "00-observe",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
)
p = ctx.params

# %%
frame = data.land(p.data, ctx.paths)
stagebook.record("observations", data.summary(frame))
print(
    f"{len(frame)} days {frame['date'].iloc[0]} .. {frame['date'].iloc[-1]} -> {ctx.paths.observations}"
)
frame.tail()

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
axes[0].plot(frame["date"], frame["temp_max"], lw=0.8, label="temp_max")
axes[0].plot(frame["date"], frame["temp_min"], lw=0.8, label="temp_min")
axes[0].set(ylabel="°C", title="temperatures of the window")
axes[0].legend()
axes[1].fill_between(frame["date"], frame["precipitation"], step="mid", color="#4c72b0")
axes[1].set(ylabel="mm", title="precipitation")
fig.tight_layout()
