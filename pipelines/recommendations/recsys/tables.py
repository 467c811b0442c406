"""The input tables of one date: one SQL definition each, run by DuckDB or by Spark.

``events``: every event of the trailing window; ``users``: the target users (active
in the window) with their latest fields; ``items``: the candidate catalogue (items
seen in the window) with their latest fields; ``seen``: the (user, item) pairs of
the window, which recommendations exclude.

The queries are written in the SQL both engines accept (``tables.engine``: DuckDB
inside the kernel, :mod:`recsys.duckdb_tables`; or Spark through an Airflow
connection, :mod:`recsys.spark_tables`); an engine only registers ``raw_events``
over the files and writes each answer to its table's single Parquet file. Every
query sorts on all its columns, so both engines write the same rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from recsys.data import Source
from recsys.paths import RecsysPaths, table_file
from stagebook import atomic
from stagebook.errors import MissingInputError

if TYPE_CHECKING:
    from recsys.params import TablesParams

# The window's events per day, for the report's plot.
DAILY = (
    "SELECT date, count(*) AS events, avg(label) AS label_rate FROM events "
    "GROUP BY date ORDER BY date ASC NULLS LAST"
)


def _order(columns: Sequence[str]) -> str:
    # NULLS LAST said, not assumed: DuckDB's default, Spark's is NULLS FIRST
    return ", ".join(f"{c} ASC NULLS LAST" for c in columns)


def events_view(columns: Sequence[str]) -> str:
    """Return the definition of the ``events`` view over ``raw_events`` (its ``columns``).

    The date column becomes a timestamp, as the tables have always had it; TIMESTAMP is
    without time zone in both engines (Spark's session sets ``spark.sql.timestampType``).
    """
    select = ", ".join("CAST(date AS TIMESTAMP) AS date" if c == "date" else c for c in columns)
    return f"CREATE OR REPLACE TEMP VIEW events AS SELECT {select} FROM raw_events"


def _latest(key: str, fields: tuple[str, ...]) -> str:
    # the latest non-null value of each field (a NULL ordering value is skipped by both engines)
    columns = [
        f"max_by({f}, CASE WHEN {f} IS NOT NULL THEN ts END) AS {f}" for f in fields if f != key
    ]
    return (
        f"SELECT {', '.join([key, *columns])} FROM events GROUP BY {key} ORDER BY {_order([key])}"
    )


def _seen(passes: int) -> str:
    # One DISTINCT over hundreds of millions of events outgrows DuckDB's memory limit: its hash
    # aggregate keeps state that grows with the rows, not the pairs (duckdb/duckdb#22474). Each
    # pass takes the users of one hash bucket, so every pair comes from exactly one pass.
    pairs = "SELECT DISTINCT user_id, item_id FROM events"
    if passes > 1:
        pairs = " UNION ALL ".join(
            f"{pairs} WHERE abs(hash(user_id) % {passes}) = {k}" for k in range(passes)
        )
    return f"SELECT * FROM ({pairs}) AS pairs ORDER BY {_order(['user_id', 'item_id'])}"


def queries(source: Source, columns: Sequence[str], seen_passes: int = 1) -> dict[str, str]:
    """Return the query of each input table, by name, over the ``events`` view (``columns``).

    ``seen_passes``: how many passes over the events find the ``seen`` pairs (the same rows).
    """
    by_time = ["ts", *(c for c in columns if c != "ts")]  # ties on ts broken by every column
    return {
        "events": f"SELECT * FROM events ORDER BY {_order(by_time)}",
        "users": _latest("user_id", source.user_fields),
        "items": _latest("item_id", source.item_fields),
        "seen": _seen(seen_passes),
    }


class Engine(Protocol):
    """What runs the tables' SQL: ``raw_events`` is registered over the window's files."""

    def execute(self, sql: str) -> None:
        """Run a statement (a view's definition)."""

    def count(self, sql: str) -> int:
        """Return the one number a query answers."""

    def write(self, sql: str, target: Path) -> int:
        """Write what ``sql`` answers to the Parquet file ``target``; return its row count."""

    def frame(self, sql: str) -> pd.DataFrame:
        """Return what a (small) query answers as a frame."""


@dataclass(frozen=True)
class Built:
    """What ``build`` wrote: each table's row count, and the window's events per day."""

    rows: dict[str, int]
    daily: pd.DataFrame  # date, events, label_rate


def engine(
    partitions: list[Path], paths: RecsysPaths, settings: TablesParams | None = None
) -> AbstractContextManager[Engine]:
    """Return the engine ``settings.engine`` names, over ``partitions`` (None: DuckDB, unbounded)."""
    if settings is not None and settings.engine == "spark":
        from recsys import spark_tables  # pyspark is an optional dependency group

        return spark_tables.opened(partitions, settings.spark_conn_id)
    from recsys import duckdb_tables

    if settings is None:
        return duckdb_tables.opened(partitions, paths, None, None)
    limit, spill = settings.duckdb_memory_limit, settings.duckdb_temp_dir
    return duckdb_tables.opened(partitions, paths, limit, spill)


def build(
    partitions: list[Path],
    source: Source,
    paths: RecsysPaths,
    minimum: int,
    settings: TablesParams | None = None,
) -> Built:
    """Write the input tables of ``paths.ds`` from the raw event files ``partitions``.

    The engine (``settings.engine``; None: DuckDB with its own memory default) reads
    the partitions, sorts and writes each table straight to Parquet, so the window's
    events never become a frame in this process; ``seen`` takes a pass over the events
    for each ``settings.seen_pass_events`` of them. The tables folder is replaced
    whole, and only once the window holds ``minimum`` events (``tables.min_events``).

    Raises:
        MissingInputError: too few events, with the count and what to do; nothing is written.
    """
    import pyarrow.parquet as pq

    if not partitions:
        check_enough(0, minimum, paths)
    columns = pq.read_schema(partitions[0]).names
    with engine(partitions, paths, settings) as run:
        run.execute(events_view(columns))
        events = run.count("SELECT count(*) FROM events")
        check_enough(events, minimum, paths)
        passes = -(-events // settings.seen_pass_events) if settings is not None else 1
        rows = {}
        with atomic.replacing(paths.tables) as folder:
            for name, sql in queries(source, columns, passes).items():
                rows[name] = run.write(sql, table_file(folder, name))
        daily = run.frame(DAILY)
    # the same frame from either engine (Spark's timestamps come as nanoseconds)
    daily = daily.astype({"date": "datetime64[us]", "events": "int64", "label_rate": "float64"})
    return Built(rows, daily)


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


@dataclass(frozen=True)
class Batches:
    """One input table's rows as frames of about ``size`` rows; iterable again and again.

    A frame is whole row groups, at least ``size`` rows of them (a larger row group is
    one frame). Text columns come as categoricals (Parquet's dictionaries), as
    :func:`read` with ``categorical``: a frame costs a code per row, not a string.
    """

    path: Path
    columns: tuple[str, ...]
    size: int

    @property
    def rows(self) -> int:
        """Return the table's number of rows."""
        import pyarrow.parquet as pq

        return pq.read_metadata(self.path).num_rows

    def __iter__(self) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(self.path)
        text = _text(metadata.schema.to_arrow_schema(), self.columns)
        for groups in _row_groups(metadata, self.size):
            # a reader a frame: one reader kept open grew by about 1 MiB a row group it
            # read (3.5 GiB over a 504 M-event window); the parsed footer is shared
            with pq.ParquetFile(self.path, metadata=metadata, read_dictionary=text) as file:
                table = file.read_row_groups(groups, columns=list(self.columns))
            yield table.to_pandas(self_destruct=True)


def _row_groups(metadata, size: int) -> Iterator[list[int]]:
    """Yield consecutive row-group indices holding at least ``size`` rows (the last: the rest)."""
    groups, rows = [], 0
    for index in range(metadata.num_row_groups):
        groups.append(index)
        rows += metadata.row_group(index).num_rows
        if rows >= size:
            yield groups
            groups, rows = [], 0
    if groups:
        yield groups


def batches(paths: RecsysPaths, name: str, columns: Sequence[str], size: int) -> Batches:
    """Return one input table's ``columns``, ``size`` rows at a time, naming it if it is missing."""
    return Batches(_existing(paths, name), tuple(columns), size)


def _text(schema, columns: Sequence[str]) -> list[str]:
    """Return which of ``columns`` hold text in ``schema`` (read as dictionaries)."""
    import pyarrow as pa

    return [
        c
        for c in columns
        if pa.types.is_string(schema.field(c).type)
        or pa.types.is_large_string(schema.field(c).type)
    ]


def _existing(paths: RecsysPaths, name: str) -> Path:
    path = paths.table(name)
    if not path.exists():
        raise MissingInputError(
            f"input table {path} does not exist: run 00-input-tables for this date first"
        )
    return path


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
    path = _existing(paths, name)
    if not categorical:
        return pd.read_parquet(path, columns=list(columns) if columns else None)
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    wanted = list(columns) if columns else schema.names
    text = _text(schema, wanted)
    table = pq.read_table(path, columns=wanted, read_dictionary=text)
    return table.to_pandas(self_destruct=True, split_blocks=True)  # frees each column as it goes
