# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 10-features: features
#
# Builds the field vocabularies of this phase over the window's events and encodes the events into feature indices (slot 0 of each field is its out-of-vocabulary value).

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "prod"
try_number = 1
run_id = "manual"
overrides = {}

# %%
import seaborn as sns

import stagebook
from recsys import data, features, tables

ctx = stagebook.stage(
    "10-features", ds=ds, phase=phase, try_number=try_number, run_id=run_id, overrides=overrides
)
p = ctx.params

# %%
source = data.source(p.data.source)
# the fields, dates and labels, read features.batch_rows at a time, text as categories: the
# vocabulary is counted, then the events encoded to disk, a batch at a time
events = tables.batches(ctx.paths, "events", [*source.fields, "date", "label"], p.features.batch_rows)
vocab = features.build_vocabulary(
    events, source.user_fields, source.item_fields, p.features.min_count
)
rows = features.write(vocab, events, ctx.paths)
sizes = dict(zip(vocab.fields, vocab.sizes, strict=True))
stagebook.record("vocabulary_sizes", sizes)
print(f"{rows} events encoded into {vocab.n_features} features -> {ctx.paths.features}")

# %%
ax = sns.barplot(x=list(sizes), y=list(sizes.values()), color="#55a868")
ax.set(yscale="log", title="vocabulary size per field", ylabel="values (+1 OOV)");
