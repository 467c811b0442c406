# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 00-input-tables: input tables
#
# Lands the raw events of the trailing window (`raw/events/<source-key>/date=…/`, keyed by the source and its settings) and builds the input tables of `ds`: `events`, target `users`, candidate `items`, and the `seen` pairs. The same SQL runs on DuckDB inside this kernel or on Spark through the Airflow connection `tables.spark_conn_id` (`tables.engine`).

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "common"
try_number = 1
run_id = "manual"
overrides = {}

# %%
import matplotlib.pyplot as plt
import seaborn as sns

import stagebook
from recsys import data, tables
from stagebook import dates

ctx = stagebook.stage(
    "00-input-tables", ds=ds, phase=phase, try_number=try_number, run_id=run_id, overrides=overrides
)
p = ctx.params

# %% [markdown]
# ## Raw events of the window

# %%
window = dates.window(ctx.ds, p.tables.train_days)
files, missing = data.land_window(p.data, ctx.paths, window)
print(f"{len(files)} of {len(window)} days of the window have events ({window[0]} .. {window[-1]})")
if missing:
    print("days without events:", ", ".join(d.isoformat() for d in missing))

# %% [markdown]
# ## Input tables

# %%
source = data.source(p.data.source)
built = tables.build(files, source, ctx.paths, p.tables.min_events, p.tables)
print(f"built with {p.tables.engine}")
stagebook.record("table_rows", built.rows)
# the raw partitions the tables were built from (lineage), relative to the archive
stagebook.record("raw_partitions", [str(f.parent.relative_to(ctx.paths.home)) for f in files])
print(ctx.paths.tables)

# %%
daily = built.daily
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
sns.barplot(daily, x="date", y="events", ax=axes[0], color="#4c72b0")
sns.lineplot(daily, x="date", y="label_rate", ax=axes[1], marker="o")
axes[0].set_title("events per day")
axes[1].set_title("label rate per day")
for ax in axes:
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
fig.tight_layout()
