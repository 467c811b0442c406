"""Stream output: the published record per user, and the sinks that receive them.

One interface (``publish(records, ds=..., phase=...) -> Published``), two sinks:

- :class:`OutboxSink`, the embedded default: one JSON-lines file per (phase, ds),
  written atomically; publishing a date again replaces that date's file.
- :class:`RedisStreamSink`: one stream entry per user in the stream
  ``<stream>:<phase>``. A Lua script (atomic in Redis) checks the date's marker
  hash: the same records again are skipped; different records replace the
  date's earlier entries (deleted by their tracked ids) in the same script. A
  stream therefore never holds two copies of a (ds, phase).

The Redis connection is an Airflow connection. The stage operator passes it to
the kernel in its environment (``AIRFLOW_CONN_<ID>``, JSON or URI, the format
Airflow itself reads), never as a notebook parameter: parameters are written
into the archived notebook.

:func:`publish` reaches every sink before writing to any, writes Redis before
the outbox, and each write is all-or-nothing, so an unreachable Redis leaves
the outbox as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from stagebook import atomic, settings, storage
from stagebook.errors import SinkConfigError, SinkUnavailable


def format_records(recs: pd.DataFrame, *, ds: str, phase: str) -> list[dict]:
    """Return one record per user: ``user_id``, ranked ``item_ids`` and ``scores``, and provenance."""
    out = []
    for user_id, group in recs.sort_values(["user_id", "rank"]).groupby("user_id", sort=True):
        out.append(
            {
                "user_id": str(user_id),
                "item_ids": group["item_id"].astype(str).tolist(),
                "scores": [round(float(s), 6) for s in group["score"]],
                "model_signature": str(group["model_signature"].iloc[0]),
                "ds": ds,
                "phase": phase,
            }
        )
    return out


def _lines(records: list[dict]) -> list[str]:
    return [json.dumps(r, sort_keys=True) for r in records]


def digest(records: list[dict]) -> str:
    """Return the SHA-256 of the records as published: equal digests, equal publications."""
    return hashlib.sha256("\n".join(_lines(records)).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Published:
    """What one sink did with one date's records."""

    sink: str
    target: str
    action: str  # "published", "replaced" (an earlier publication of the date) or "skipped"
    records: int
    removed: int = 0  # earlier entries of the date deleted (Redis)


class Sink(Protocol):
    """Where published records go."""

    name: str

    def check(self) -> None:
        """Raise :class:`SinkUnavailable` if the sink cannot be written now."""

    def publish(self, records: list[dict], *, ds: str, phase: str) -> Published:
        """Publish one date's records, exactly once per (ds, phase)."""


class OutboxSink:
    """The local outbox: ``outbox/<phase>/ds=YYYY-MM-DD.jsonl``."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def target(self, ds: str) -> Path:
        """Return the file of date ``ds``."""
        return storage.outbox_file(self.folder, ds)

    def check(self) -> None:
        """Nothing to reach: the folder is created on write."""

    def publish(self, records: list[dict], *, ds: str, phase: str = "") -> Published:
        """Write the records of ``ds``, replacing any earlier publication of that date."""
        path = self.target(ds)
        lines = "".join(line + "\n" for line in _lines(records))
        if path.exists() and path.read_text() == lines:
            return Published(self.name, str(path), "skipped", len(records))
        action = "replaced" if path.exists() else "published"
        atomic.write_text(path, lines)
        return Published(self.name, str(path), action, len(records))


# KEYS: stream, marker. ARGV: digest, ds, phase, published_at, then user_id, record pairs.
_PUBLISH = """
local known = redis.call('HGET', KEYS[2], 'digest')
if known == ARGV[1] then
  return {'skipped', tonumber(redis.call('HGET', KEYS[2], 'count')), 0}
