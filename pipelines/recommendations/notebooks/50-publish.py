# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 50-publish: publish
#
# Formats one record per user (ranked `item_ids`, `scores`, `model_signature`, `ds`, `phase`) and publishes them to each sink in `publish.sinks`: the local outbox (one folder per date, `ds=…/records.jsonl` in JSON lines and `meta.json`, published together) and Redis Streams (one entry per user in `{<stream>:<phase>}`, from the Airflow connection `publish.redis_conn_id`).
#
# Exactly once per (ds, phase): publishing the same records again is skipped; different records for the same date replace the earlier ones; no sink ever holds two copies of a date. Every sink is reached before any is written, so an unreachable Redis leaves the outbox as it was. This stage runs only after `40-validate` passed and, when it breached soft limits, a reviewer approved (`approval`, from the approve task); who approved, when and why go into each sink's metadata (the outbox's `ds=…/meta.json`, the Redis marker's `meta`).

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "prod"
try_number = 1
run_id = "manual"
overrides = {}
approval = None  # the approve task's decision; None when it did not run

# %%
import pandas as pd
import seaborn as sns

import stagebook
from recsys import sinks, validation

ctx = stagebook.stage(
    "50-publish",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
)
p = ctx.params

# %%
recs = validation.approved(ctx.paths, approval)  # what 40-validate passed (and a reviewer approved)
records = sinks.format_records(recs, ds=ctx.ds.isoformat(), phase=ctx.phase)
targets = sinks.open_sinks(
    p.publish.sinks,
    outbox=ctx.paths.outbox,
    redis_conn_id=p.publish.redis_conn_id,
    timeout_s=p.publish.timeout_s,
    retention_days=p.publish.retention_days,
)
meta = {"run_id": ctx.run_id, "approval": approval or {"required": False}}
done = sinks.publish(records, targets, ds=ctx.ds.isoformat(), phase=ctx.phase, meta=meta)
published = pd.DataFrame([vars(d) for d in done])
stagebook.record("published", published.to_dict("records"))
# the lineage of the recommendations asset's event
stagebook.record("model_signature", records[0]["model_signature"] if records else None)
stagebook.record("published_digest", sinks.digest(records))
stagebook.record("sinks", [d.sink for d in done])
for d in done:
    print(f"{d.sink}: {d.action} {d.records} records -> {d.target}")
published

# %%
top = recs[recs["rank"] == 1]["item_id"].value_counts().head(20)
ax = sns.barplot(x=top.values, y=top.index.astype(str), color="#c44e52")
ax.set(title="most frequent top-1 items", xlabel="users");

# %%
pd.DataFrame(records[:5])
