"""The load generator, run in its own process: POSTs callback bodies and times every answer.

``python -m bench.loadgen --url U --bodies FILE --start I --count N (--concurrency C | --rate R)``
prints one JSON line: requests, failures, seconds, requests/s, p50/p99 latency in ms.
Closed loop (``--concurrency``): C requests always in flight. Open loop (``--rate``): a request
is due every 1/R s whatever the answers do, and its latency counts from when it was due, so a
stalled server shows up as latency instead of silently lowering the offered rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import median
from bench.common import percentile

HEADERS = {"Content-Type": "application/json"}


class Recorder:
    """Latencies of successful answers and a count of failures."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self.first_failure = ""

    async def post(self, http: aiohttp.ClientSession, url: str, body: bytes, due: float) -> None:
        """POST one body; an answer other than 200 with ResultCode 0 is a failure."""
        try:
            async with http.post(url, data=body, headers=HEADERS) as response:
                answer = await response.read()
                ok = response.status == 200 and json.loads(answer).get("ResultCode") == 0
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            ok, answer = False, repr(exc).encode()
        if ok:
            self.latencies.append(time.perf_counter() - due)
        else:
            self.failures += 1
            self.first_failure = self.first_failure or answer[:300].decode("utf-8", "replace")


async def closed_loop(url: str, bodies: list[bytes], concurrency: int) -> tuple[Recorder, float]:
    """Keep ``concurrency`` requests in flight until every body is sent; (recorder, seconds)."""
    recorder = Recorder()
    pending = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for body in pending:
                await recorder.post(http, url, body, time.perf_counter())

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return recorder, time.perf_counter() - start


async def open_loop(url: str, bodies: list[bytes], rate: float) -> tuple[Recorder, float]:
    """Start one request every 1/``rate`` s regardless of answers; (recorder, seconds)."""
    recorder = Recorder()
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = []
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                # pacing an open-loop generator: waiting for a clock time is the point here
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(recorder.post(http, url, body, due)))
        await asyncio.gather(*tasks)
        return recorder, time.perf_counter() - start


def summary(recorder: Recorder, seconds: float, sent: int) -> dict[str, Any]:
    """What the orchestrator reads back: counts, throughput and latency in ms."""
    ms = [latency * 1000 for latency in recorder.latencies]
    return {
        "sent": sent,
        "ok": len(recorder.latencies),
        "failures": recorder.failures,
        "first_failure": recorder.first_failure,
        "seconds": seconds,
        "per_s": len(recorder.latencies) / seconds if seconds else 0.0,
        "p50_ms": median(ms),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=0.0),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the load, print the summary as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body per line")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--concurrency", type=int)
    mode.add_argument("--rate", type=float)
    args = parser.parse_args(argv)
    lines = args.bodies.read_bytes().splitlines()
    bodies = lines[args.start : args.start + args.count]
    if len(bodies) != args.count:
        sys.exit(f"only {len(bodies)} bodies from line {args.start}, {args.count} wanted")
    if args.concurrency is not None:
        recorder, seconds = asyncio.run(closed_loop(args.url, bodies, args.concurrency))
    else:
        recorder, seconds = asyncio.run(open_loop(args.url, bodies, args.rate))
    print(json.dumps(summary(recorder, seconds, len(bodies))), flush=True)


if __name__ == "__main__":
    main()
