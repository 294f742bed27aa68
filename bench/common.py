"""What every benchmark shares: results, the machine, free ports, and waiting for a server."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import socket
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figure:
    """One measured figure against its target; ``passed`` is None when there is no target."""

    name: str
    measured: str
    target: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        """PASS, FAIL or an empty string when the figure is informational."""
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "FAIL"


class BenchFailure(Exception):
    """A benchmark could not run or lost money events; str() says what happened."""


def machine() -> dict[str, str]:
    """Cores, CPU model, memory, Python and SQLite versions of this machine."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) // 1024:,} MiB"
                break
    except OSError:
        pass
    return {
        "cores (nproc)": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_up(url: str, *, timeout_s: float = 30.0, process: object = None) -> float:
    """Poll ``url`` until it answers 200; return the seconds it took (raise after ``timeout_s``)."""
    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while True:
            returncode = getattr(process, "returncode", None)
            if returncode is not None:
                raise BenchFailure(f"{url}: the server exited with code {returncode}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except aiohttp.ClientError:
                pass
            if time.perf_counter() - start > timeout_s:
                raise BenchFailure(f"{url} did not answer 200 within {timeout_s:.0f} s")
            # polling a port that is not open yet: there is no event to wait on
            await asyncio.sleep(0.005)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (nearest rank); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))  # 1-based
    return ordered[max(0, min(len(ordered), rank) - 1)]


def median(values: list[float]) -> float:
    """The median of ``values``; 0.0 for none."""
    return statistics.median(values) if values else 0.0


def python_cmd(*args: str) -> list[str]:
    """A command line running this interpreter with ``args``."""
    return [sys.executable, *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: ours, the project on the path, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env
