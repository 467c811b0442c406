# ---
# jupyter:
#   kernelspec:
#     display_name: Python (stagebook)
#     language: python
#     name: stagebook
# ---

# %% [markdown]
# # 20-train: train
#
# Trains the field-aware factorization machine (Keras 3) on the window's events. The last day is held out: half of it drives early stopping (validation), the other half is the test set the report scores. A nan or inf loss raises `InvalidLossError` during the epoch; the task retries and try N uses the learning rate `base_lr * lr_decay ** (N - 1)`.

# %% tags=["parameters"]
# Parameters: these defaults run as-is in Jupyter; the scheduler replaces them.
ds = "2019-11-20"
phase = "prod"
try_number = 1
run_id = "manual"
overrides = {}

# %%
import numpy as np
import pandas as pd
import pendulum
import seaborn as sns

import stagebook
from recsys import features, ffm, metrics, signature, training
from stagebook import tries

ctx = stagebook.stage(
    "20-train", ds=ds, phase=phase, try_number=try_number, run_id=run_id, overrides=overrides
)
p = ctx.params

# %% [markdown]
# ## Data and learning rate

# %%
# the last day held out; up to train.chunk_rows events in memory, more trained from disk
vocab, events = features.read(ctx.paths)
data = training.split(events, ctx.seed, p.train.chunk_rows)
lr = training.learning_rate(p.train.base_lr, p.train.lr_decay, ctx.try_number)
print(data.rows, "in memory" if isinstance(data.train, tuple) else "streamed from disk")
print(training.explain_learning_rate(p.train.base_lr, p.train.lr_decay, ctx.try_number))

# %%
# Earlier tries of this stage for this date and phase, and why they failed.
earlier = tries.earlier_tries(ctx.report, ctx.try_number)
pd.DataFrame(earlier) if earlier else print("first try")

# %% [markdown]
# ## Training

# %%
model = ffm.build(
    vocab.n_features,
    len(vocab.fields),
    p.train.k,
    p.train.l2,
    lr,
    seed=ctx.seed,
    linear_terms=p.train.linear_terms,
    init_scale=p.train.init_scale,
)
losses = ffm.fit(
    model,
    data.train,
    (data.valid.x, data.valid.y),
    epochs=p.train.epochs,
    batch_size=p.train.batch_size,
    patience=p.train.patience,
    lr=lr,
    seed=ctx.seed,
    spill=ctx.paths.train_spill,  # a window trained from disk: its dealt chunks, removed after
)
stagebook.record("losses", losses)
prob = 1 / (1 + np.exp(-model.predict(data.test.x, batch_size=8192, verbose=0)))
quality = {
    "learning_rate": lr,
    "epochs": len(losses),
    "test_logloss": metrics.logloss(data.test.y, prob),
    "test_auc": metrics.auc(data.test.y, prob),
    "base_rate_logloss": metrics.rate_logloss(data.train_rate, data.test.y),
    "device": ffm.device(),  # where JAX trained: cpu, or gpu on a worker_gpu host
}
stagebook.record("metrics", quality)

# %%
curves = pd.DataFrame(losses)[["epoch", "loss", "val_loss"]].melt(
    "epoch", var_name="split", value_name="logloss"
)
ax = sns.lineplot(curves, x="epoch", y="logloss", hue="split", marker="o")
ax.axhline(quality["test_logloss"], ls=":", c="black", label="test")
ax.axhline(quality["base_rate_logloss"], ls="--", c="grey", label="base rate")
ax.set_title(
    f"test logloss {quality['test_logloss']:.4f} (base rate {quality['base_rate_logloss']:.4f}), "
    f"AUC {quality['test_auc']:.3f}, lr {lr:g}"
)
ax.legend();

# %% [markdown]
# ## Save the model

# %%
trained_at = pendulum.now("Asia/Tokyo")  # the market's time, as the DAG's schedule
model_signature = signature.make(
    p.market, trained_at, ctx.ds, run_id=ctx.run_id, try_number=ctx.try_number
)
description = signature.describe(
    model_signature,
    ctx,
    trained_at=trained_at,
    metrics=quality,
    rows=data.rows,
    window=data.window,
)
ffm.save(model, vocab, description, ctx.paths.model(model_signature))
stagebook.record("model_signature", model_signature)
stagebook.record("data_window", description["data_window"])  # the model asset's lineage
print(ctx.paths.model(model_signature))
