# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 40-validate: validate
#
# Checks the recommendations before they are published: score statistics (nan or inf is a failure), duplicates, coverage of target users and of the catalogue, and drift of today's recommended-item distribution from the mean of the previous days' (KL with additive smoothing, Jensen-Shannon distance). Thresholds are `validation:` in params. A breach of a hard limit raises `ValidationFailed` listing every breached check, and publish does not run; a breach of soft limits only (`validation.soft`) is recorded in `soft_breaches`, and the approve task then waits for a reviewer before publish. A day that passes keeps the digest of exactly what passed: publish refuses anything else.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "prod"
try_number = 1
run_id = "manual"
overrides = {}
model_signature = "latest"  # by hand: the model the recommendations came from

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import stagebook
from recsys import inference, tables, validation
from recsys.errors import ValidationFailed

ctx = stagebook.stage(
    "40-validate",
    ds=ds,
    phase=phase,
    try_number=try_number,
    run_id=run_id,
    overrides=overrides,
    model_signature=model_signature,
)
p = ctx.params
v = p.validation

# %%
recs, digest = inference.read(ctx.paths)
if model_signature == "latest":  # by hand: the model the recommendations came from
    model_signature = recs["model_signature"].iloc[0] if len(recs) else ""
earlier = validation.history(ctx.paths, v.history_days)
metrics = validation.gate_metrics(
    recs,
    users=tables.read(ctx.paths, "users")["user_id"],
    items=tables.read(ctx.paths, "items")["item_id"],
    top_k=p.inference.top_k,
    model_signature=model_signature,
    earlier=earlier,
    smoothing=v.smoothing,
)
stagebook.record("validation", metrics)
stagebook.record("checks", validation.checks(metrics, v))  # the card shows each
if not earlier:
    print(
        f"drift: no earlier day in the last {v.history_days}: the drift check passes without a baseline"
    )
elif len(earlier) < v.history_days:
    print(
        f"drift: only {len(earlier)} of {v.history_days} earlier days exist; the baseline is their mean"
    )
pd.Series(metrics, name="value").to_frame()

# %% [markdown]
# ## Scores, coverage and today's items against the baseline

# %%
today = validation.item_distribution(recs)
base = validation.baseline(list(earlier.values()))
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
scores = recs["score"].to_numpy(np.float64)
sns.histplot(x=scores[np.isfinite(scores)], bins=40, ax=axes[0]).set(
    title="score distribution", xlabel="score"
)
cov = pd.DataFrame(
    {
        "check": ["users", "catalogue"],
        "coverage": [metrics["user_coverage"], metrics["catalogue_coverage"]],
    }
)
sns.barplot(cov, x="check", y="coverage", ax=axes[1], color="#55a868")
axes[1].axhline(v.min_user_coverage, ls="--", c="grey")
axes[1].axhline(v.min_catalogue_coverage, ls=":", c="grey")
axes[1].set(ylim=(0, 1), title="coverage (lines: thresholds)")
top = today.index[:30].union(base.sort_values(ascending=False).index[:30], sort=False)[:40]
shares = pd.DataFrame(
    {"today": today.reindex(top, fill_value=0), "baseline": base.reindex(top, fill_value=0)}
)
shares.index.name = "item"
shares = shares.reset_index().melt("item", var_name="distribution", value_name="share")
sns.barplot(shares, x="item", y="share", hue="distribution", ax=axes[2])
axes[2].tick_params(axis="x", labelrotation=90, labelsize=6)
axes[2].set_title(f"items today vs mean of {len(earlier)} earlier days")
fig.tight_layout()

# %%
found = [str(b) for b in validation.breaches(metrics, v)]
if found:
    raise ValidationFailed(f"{ctx.ds} {ctx.phase}: " + "; ".join(found))
soft = validation.soft_breaches(metrics, v)
validation.passed(recs, digest, ctx.paths, ctx.run_id, soft=soft)
stagebook.record("approved_digest", digest)
stagebook.record("soft_breaches", [b.as_dict() for b in soft])
if soft:
    print("soft limits breached, publish waits for a reviewer's approval:")
    print("\n".join(f"  {b}" for b in soft))
else:
    print(
        "all checks passed: publish may publish exactly these recommendations; today's item "
        "distribution is kept for the next days' baseline"
    )
