"""The input tables on Spark, through a real Spark Connect server on loopback, equal DuckDB's."""

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys import data, tables
from recsys import paths as datasets
from recsys.spark_tables import SparkConfigError, SparkTarget
from stagebook import params
from tests.support import TINY, free_port, servers
from tests.support.runs import outputs_text, reports, xcom
from tests.support.servers import connection_env

DAY = dt.date(2019, 11, 20)
CONN = "test_spark"
NAMES = ("events", "users", "items", "seen")


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        pytest.fail("pyspark is not installed: `make test` installs the spark dependency group")
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server (pyspark's own jars, local[2]) on a loopback port, stopped by PID."""
    home, port = spark_home(), free_port()
    log = tmp_path_factory.mktemp("spark") / "connect.log"
    command = [str(home / "bin" / "spark-submit"), "--master", "local[2]"]
    command += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    for conf in (
        f"spark.connect.grpc.binding.port={port}",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "spark.ui.enabled=false",
        "spark.sql.shuffle.partitions=4",
    ):
        command += ["--conf", conf]
    env = {**os.environ, "SPARK_HOME": str(home)}
    with log.open("w") as sink:  # spark-submit execs java: the PID is the server's
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(port, proc, log)
        yield port
    finally:
        servers.stop(proc, signal.SIGTERM, 30)


def wait_for(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Spark Connect server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    """Two days of synthetic events, landed as raw partitions."""
    p = params.load().data.model_copy(
        update={"source": "synthetic", "events_per_day": 1500, "anchor_date": DAY}
    )
    paths = datasets.paths(DAY, "common", tmp_path_factory.mktemp("raw"))
    files, _ = data.land_window(p, paths, [DAY - dt.timedelta(days=1), DAY])
    return files


def settings(**changes):
    return params.load().tables.model_copy(update=changes)


def built_with(chosen, files, folder):
    paths = datasets.paths(DAY, "common", folder)
    return tables.build(files, data.source("synthetic"), paths, 1, chosen), paths


def checksum(frame: pd.DataFrame) -> int:
    ordered = frame.sort_values(list(frame.columns), ignore_index=True)
    return int(pd.util.hash_pandas_object(ordered, index=False).sum())


def test_seen_found_in_several_passes_is_the_same_table(window, tmp_path):
    once, once_paths = built_with(settings(), window, tmp_path / "once")
    many, many_paths = built_with(settings(seen_pass_events=700), window, tmp_path / "many")
    assert many.rows == once.rows
    for name in NAMES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(many_paths.table(name)), pd.read_parquet(once_paths.table(name))
        )
    seen = tables.queries(data.source("synthetic"), ["user_id", "item_id"], 5)["seen"]
    assert seen.count("SELECT DISTINCT") == 5 and "% 5) = 4" in seen  # 3,000 events / 700


def test_spark_connect_builds_the_same_tables_as_duckdb(
    connect_server, window, tmp_path, monkeypatch
):
    spark_conn = {"conn_type": "spark_connect", "host": "sc://127.0.0.1", "port": connect_server}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(spark_conn))
    duck, duck_paths = built_with(settings(), window, tmp_path / "duckdb")
    # Spark finds the seen pairs in 5 passes over the 3,000 events, DuckDB in one
    chosen = settings(engine="spark", spark_conn_id=CONN, seen_pass_events=700)
    spark, spark_paths = built_with(chosen, window, tmp_path / "spark")

    assert spark.rows == duck.rows and duck.rows["events"] == 3000
    pd.testing.assert_frame_equal(spark.daily, duck.daily)
    for name in NAMES:
        ours, theirs = (pq.read_table(p.table(name)) for p in (spark_paths, duck_paths))
        assert ours.schema.remove_metadata() == theirs.schema.remove_metadata(), name
        ours, theirs = ours.to_pandas(), theirs.to_pandas()
        assert checksum(ours) == checksum(theirs), name
        pd.testing.assert_frame_equal(ours, theirs)  # the same rows in the same order
    written = pq.ParquetFile(spark_paths.table("events")).schema
    assert {written.column(i).physical_type for i in (0, 1)} == {"INT64"}  # date, ts: not INT96
    assert sorted(p.name for p in spark_paths.tables.iterdir()) == [
        f"{n}.parquet" for n in sorted(NAMES)
    ]


