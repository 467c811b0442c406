"""Sources of raw events behind one interface, landed as ``raw/events/date=YYYY-MM-DD/``.

Two sources, each a :class:`Source` with its user fields and item fields:

- ``movielens100k``: the real MovieLens-100k ratings shipped inside the PyPI wheel
  ``recbole==1.2.1`` (installed with ``--no-deps``; never copied into this
  repository, as the GroupLens terms forbid redistribution). The replay keeps
  each rating's time of day and shifts its UTC calendar day so that the
  dataset's last day (1998-04-22) lands on ``data.anchor_date``; the 215 days
  of ratings end there. Label: rating >= 4.
- ``synthetic``: a deterministic generator keyed by (seed, date), at any scale.
  Items and users have power-law popularity; clicks come from a hidden latent
  model (attribute interactions plus per-user and per-item factors), so a good
  model beats the base rate. Events exist up to ``data.anchor_date``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.params import DataParams
from recsys.paths import RecsysPaths
from stagebook import atomic
from stagebook.errors import MissingInputError

EVENT_COLUMNS = ["date", "ts", "user_id", "item_id", "label"]
RECBOLE = "recbole"
ML100K = "recbole/dataset_example/ml-100k/ml-100k"


@dataclass(frozen=True)
class Source:
    """A source of events: its name and which fields describe the user and the item."""

    name: str
    user_fields: tuple[str, ...]
    item_fields: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """Return every field, user fields first."""
        return self.user_fields + self.item_fields


SOURCES = {
    "movielens100k": Source(
        "movielens100k",
        ("user_id", "age", "gender", "occupation", "zip"),
        ("item_id", "release_year", "genres"),
    ),
    "synthetic": Source(
        "synthetic",
        ("user_id", "age", "gender", "region"),
        ("item_id", "category", "brand", "price"),
    ),
}


def source(name: str) -> Source:
    """Return the source called ``name``."""
    return SOURCES[name]


def events_for(params: DataParams, date: dt.date) -> pd.DataFrame:
    """Return the events of one date (possibly empty) from the configured source."""
    if params.source == "movielens100k":
        return _movielens_day(params.anchor_date, date)
    return synthetic_day(params, date)


def source_key(params: DataParams) -> str:
    """Return the key of the events ``params`` give: the source and a digest of its settings.

    Landed events are kept under it, so a run with other data settings (another
    source, seed or scale) never reads, nor overwrites, another's events.
    """
    settings = (
        {"anchor_date": params.anchor_date.isoformat()}
        if params.source == "movielens100k"
        else params.model_dump(mode="json")
    )
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return f"{params.source}-{digest[:10]}"


def land(params: DataParams, dates: list[dt.date], home: Path) -> list[dt.date]:
    """Write the raw partition of each date that the source has and the archive lacks.

    Returns the dates for which neither the archive nor the source has events.
    """
    key = source_key(params)

    def land_one(date: dt.date) -> bool:
        target = RecsysPaths(home, date, "common").raw_events_file(key)
        if target.exists():
            return True
        frame = events_for(params, date) if date <= params.anchor_date else pd.DataFrame()
        if frame.empty:
            return False
        atomic.write_parquet(target, frame)
        return True

    # A day per core at a time: generating and writing a day release the GIL often
    # enough that two threads land 512 k events a day in 0.6 of one thread's time.
    with ThreadPoolExecutor(max_workers=max(1, min(len(dates), os.cpu_count() or 1))) as pool:
        landed = list(pool.map(land_one, dates))
    return [date for date, found in zip(dates, landed, strict=True) if not found]


def land_window(
    params: DataParams, paths: RecsysPaths, window: list[dt.date]
) -> tuple[list[Path], list[dt.date]]:
    """Land the raw partitions of ``window`` (ending with ``paths.ds``).

    Returns:
        The files of the dates with events, and the dates without.

    Raises:
        MissingInputError: ``paths.ds`` itself has no events, naming its partition.
    """
    key = source_key(params)
    missing = land(params, window, paths.home)
    if paths.ds in missing:
        raise MissingInputError(
            f"no raw events for {paths.ds} at {paths.raw_events(key)}: source "
            f"{params.source!r} has "
            f"none for that date (its events end {params.anchor_date}); land that partition, or "
            "run an earlier date"
        )
    return [paths.raw_events_file(key, d) for d in window if d not in missing], missing


# --- MovieLens-100k ------------------------------------------------------------------


def movielens_dir() -> Path:
    """Return the folder of MovieLens-100k inside the installed ``recbole`` wheel."""
    try:
        dist = importlib.metadata.distribution(RECBOLE)
    except importlib.metadata.PackageNotFoundError:
        raise MissingInputError(
            "MovieLens-100k comes from the PyPI wheel recbole==1.2.1, which is not installed: "
            "run `make setup` (it installs it with --no-deps)"
        ) from None
    return Path(str(dist.locate_file(f"{ML100K}.inter"))).parent


def _read_atomic(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


@functools.cache
def movielens_events() -> pd.DataFrame:
    """Return all MovieLens-100k ratings joined with user and item fields, by original day."""
    folder = movielens_dir()
    inter = _read_atomic(folder / "ml-100k.inter")
    users = _read_atomic(folder / "ml-100k.user")
    items = _read_atomic(folder / "ml-100k.item")
    ts = pd.to_datetime(inter["timestamp"].astype(float).astype("int64"), unit="s", utc=True)
    age = users["age"].astype(int)
    users = pd.DataFrame(
        {
            "user_id": users["user_id"],
            "age": (age // 10 * 10).astype(str) + "s",
            "gender": users["gender"],
            "occupation": users["occupation"],
            "zip": users["zip_code"].str[:3],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": items["item_id"],
            "release_year": items["release_year"].replace("", "unknown"),
            "genres": items["class"].replace("", "unknown"),
        }
    )
    events = pd.DataFrame(
        {
            "day": ts.dt.date,
            "ts": ts,
            "user_id": inter["user_id"],
            "item_id": inter["item_id"],
            "label": (inter["rating"].astype(float) >= 4).astype("int8"),
        }
    )
    events = events.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")
    return events.sort_values("ts", kind="stable").reset_index(drop=True)


def _movielens_day(anchor: dt.date, date: dt.date) -> pd.DataFrame:
    events = movielens_events()
    shift = anchor - events["day"].max()
    original = date - shift
    day = events[events["day"] == original].drop(columns="day")
    day.insert(0, "date", date)
    day["ts"] = day["ts"] + pd.Timedelta(days=shift.days)
    return day.reset_index(drop=True)


# --- synthetic -----------------------------------------------------------------------

_AGES = np.array(["10s", "20s", "30s", "40s", "50s", "60s"])
_GENDERS = np.array(["F", "M"])


@functools.cache
def _world(seed: int, n_users: int, n_items: int) -> dict[str, np.ndarray]:
    """Return the fixed population of users and items, and the hidden model, for ``seed``."""
    rng = np.random.default_rng([seed, 0])
    n_regions, n_categories, n_brands, dim = 12, 20, 60, 4
    world = {
        "age": rng.integers(0, len(_AGES), n_users),
        "gender": rng.integers(0, 2, n_users),
        "region": rng.integers(0, n_regions, n_users),
        "category": rng.integers(0, n_categories, n_items),
        "brand": rng.integers(0, n_brands, n_items),
        "price": rng.integers(0, 5, n_items),
        # power-law popularity: rank r is drawn with weight r ** -1.1
        "user_weight": _zipf(rng, n_users, 0.9),
        "item_weight": _zipf(rng, n_items, 1.1),
    }
    age_cat = rng.normal(0, 1.0, (len(_AGES), n_categories))
    gender_cat = rng.normal(0, 1.0, (2, n_categories))
    region_brand = rng.normal(0, 0.7, (n_regions, n_brands))
    age_price = rng.normal(0, 0.7, (len(_AGES), 5))
    user_vec = rng.normal(0, 0.6, (n_users, dim))
    item_vec = rng.normal(0, 0.6, (n_items, dim))
    world["hidden"] = np.array(
        [age_cat, gender_cat, region_brand, age_price, user_vec, item_vec], dtype=object
    )
    # each id's name, made once: a day then picks names by index instead of formatting each
    names = {"user_id": ("u", n_users), "item_id": ("i", n_items), "region": ("r", n_regions)}
    names |= {"category": ("c", n_categories), "brand": ("b", n_brands), "price": ("p", 5)}
    for column, (prefix, n) in names.items():
        world[f"{column}_name"] = np.char.add(prefix, np.arange(n).astype(str))
    return world


def _zipf(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=float) ** -exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def click_logit(world: dict[str, np.ndarray], users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Return the hidden model's click logit for each (user, item) pair."""
    age_cat, gender_cat, region_brand, age_price, user_vec, item_vec = world["hidden"]
    age, gender, region = world["age"][users], world["gender"][users], world["region"][users]
    cat, brand, price = world["category"][items], world["brand"][items], world["price"][items]
    return (
        -1.2
        + age_cat[age, cat]
        + gender_cat[gender, cat]
        + region_brand[region, brand]
        + age_price[age, price]
        + np.einsum("nd,nd->n", user_vec[users], item_vec[items])
    )