end
local removed = 0
local old = redis.call('HGET', KEYS[2], 'ids')
if old then
  local ids = cjson.decode(old)
  for i = 1, #ids, 1000 do
    removed = removed + redis.call('XDEL', KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
  end
end
local ids = {}
for i = 5, #ARGV, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'ds', ARGV[2], 'phase', ARGV[3],
                             'user_id', ARGV[i], 'record', ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'digest', ARGV[1], 'count', #ids, 'published_at', ARGV[4],
           'ids', #ids > 0 and cjson.encode(ids) or '[]')
if known then return {'replaced', #ids, removed} end
return {'published', #ids, removed}
"""


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """Where the Redis sink writes, from an Airflow connection (no password in ``repr``)."""

    conn_id: str
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    stream: str = "stagebook:recommendations"

    @property
    def where(self) -> str:
        """Host, port and database, for messages (never the password)."""
        return f"redis://{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_env(cls, conn_id: str, environ: Mapping[str, str] | None = None) -> RedisSettings:
        """Read connection ``conn_id`` from ``AIRFLOW_CONN_<CONN_ID>`` (JSON or URI).

        Airflow's task SDK reads the value, in the format Airflow itself writes.

        Raises:
            SinkConfigError: the variable is missing or unreadable (not retried).
        """
        name = settings.connection_variable(conn_id)
        value = (os.environ if environ is None else environ).get(name)
        if not value:
            raise SinkConfigError(
                f"Redis connection {conn_id!r} is not available to this kernel ({name} is not "
                f"set): define the Airflow connection {conn_id!r} (conn type redis, host, port, "
                'extra {"stream": ..., "db": ...}); the publish task passes it to the notebook. '
                "To run the notebook by hand, export "
                f'{name}=\'{{"conn_type": "redis", "host": "127.0.0.1", "port": 6379}}\''
            )
        from airflow.sdk import Connection

        try:
            if value.lstrip().startswith("{"):
                conn = Connection.from_json(value, conn_id=conn_id)
            else:
                conn = Connection.from_uri(value, conn_id=conn_id)
            extra = conn.extra_dejson
            return cls(
                conn_id=conn_id,
                host=conn.host or cls.host,
                port=int(conn.port or cls.port),
                db=int(extra.get("db", conn.schema or 0)),
                username=conn.login or None,
                password=conn.password or None,
                stream=str(extra.get("stream") or cls.stream),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise SinkConfigError(
                f"{name} (connection {conn_id!r}) cannot be read ({type(exc).__name__}: {exc}): "
                "give host, port and extra db / stream as Airflow connection JSON or URI"
            ) from None


class RedisStreamSink:
    """Redis Streams: one entry per user in ``<stream>:<phase>``, exactly once per (ds, phase).

    Every network call is bounded by ``timeout_s`` and not retried: an
    unreachable server fails the publish within about ``timeout_s``.
    """

    name = "redis"

    def __init__(self, settings: RedisSettings, timeout_s: float) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.settings = settings
        self.timeout_s = timeout_s
        self.client = redis.Redis(
            host=settings.host,
            port=settings.port,
            db=settings.db,
            username=settings.username,
            password=settings.password,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def stream(self, phase: str) -> str:
        """Return the stream key of ``phase``."""
        return f"{self.settings.stream}:{phase}"

    def marker(self, ds: str, phase: str) -> str:
        """Return the hash that records the publication of (ds, phase): digest and entry ids."""
        return f"{self.stream(phase)}:published:{ds}"

    def _unavailable(self, exc: Exception) -> SinkUnavailable:
        return SinkUnavailable(
            f"Redis sink unreachable: connection {self.settings.conn_id!r} at {self.settings.where} "
            f"gave {type(exc).__name__}: {exc} (timeout {self.timeout_s:g} s). Nothing was "
            "published to any sink; check that the server is up and the connection's host and "
            "port, then clear the publish task"
        )

    def check(self) -> None:
        """Ping the server within the timeout."""
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def publish(self, records: list[dict], *, ds: str, phase: str) -> Published:
        """Add one entry per record, or skip or replace an earlier publication of (ds, phase)."""
        import redis

        args: list[str] = [digest(records), ds, phase, dt.datetime.now(dt.UTC).isoformat()]
        for record, line in zip(records, _lines(records), strict=True):
            args += [record["user_id"], line]
        stream = self.stream(phase)
        try:
            action, count, removed = self.client.eval(
                _PUBLISH, 2, stream, self.marker(ds, phase), *args
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from None
        return Published(self.name, stream, action, int(count), int(removed))

    def entries(self, phase: str) -> list[dict]:
        """Return every record in the phase's stream, oldest first (for tests and reviewers)."""
        return [json.loads(f["record"]) for _, f in self.client.xrange(self.stream(phase))]


def open_sinks(names: Sequence[str], *, outbox: Path, redis_conn_id: str, timeout_s: float) -> list:
    """Return the sinks named in ``publish.sinks``, Redis first so the outbox is written last."""
    order = sorted(names, key=lambda n: n != "redis")
    sinks: list[Any] = []
    for name in order:
        if name == "redis":
            sinks.append(RedisStreamSink(RedisSettings.from_env(redis_conn_id), timeout_s))
        else:
            sinks.append(OutboxSink(outbox))
    return sinks


def publish(records: list[dict], sinks: Sequence[Sink], *, ds: str, phase: str) -> list[Published]:
    """Publish to every sink, after checking that each can be reached."""
    for sink in sinks:
        sink.check()
    return [sink.publish(records, ds=ds, phase=phase) for sink in sinks]
