"""The Spark engine of the input tables, reached through an Airflow connection.

The connection ``tables.spark_conn_id`` reaches the stage's kernel as
``AIRFLOW_CONN_<ID>`` (the input-tables stage declares it). Its forms:

- Spark Connect, preferred: conn type ``spark_connect``, host ``sc://HOST`` (or
  ``HOST``), port, and optionally login (user id), password (token) and extra
  ``use_ssl``: the URL is the one the Spark provider's ``SparkConnectHook`` builds.
- a Spark inside the kernel, the fallback: any connection whose host is ``local[N]``
  or ``local[*]`` (e.g. conn type ``spark``). Another ``spark`` host is a master URL.

Spark reads the raw partitions and writes the tables by their paths, so a remote
Spark Connect server must see the archive at the same paths (a shared filesystem).
The session runs in UTC and writes Parquet timestamps as microseconds (not INT96);
``TIMESTAMP`` in the shared SQL means Spark's ``TIMESTAMP_NTZ``, as in DuckDB.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from recsys import connections
from stagebook.errors import StagebookError

# The session's settings: what makes its tables identical to DuckDB's.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",  # TIMESTAMP is without time zone, as in DuckDB
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "true",  # a bad cast fails, as in DuckDB, instead of a NULL
}
# Only for a Spark inside the kernel: no web UI, few shuffle partitions for one machine.
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"}
LOCAL_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?")  # local, local[4], local[*], local[4,2]
PROBE_S = 10  # a Spark Connect server that accepts no connection by then is away
EXAMPLE = '{"conn_type": "spark_connect", "host": "sc://127.0.0.1", "port": 15002}'


class SparkConfigError(StagebookError):
    """The Spark connection is not defined, cannot be read, or pyspark is not installed."""

    retryable = False


class SparkUnavailable(StagebookError):
    """The Spark Connect server did not answer (retried: it may be back on the next try)."""


@dataclasses.dataclass(frozen=True)
class SparkTarget:
    """Where the tables are built: a Spark Connect URL or a master (no token in ``repr``)."""

    conn_id: str
    where: str  # for messages: sc://host:port or the master, never a token
    url: str | None = dataclasses.field(default=None, repr=False)  # sc://…, with its token
    master: str | None = None  # local[N], local[*] or another master URL

    @classmethod
    def from_env(cls, conn_id: str, environ: Mapping[str, str] | None = None) -> SparkTarget:
        """Read connection ``conn_id`` from ``AIRFLOW_CONN_<CONN_ID>`` (JSON or URI).

        Raises:
            SparkConfigError: the variable is missing or unreadable, in one line.
        """
        name = connections.variable(conn_id)
        try:
            conn = connections.read(conn_id, environ)
            if conn is not None:
                return cls._of(conn)
        except (ValueError, TypeError, AttributeError):  # its text may quote the token: not shown
            raise SparkConfigError(
                f"{name} (connection {conn_id!r}) cannot be read: give conn type spark_connect "
                "with host sc://HOST and port, or host local[N], as Airflow connection JSON or URI "
                "(in a URI, percent-encode the token and local%5B*%5D)"
            ) from None
        raise SparkConfigError(
            f"tables.engine is spark but the Airflow connection {conn_id!r} "
            f"(tables.spark_conn_id) is not available to this kernel ({name} is not set): "
            f"define it, e.g. `airflow connections add {conn_id} --conn-type spark_connect "
            "--conn-host sc://HOST --conn-port 15002` (or host local[*]); the input_tables "
            f"task passes it to the notebook. By hand: export {name}='{EXAMPLE}'"
        )

    @classmethod
    def _of(cls, conn: Any) -> SparkTarget:
        host = (conn.host or "").strip()
        if not host:
            raise ValueError("the connection has no host")
        if LOCAL_MASTER.fullmatch(host):
            return cls(conn.conn_id, where=host, master=host)
        if conn.conn_type == "spark_connect" or host.startswith("sc://"):
            url = _connect_url(conn)
            where = url.split("/;")[0].rstrip("/")  # parameters (the token) stay out
            return cls(conn.conn_id, where=where, url=url)
        master = f"{host}:{conn.port}" if conn.port else host  # as SparkSubmitHook reads it
        return cls(conn.conn_id, where=master, master=master)


def _connect_url(conn: Any) -> str:
    """Return the Spark Connect URL of ``conn``, built by the Spark provider's own hook."""
    try:
        from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook
    except ImportError:
        raise SparkConfigError(_NOT_INSTALLED) from None

    class _Given(SparkConnectHook):
        def get_connection(self, conn_id: str) -> Any:  # the kernel's connection, not a lookup
            return conn

    return _Given(conn.conn_id).get_connection_url()