def synthetic_day(params: DataParams, date: dt.date) -> pd.DataFrame:
    """Return the synthetic events of ``date``: same (seed, date), same events."""
    world = _world(params.seed, params.n_users, params.n_items)
    rng = np.random.default_rng([params.seed, date.toordinal()])
    n = params.events_per_day
    users = rng.choice(params.n_users, n, p=world["user_weight"])
    items = rng.choice(params.n_items, n, p=world["item_weight"])
    prob = 1.0 / (1.0 + np.exp(-click_logit(world, users, items)))
    seconds = np.sort(rng.integers(0, 86400, n))
    start = pd.Timestamp(date, tz="UTC")
    # a code a row, not a string object: Parquet stores the same strings, dictionary-encoded
    named = pd.Categorical.from_codes
    return pd.DataFrame(
        {
            "date": date,
            "ts": start + pd.to_timedelta(seconds, unit="s"),
            "user_id": named(users, world["user_id_name"]),
            "item_id": named(items, world["item_id_name"]),
            "label": (rng.random(n) < prob).astype("int8"),
            "age": named(world["age"][users], _AGES),
            "gender": named(world["gender"][users], _GENDERS),
            "region": named(world["region"][users], world["region_name"]),
            "category": named(world["category"][items], world["category_name"]),
            "brand": named(world["brand"][items], world["brand_name"]),
            "price": named(world["price"][items], world["price_name"]),
        }
    )
