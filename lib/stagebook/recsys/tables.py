"""The input tables of one date, built with DuckDB SQL over the raw event partitions.

``events``: every event of the trailing window; ``users``: the target users (active
in the window) with their latest fields; ``items``: the candidate catalogue (items
seen in the window) with their latest fields; ``seen``: the (user, item) pairs of
the window, which recommendations exclude.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from stagebook import atomic, storage
from stagebook.errors import MissingInputError
from stagebook.recsys.data import Source


def _latest(key: str, fields: tuple[str, ...]) -> str:
    columns = ", ".join(f"arg_max({f}, ts) AS {f}" for f in fields if f != key)
    return (
        f"SELECT {key}{', ' + columns if columns else ''} FROM events GROUP BY {key} ORDER BY {key}"
    )


def build(partitions: list[Path], source: Source) -> dict[str, pd.DataFrame]:
    """Return the input tables over the raw events files ``partitions``."""
    files = [str(p) for p in partitions]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?) ORDER BY ts", [files])
        queries = {
            "events": "SELECT * FROM events ORDER BY ts",
            "users": _latest("user_id", source.user_fields),
            "items": _latest("item_id", source.item_fields),
            "seen": "SELECT DISTINCT user_id, item_id FROM events ORDER BY user_id, item_id",
        }
        return {name: con.execute(sql).df() for name, sql in queries.items()}
    finally:
        con.close()


def check_enough(tables: dict[str, pd.DataFrame], minimum: int, paths: storage.Paths) -> None:
    """Refuse a window with fewer than ``minimum`` events: too few to train a model on.

    Raises:
        MissingInputError: with the count, the window's date and what to do.
    """
    found = len(tables["events"])
    if found < minimum:
        raise MissingInputError(
            f"only {found} events in the window ending {paths.ds}; training needs at least "
            "tables.min_events = "
            f"{minimum}: land more days, widen tables.train_days, or lower tables.min_events"
        )


def write(tables: dict[str, pd.DataFrame], paths: storage.Paths) -> None:
    """Write the tables of ``paths.ds``, replacing its tables folder whole."""
    with atomic.replacing(paths.tables) as folder:
        for name, frame in tables.items():
            frame.to_parquet(storage.table_file(folder, name), index=False)


def read(paths: storage.Paths, name: str) -> pd.DataFrame:
    """Read one input table, naming the file and the stage to run if it is missing."""
    path = paths.table(name)
    if not path.exists():
        raise MissingInputError(
            f"input table {path} does not exist: run 00-input-tables for this date first"
        )
    return pd.read_parquet(path)
