# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 40-publish: publish
#
# Writes tomorrow's forecast (the date, `temp_max` in °C, the model's id, and persistence's forecast) to the pipeline's outbox, `outbox/ds=…/forecast.jsonl` with `meta.json` (its digest, the run, who approved it), both at once. Exactly once per date: the same forecast again does nothing, another one is refused. Runs only after `30-validate` passed and, when it breached soft limits, a reviewer approved (`approval`, from the approve task).

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2015-12-31"
phase = "common"
try_number = 1
run_id = "manual"
overrides = {}
approval = None  # the approve task's decision; None when it did not run

# %%
import matplotlib.pyplot as plt
import pandas as pd

import stagebook
from weather import data, model, publish, validation

ctx = stagebook.stage(
    "40-publish",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
)
p = ctx.params

# %%
frame = data.read(ctx.paths)
fitted, info = model.load(ctx.paths.model)
forecast = publish.records(ctx.paths, frame, fitted, info)
validation.approved(ctx.paths, publish.digest(forecast), approval)  # what 30-validate passed
meta = {"run_id": ctx.run_id, "approval": approval or {"required": False}}
done = publish.write(ctx.paths.outbox, forecast, meta)
stagebook.record("published", done)
stagebook.record("forecast", forecast[0])
stagebook.record("model_id", info["id"])
print(f"{done['action']}: {done['records']} record(s) -> {done['path']}")
pd.DataFrame(forecast)

# %%
recent = frame.tail(30)
ahead = forecast[0]
fig, ax = plt.subplots(figsize=(10, 3.5))
ax.plot(pd.to_datetime(recent["date"]), recent["temp_max"], "o-", ms=3, label="observed")
ax.plot(
    [pd.Timestamp(ahead["date"])], [ahead["temp_max"]], "*", ms=14, c="#c44e52", label="forecast"
)
ax.set(ylabel="°C", title=f"temp_max of the last 30 days and the forecast of {ahead['date']}")
ax.legend()
fig.tight_layout()
