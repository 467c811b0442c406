"""The DuckDB engine of the input tables: inside the stage's kernel, in bounded memory.

DuckDB's own default buffer pool is 80 % of the machine's RAM: the stage would
take most of a worker shared with other tasks. ``tables.duckdb_memory_limit``
bounds it; past the limit, sorts and aggregates spill to ``tables.duckdb_temp_dir``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from recsys.paths import RecsysPaths


def literal(text: str) -> str:
    """Return ``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def temp_dir(value: str, paths: RecsysPaths) -> Path:
    """Return where DuckDB spills: ``value`` (``tables.duckdb_temp_dir``), relative to the archive's tmp.

    The default, ``duckdb``, is :attr:`RecsysPaths.spill <recsys.paths.RecsysPaths.spill>`.
    """
    return paths.spill.parent / Path(value).expanduser()


def connect(
    paths: RecsysPaths, memory_limit: str | None = None, spill: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection held to ``memory_limit`` that spills under ``spill``.

    Args:
        paths: the date's paths (the archive a relative ``spill`` lies in).
        memory_limit: DuckDB's size, e.g. ``1.5GiB``; None: DuckDB's default (80 % of RAM).
        spill: ``tables.duckdb_temp_dir``; None: :attr:`RecsysPaths.spill`.
    """
    folder = temp_dir(spill, paths) if spill else paths.spill
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {literal(str(folder))}")
        if memory_limit:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
    except BaseException:
        con.close()
        raise
    return con


class DuckdbEngine:
    """Runs the tables' SQL on one DuckDB connection: ``raw_events`` is the window's files."""

    def __init__(self, con: duckdb.DuckDBPyConnection, partitions: list[Path]) -> None:
        self.con = con
        files = ", ".join(literal(str(p)) for p in partitions)
        con.execute(f"CREATE TEMP VIEW raw_events AS SELECT * FROM read_parquet([{files}])")

    def execute(self, sql: str) -> None:
        """Run a statement (a view's definition)."""
        self.con.execute(sql)

    def count(self, sql: str) -> int:
        """Return the one number a query answers."""
        return int(self.con.execute(sql).fetchone()[0])

    def write(self, sql: str, target: Path) -> int:
        """Write what ``sql`` answers to the Parquet file ``target``; return its row count."""
        # COPY answers with the number of rows it wrote, and streams: no frame in this process
        return int(
            self.con.execute(f"COPY ({sql}) TO {literal(str(target))} (FORMAT parquet)").fetchone()[
                0
            ]
        )

    def frame(self, sql: str) -> pd.DataFrame:
        """Return what a (small) query answers as a frame."""
        return self.con.execute(sql).df()


@contextmanager
def opened(
    partitions: list[Path], paths: RecsysPaths, memory_limit: str | None, spill: str | None
) -> Iterator[DuckdbEngine]:
    """Yield a DuckDB engine over ``partitions``, closed at the end."""
    con = connect(paths, memory_limit, spill)
    try:
        yield DuckdbEngine(con, partitions)
    finally:
        con.close()
