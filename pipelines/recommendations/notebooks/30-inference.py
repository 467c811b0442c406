# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 30-inference: inference
#
# Scores every target user against every candidate item with the model that this phase's train task recorded (exact FFM scores, by user/item decomposition, in blocks of users), excludes items the user has seen, and keeps the top K per user.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "prod"
try_number = 1
run_id = "manual"
overrides = {}
model_signature = "latest"  # by hand: the newest model of the phase

# %%
import seaborn as sns

import stagebook
from recsys import features, inference, scoring, signature, tables

ctx = stagebook.stage(
    "30-inference",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
    model_signature=model_signature,
)
p = ctx.params

# %%
users = tables.read(ctx.paths, "users")
items = tables.read(ctx.paths, "items")
if model_signature == "latest":  # by hand in Jupyter: the newest model of this phase
    model_signature = signature.latest(ctx.paths.models)
folder = ctx.paths.model(model_signature)
weights = scoring.load_weights(folder)
vocab = features.load(folder)
print(f"{len(users)} target users x {len(items)} candidate items, model {model_signature}")

# %%
if p.inference.mode == "popular":  # a fallback: everyone gets the most clicked items
    recs = inference.popular(tables.read(ctx.paths, "events"), users, p.inference.top_k)
else:
    blocks = scoring.top_k(
        weights,
        vocab.encode(users, vocab.user_fields),
        vocab.encode(items, vocab.item_fields),
        len(vocab.user_fields),
        p.inference.top_k,
        exclude=inference.exclusions(users, items, tables.read(ctx.paths, "seen")),
        block=p.inference.block_users,
    )
    recs = inference.table(blocks, users, items)
recs["model_signature"] = model_signature
inference.write(recs, ctx.paths)
stagebook.record("model_signature", model_signature)
stagebook.record("inference", inference.summary(recs))
print(ctx.paths.recommendations)

# %%
ax = sns.histplot(recs, x="score", hue="rank", multiple="stack", bins=40, palette="viridis")
ax.set_title("scores of the recommended items, by rank");
