"""How long the Redis sink blocks Redis when it publishes 150k users, read from Redis's SLOWLOG.

Redis runs one command at a time, so the longest single command is the longest
time any other client waits. Starts its own redis-server on loopback, publishes
a date for 150k users, then a changed version of it (a replacement), and writes
``benchmarks/results/redis_publish.json``.

    .venv/bin/python benchmarks/redis_publish.py
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lib")]

from recsys import redis_sink, sinks  # noqa: E402
from tests.support.servers import redis_process  # noqa: E402

USERS, TOP_K = 150_000, 10


def records(item_prefix: str) -> list[dict]:
    users = pd.DataFrame({"user_id": [f"u{n}" for n in range(USERS)]})
    recs = pd.concat(
        users.assign(rank=r, item_id=f"{item_prefix}{r}", score=1 / r, model_signature="sig")
        for r in range(1, TOP_K + 1)
    )
    return sinks.format_records(recs, ds="2019-11-20", phase="prod")


def publish(sink, client, recs) -> dict:
    client.slowlog_reset()
    start = time.perf_counter()
    done = sink.publish(recs, ds="2019-11-20", phase="prod")
    wall = time.perf_counter() - start
    log = [
        e for e in client.slowlog_get(1_000_000) if not e["command"].upper().startswith(b"SLOWLOG")
    ]
    by_command = collections.defaultdict(list)
    for entry in log:
        by_command[entry["command"].split()[0].decode().upper()].append(entry["duration"])
    return {
        "action": done.action,
        "wall_s": round(wall, 2),
        "redis_busy_total_ms": round(sum(e["duration"] for e in log) / 1000, 1),
        "longest_command_ms": round(max(e["duration"] for e in log) / 1000, 2),
        "longest_by_command_ms": {
            c: round(max(d) / 1000, 2) for c, d in sorted(by_command.items())
        },
        "commands": len(log),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, redis_process(Path(tmp)) as server:
        client = server["client"]
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 2_000_000)
        settings = redis_sink.RedisSettings("bench", host=server["host"], port=server["port"])
        sink = redis_sink.RedisStreamSink(settings, timeout_s=2.0)
        result = {
            "users": USERS,
            "chunk": redis_sink.CHUNK,
            "first": publish(sink, client, records("i")),
            "replace": publish(sink, client, records("j")),
        }
    print(json.dumps(result, indent=2))
    (REPO / "benchmarks" / "results" / "redis_publish.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
