"""The input tables of one date, built with DuckDB SQL over the raw event partitions.

``events``: every event of the trailing window; ``users``: the target users (active
in the window) with their latest fields; ``items``: the candidate catalogue (items
seen in the window) with their latest fields; ``seen``: the (user, item) pairs of
the window, which recommendations exclude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from recsys.data import Source
from recsys.paths import RecsysPaths, table_file
from stagebook import atomic
from stagebook.errors import MissingInputError


def _latest(key: str, fields: tuple[str, ...]) -> str:
    columns = ", ".join(f"arg_max({f}, ts) AS {f}" for f in fields if f != key)
    return (
        f"SELECT {key}{', ' + columns if columns else ''} FROM events GROUP BY {key} ORDER BY {key}"
    )


@dataclass(frozen=True)
class Built:
    """What ``build`` wrote: each table's row count, and the window's events per day."""

    rows: dict[str, int]
    daily: pd.DataFrame  # date, events, label_rate


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build(partitions: list[Path], source: Source, paths: RecsysPaths, minimum: int) -> Built:
    """Write the input tables of ``paths.ds`` from the raw event files ``partitions``.

    DuckDB reads the partitions, sorts and writes each table straight to Parquet
    (spilling to ``<home>/tmp/duckdb`` past its memory limit), so the window's
    events never become a frame in this process: the stage's memory does not grow
    with a copy per step. The tables folder is replaced whole, and only once the
    window holds ``minimum`` events (``tables.min_events``).

    Raises:
        MissingInputError: too few events, with the count and what to do; nothing is written.
    """
    files = ", ".join(_literal(str(p)) for p in partitions)
    paths.spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {_literal(str(paths.spill))}")
        con.execute(  # a date column stays a timestamp, as the tables have always had it
            "CREATE VIEW events AS SELECT * REPLACE (CAST(date AS TIMESTAMP) AS date) "
            f"FROM read_parquet([{files}])"
        )
        check_enough(con.execute("SELECT count(*) FROM events").fetchone()[0], minimum, paths)
        queries = {
            "events": "SELECT * FROM events ORDER BY ts",
            "users": _latest("user_id", source.user_fields),
            "items": _latest("item_id", source.item_fields),
            "seen": "SELECT DISTINCT user_id, item_id FROM events ORDER BY user_id, item_id",
        }
        rows = {}
        with atomic.replacing(paths.tables) as folder:
            for name, sql in queries.items():
                target = _literal(str(table_file(folder, name)))
                # COPY answers with the number of rows it wrote
                rows[name] = con.execute(f"COPY ({sql}) TO {target} (FORMAT parquet)").fetchone()[0]
        daily = con.execute(
            "SELECT date, count(*) AS events, avg(label) AS label_rate FROM events "
            "GROUP BY date ORDER BY date"
        ).df()
        return Built(rows, daily)
    finally:
        con.close()


def check_enough(found: int, minimum: int, paths: RecsysPaths) -> None:
    """Refuse a window with fewer than ``minimum`` events: too few to train a model on.

    Raises:
        MissingInputError: with the count, the window's date and what to do.
    """
    if found < minimum:
        raise MissingInputError(
            f"only {found} events in the window ending {paths.ds}; training needs at least "
            "tables.min_events = "
            f"{minimum}: land more days, widen tables.train_days, or lower tables.min_events"
        )


def read(
    paths: RecsysPaths,
    name: str,
    columns: Sequence[str] | None = None,
    *,
    categorical: bool = False,
) -> pd.DataFrame:
    """Read one input table, naming the file and the stage to run if it is missing.

    ``columns``: only these. ``categorical``: text columns come as pandas
    categoricals, straight from Parquet's dictionaries (a code per row instead of
    a string: the events of a 60-day window take a fraction of the memory).
    """
    path = paths.table(name)
    if not path.exists():
        raise MissingInputError(
            f"input table {path} does not exist: run 00-input-tables for this date first"
        )
    if not categorical:
        return pd.read_parquet(path, columns=list(columns) if columns else None)
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    wanted = list(columns) if columns else schema.names
    text = [
        c
        for c in wanted
        if pa.types.is_string(schema.field(c).type)
        or pa.types.is_large_string(schema.field(c).type)
    ]
    table = pq.read_table(path, columns=wanted, read_dictionary=text)
    return table.to_pandas(self_destruct=True, split_blocks=True)  # frees each column as it goes
