"""The Redis Streams sink: one entry per user, published in chunks, exactly once per (ds, phase).

Keys share the hash tag ``{<stream>:<phase>}`` (one cluster slot per phase):

- ``{<stream>:<phase>}``: the stream, one entry per user (fields ``ds``, ``phase``,
  ``user_id``, ``record``);
- ``{…}:published:<ds>``: the date's marker hash (``digest``, ``count``, ``published_at``,
  and ``meta``: JSON of the publication's metadata, e.g. who approved it);
- ``{…}:ids:<ds>``: the ids of the date's current entries;
- ``{…}:pending:<ds>``, ``{…}:retired:<ds>``: ids of entries being added, or being removed.

A publication adds the new entries in chunks (recording their ids as it goes),
then commits in one short script (the marker and the id lists), then deletes the
replaced entries in chunks. No command touches more than :data:`CHUNK` entries,
so Redis is never blocked for long. Between the first chunk and the end, a
consumer may see part of the new copy beside the old one; consumers key on
(``ds``, ``phase``, ``user_id``) and the marker says which digest is current.
A try that died half-way is cleaned up by the next one. After a timeout, the
marker says whether the commit happened. The stream is trimmed to
``publish.retention_days``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping

from recsys import connections
from recsys.errors import SinkConfigError, SinkUnavailable
from recsys.sinks import Published, digest, record_lines

CHUNK = 2000  # entries per command: about a millisecond of Redis time each

# What a try cut short by the network left, by its step (Redis is written before the outbox).
CUT_SHORT = {
    "add": "This try may have added entries but did not commit them (the next try removes "
    "them); nothing was published",
    "commit": "This try added its entries but cannot tell whether its commit of {ds} ({phase}) "
    "ran (the next try reads the marker: it skips if it did, else removes them); nothing "
    "else was published",
    "clean": "This try committed {ds} ({phase}), but its clean-up was cut short (the next try "
    "finishes it); nothing else was published",
}

# KEYS: marker, ids, pending, retired. ARGV: digest, count, published_at.
_COMMIT = """
local known = redis.call('HGET', KEYS[1], 'digest')
if known == ARGV[1] then return {'skipped', 0} end
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[4]) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[2]) end
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'count', ARGV[2], 'published_at', ARGV[3])
if known then return {'replaced', 1} end
return {'published', 1}
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
        name = connections.variable(conn_id)
        try:
            conn = connections.read(conn_id, environ)
            if conn is None:
                raise SinkConfigError(
                    f"Redis connection {conn_id!r} is not available to this kernel ({name} is "
                    f"not set): define the Airflow connection {conn_id!r} (conn type redis, host, "
                    'port, extra {"stream": ..., "db": ...}); the publish task passes it to the '
                    "notebook. To run the notebook by hand, export "
                    f'{name}=\'{{"conn_type": "redis", "host": "127.0.0.1", "port": 6379}}\''
                )
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
    """Redis Streams: one entry per user in ``{<stream>:<phase>}``, exactly once per (ds, phase).

    ``timeout_s`` bounds each call to Redis (connecting, one command, one chunk
    of :data:`CHUNK` entries), not a whole publication: that lasts as long as
    its chunks (150,000 users take a few seconds), however short ``timeout_s``.
    A server that stops answering, or pauses writes (``CLIENT PAUSE``), fails
    the publish within ``timeout_s`` of its last answer (twice that if it stops
    during the commit, whose outcome is then read from the marker), raising
    :class:`SinkUnavailable`: calls are not retried within a try; the task is.
    Only the commit writes the marker, so a try that fails before it has
    published nothing, and the next try removes the entries it added.
    """

    name = "redis"

    def __init__(self, settings: RedisSettings, timeout_s: float, retention_days: int = 30) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.settings = settings
        self.timeout_s = timeout_s
        self.retention_days = retention_days
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
        """Return the stream key of ``phase`` (its own hash tag)."""
        return f"{{{self.settings.stream}:{phase}}}"

    def key(self, kind: str, ds: str, phase: str) -> str:
        """Return the key of ``kind`` (published, ids, pending, retired) for (ds, phase)."""
        return f"{self.stream(phase)}:{kind}:{ds}"

    def marker(self, ds: str, phase: str) -> str:
        """Return the hash that records the publication of (ds, phase)."""
        return self.key("published", ds, phase)

    def _unavailable(self, exc: Exception, done: str = "Nothing was published") -> SinkUnavailable:
        return SinkUnavailable(
            f"Redis sink unreachable: connection {self.settings.conn_id!r} at {self.settings.where} "
            f"gave {type(exc).__name__}: {exc} (timeout {self.timeout_s:g} s). {done} to any "
            "sink; check that the server is up and the connection's host and port, then clear "
            "the publish task"
        )

    def check(self) -> None:
        """Ping the server within the timeout."""
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def publish(
        self, records: list[dict], *, ds: str, phase: str, meta: Mapping | None = None
    ) -> Published:
        """Add one entry per record, or skip or replace an earlier publication of (ds, phase).

        ``meta`` (JSON-ready) goes into the date's marker as its field ``meta``.
        """
        import redis

        wanted = digest(records)
        pending, retired = self.key("pending", ds, phase), self.key("retired", ds, phase)
        step = "add"  # how far this try got, for the message if the network cuts it short
        try:
            # what a try that died half-way left: entries it added, entries it replaced
            removed = self._delete_listed(retired, phase)
            self._delete_listed(pending, phase)
            if self.client.hget(self.marker(ds, phase), "digest") == wanted:
                count = int(self.client.hget(self.marker(ds, phase), "count") or 0)
                self._describe(ds, phase, meta)
                return Published(self.name, self.stream(phase), "skipped", count, removed)
            self._add(records, ds, phase)
            step = "commit"
            action = self._commit(wanted, len(records), ds, phase)
            step = "clean"
            if action == "skipped":  # another writer committed the same records meanwhile
                self._delete_listed(pending, phase)
            removed += self._delete_listed(retired, phase)
            self._describe(ds, phase, meta)
            self._trim(phase)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc, CUT_SHORT[step].format(ds=ds, phase=phase)) from None
        except redis.ResponseError as exc:
            raise SinkUnavailable(
                f"Redis at {self.settings.where} refused the publication of {ds} ({phase}): "
                f"{str(exc).split('caused error: ')[-1]}. "
                "Nothing was committed; the next try cleans up and starts again"
            ) from None
        return Published(self.name, self.stream(phase), action, len(records), removed)

    def _describe(self, ds: str, phase: str, meta: Mapping | None) -> None:
        """Set the marker's ``meta`` field to the publication's metadata (if any)."""
        if meta:
            self.client.hset(self.marker(ds, phase), "meta", json.dumps(dict(meta), sort_keys=True))

    def _add(self, records: list[dict], ds: str, phase: str) -> None:
        """Add the entries in chunks, listing each chunk's ids in the pending list."""
        stream, pending = self.stream(phase), self.key("pending", ds, phase)
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for record, line in zip(chunk, record_lines(chunk), strict=True):
                pipe.xadd(
                    stream, {"ds": ds, "phase": phase, "user_id": record["user_id"], "record": line}
                )
            ids = pipe.execute()
            self.client.rpush(pending, *ids)

    def _commit(self, wanted: str, count: int, ds: str, phase: str) -> str:
        """Swap the marker and the id lists in one short script; after a timeout, ask the marker."""
        import redis

        keys = [self.key(kind, ds, phase) for kind in ("published", "ids", "pending", "retired")]
        now = dt.datetime.now(dt.UTC).isoformat()
        try:
            action, _ = self.client.eval(_COMMIT, 4, *keys, wanted, count, now)
            return str(action)
        except redis.TimeoutError:
            if self.client.hget(keys[0], "digest") == wanted:  # the script ran: committed
                return "published"
            raise

    def _delete_listed(self, listed: str, phase: str) -> int:
        """Delete the entries whose ids ``listed`` holds, a chunk at a time; then the list."""
        removed = 0
        while ids := self.client.lrange(listed, 0, CHUNK - 1):
            removed += self.client.xdel(self.stream(phase), *ids)
            self.client.ltrim(listed, len(ids), -1)
        self.client.delete(listed)
        return removed

    def _trim(self, phase: str) -> None:
        """Drop entries older than the retention (entry ids start with their time in ms)."""
        oldest = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.retention_days)
        self.client.xtrim(
            self.stream(phase), minid=int(oldest.timestamp() * 1000), approximate=True
        )

    def entries(self, phase: str) -> list[dict]:
        """Return every record in the phase's stream, oldest first (for tests and reviewers)."""
        return [json.loads(f["record"]) for _, f in self.client.xrange(self.stream(phase))]