_UNSEEN = (
    "the Spark server does not see the archive at this worker's paths: run it where "
    "STAGEBOOK_HOME is mounted at the same path, as the same user"
)
_NOT_INSTALLED = (
    "tables.engine is spark but pyspark is not installed in this environment: install the "
    "spark dependency group (`uv sync --group spark`; `make test` does)"
)


def session(target: SparkTarget) -> Any:
    """Return a new Spark session of ``target``, set up as :data:`SESSION_CONF` says.

    Raises:
        SparkConfigError: pyspark is not installed.
        SparkUnavailable: the Spark Connect server does not answer.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkConfigError(_NOT_INSTALLED) from None
    if target.url:
        _answers(target)  # pyspark itself retries an absent server for minutes
        spark = SparkSession.builder.remote(target.url).create()
    else:
        builder = SparkSession.builder.master(target.master).appName("stagebook-input-tables")
        for key, value in {**LOCAL_CONF, **SESSION_CONF}.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # pyspark's JAVA_GATEWAY_EXITED and the like
            raise SparkConfigError(
                f"a local Spark ({target.where}) did not start ({type(exc).__name__}): install "
                "Java 17 (openjdk-17-jre-headless) on this worker, or set JAVA_HOME"
            ) from None
    try:
        for key, value in SESSION_CONF.items():  # the first call to the server
            spark.conf.set(key, value)
    except Exception as exc:  # it answers, and refuses: a token, a version, not a retry's to fix
        raise SparkConfigError(
            f"Spark at {target.where} (connection {target.conn_id!r}) refused the session "
            f"({type(exc).__name__}): check the connection's token and the server's version"
        ) from None
    return spark


def _answers(target: SparkTarget) -> None:
    """Refuse at once a Spark Connect server that does not accept a connection.

    Raises:
        SparkUnavailable: retried, it may be back on the next try.
    """
    address = urllib.parse.urlsplit("http" + target.where.removeprefix("sc"))
    try:
        with socket.create_connection((address.hostname, address.port or 15002), PROBE_S):
            return
    except OSError as exc:
        raise SparkUnavailable(
            f"Spark at {target.where} (connection {target.conn_id!r}) did not answer "
            f"({exc.strerror or type(exc).__name__}): start it, or fix the connection's host and port"
        ) from None


class SparkEngine:
    """Runs the tables' SQL on one Spark session: ``raw_events`` is the window's files."""

    def __init__(self, spark: Any, partitions: list[Path]) -> None:
        from pyspark.errors import AnalysisException

        self.spark = spark
        try:
            spark.read.parquet(*(str(p) for p in partitions)).createOrReplaceTempView("raw_events")
        except AnalysisException as exc:
            raise SparkConfigError(f"{_UNSEEN} ({exc.getCondition()})") from None

    def execute(self, sql: str) -> None:
        """Run a statement (a view's definition)."""
        self.spark.sql(sql).collect()

    def count(self, sql: str) -> int:
        """Return the one number a query answers."""
        return int(self.spark.sql(sql).collect()[0][0])

    def write(self, sql: str, target: Path) -> int:
        """Write what ``sql`` answers to the Parquet file ``target``; return its row count.

        Spark writes a folder of part files: one partition (``coalesce(1)`` keeps the
        sorted order) gives one part file, moved into place as ``target``.
        """
        import pyarrow.parquet as pq

        folder = target.with_name(f".{target.stem}.spark")
        self.spark.sql(sql).coalesce(1).write.mode("overwrite").parquet(str(folder))
        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) != 1:
            raise SparkConfigError(f"{_UNSEEN}: {len(parts)} part files of {target.stem} here")
        os.replace(parts[0], target)
        shutil.rmtree(folder)
        return pq.ParquetFile(target).metadata.num_rows

    def frame(self, sql: str) -> pd.DataFrame:
        """Return what a (small) query answers as a frame."""
        return self.spark.sql(sql).toPandas()


@contextmanager
def opened(partitions: list[Path], conn_id: str) -> Iterator[SparkEngine]:
    """Yield a Spark engine over ``partitions`` from connection ``conn_id``, stopped at the end."""
    spark = session(SparkTarget.from_env(conn_id))
    try:
        yield SparkEngine(spark, partitions)
    finally:
        spark.stop()
