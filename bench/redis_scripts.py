"""A pipeline of Lua scripts as serve sends it, against redis-py's script objects.

redis-py's ``Script`` in a pipeline first asks ``SCRIPT EXISTS`` (one more round trip per
pipeline); serve's enqueues and label joins send ``EVALSHA`` directly
(:func:`stream_al.io.redis._run_script`). Both run the same one-key script over pipelines of
1, 10 and 50 calls on a live Redis (``REDIS_URL``, as ``scripts/services up`` prints it;
database 14, emptied before and after), alternating rounds; medians in microseconds per
pipeline and their ratio.

    REDIS_URL=redis://127.0.0.1:PORT/0 .venv/bin/python bench/redis_scripts.py \\
        --out bench/results/issue18/redis-scripts.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from stream_al.io.redis import _run_script

SCRIPT = "return redis.call('SET', KEYS[1], ARGV[1])"


def _timed(run: Callable[[], Any], times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        run()
    return (time.perf_counter() - start) / times * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=2000, help="pipelines per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    url = os.environ.get("REDIS_URL")
    if not url:
        raise SystemExit("redis_scripts: set REDIS_URL (scripts/services up prints it)")
    client = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/14")
    client.flushdb()
    script = client.register_script(SCRIPT)

    def script_objects(calls: list[tuple[list[str], list[str | int]]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, values in calls:
            script(keys=keys, args=values, client=pipe)
        return pipe.execute()

    results = []
    try:
        for size in (1, 10, 50):
            calls: list[tuple[list[str], list[str | int]]] = [([f"k{i}"], [i]) for i in range(size)]
            assert script_objects(calls) == _run_script(client, script, calls)
            old, new = [], []
            for _ in range(args.rounds):
                old.append(_timed(lambda: script_objects(calls), args.times))  # noqa: B023
                new.append(_timed(lambda: _run_script(client, script, calls), args.times))  # noqa: B023
            row = {
                "calls": size,
                "script_objects_us": statistics.median(old),
                "evalsha_us": statistics.median(new),
            }
            row["ratio"] = row["evalsha_us"] / row["script_objects_us"]
            results.append(row)
            print(f"pipeline of {size}: redis-py script objects {row['script_objects_us']:.0f} us, "
                  f"EVALSHA {row['evalsha_us']:.0f} us, ratio {row['ratio']:.2f}")  # fmt: skip
    finally:
        client.flushdb()
    if args.out:
        report = {"benchmark": "redis-scripts", "rounds": args.rounds, "times": args.times}
        args.out.write_text(json.dumps(report | {"results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