def test_the_input_tables_task_hands_its_spark_connection_to_the_kernel(
    connect_server, run_pipeline, home, monkeypatch
):
    url = {"conn_type": "spark_connect", "host": "sc://127.0.0.1", "port": connect_server}
    for name, value in connection_env("stagebook_spark", **url).items():
        monkeypatch.setenv(name, value)  # the worker's connection: the operator passes it on
    conf = {"phases": ["prod"], "overrides": {**TINY, "tables.engine": "spark"}}
    run = run_pipeline(DAY, conf, only="input_tables")
    assert run.states["input_tables"] == "success"
    assert xcom(run.dag_run, "input_tables", "table_rows")["events"] == 5 * 400
    report = reports(home, DAY, "common", run.dag_run) / "00-input-tables.try1.ipynb"
    assert "built with spark" in outputs_text(report)


def test_engine_spark_without_its_connection_fails_in_one_line(window, tmp_path, monkeypatch):
    p = settings(engine="spark", spark_conn_id="nowhere_spark")
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE_SPARK", raising=False)
    paths = datasets.paths(DAY, "common", tmp_path)
    with pytest.raises(SparkConfigError) as err:
        tables.build(window, data.source("synthetic"), paths, 1, p)
    message = str(err.value)
    assert "\n" not in message
    assert "'nowhere_spark'" in message and "AIRFLOW_CONN_NOWHERE_SPARK is not set" in message
    assert "airflow connections add nowhere_spark --conn-type spark_connect" in message
    assert not paths.tables.exists()  # nothing written


@pytest.mark.parametrize(
    ("value", "where", "url", "master"),
    [
        (
            '{"conn_type": "spark_connect", "host": "sc://spark.internal", "port": 15002}',
            "sc://spark.internal:15002",
            "sc://spark.internal:15002/",
            None,
        ),
        (  # Airflow's URI form, as the Ansible vault holds it, with a token
            "spark-connect://:s3cret@spark.internal:15002",
            "sc://spark.internal:15002",
            "sc://spark.internal:15002/;token=s3cret",
            None,
        ),
        ('{"conn_type": "spark", "host": "local[2]"}', "local[2]", None, "local[2]"),
        (  # a Connect server on this host: not a local master
            '{"conn_type": "spark_connect", "host": "localhost", "port": 15002}',
            "sc://localhost:15002",
            "sc://localhost:15002/",
            None,
        ),
    ],
)
def test_the_connection_forms_give_a_spark_connect_url_or_a_local_master(value, where, url, master):
    target = SparkTarget.from_env(CONN, {f"AIRFLOW_CONN_{CONN.upper()}": value})
    assert (target.where, target.url, target.master) == (where, url, master)
    assert "s3cret" not in repr(target) and "s3cret" not in target.where  # messages show no token


def test_a_connect_server_that_is_away_fails_the_try_at_once_to_be_retried():
    from recsys.spark_tables import SparkUnavailable, session

    port = free_port()  # nothing listens there
    value = f'{{"conn_type": "spark_connect", "host": "sc://127.0.0.1", "port": {port}}}'
    target = SparkTarget.from_env(CONN, {f"AIRFLOW_CONN_{CONN.upper()}": value})
    with pytest.raises(SparkUnavailable) as err:
        session(target)  # pyspark alone would retry for minutes
    assert err.value.retryable is not False and "\n" not in str(err.value)
    assert f"sc://127.0.0.1:{port}" in str(err.value) and "did not answer" in str(err.value)


def test_a_connection_that_does_not_parse_never_quotes_it():
    value = "spark-connect://:ab/cd=@h:15002"  # a token with a slash, not percent-encoded
    with pytest.raises(SparkConfigError) as err:
        SparkTarget.from_env(CONN, {f"AIRFLOW_CONN_{CONN.upper()}": value})
    assert "ab" not in str(err.value).replace("tables", "") and "\n" not in str(err.value)
