"""``python -m bench [ingest|ingest-pg|bot|startup|token|auth|bulk] [--quick]``: one table.

Exit code 1 only when callbacks were lost or a benchmark crashed; a missed target is printed as
FAIL in the table but is a finding, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
import traceback
from collections.abc import Awaitable
from collections.abc import Callable
from urllib.parse import urlsplit

from bench import auth
from bench import bot_updates
from bench import bulk
from bench import ingest
from bench import oauth
from bench import startup
from bench.common import Figure
from bench.common import machine

# the PostgreSQL run of the ingest benchmark connects here as admin and makes its own database
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


async def ingest_postgres(*, quick: bool) -> list[Figure]:
    """The ingest benchmark on PostgreSQL, when a server answers at POSTGRES_URL."""
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5432), timeout=0.5):
            pass
    except OSError:
        where = f"{parts.hostname}:{parts.port or 5432}"
        return [Figure("ingest (PostgreSQL)", f"skipped: no server at {where}")]
    return await ingest.run(quick=quick, postgres_url=POSTGRES_URL)


BENCHES: dict[str, Callable[..., Awaitable[list[Figure]]]] = {
    "ingest": ingest.run,
    "ingest-pg": ingest_postgres,
    "bot": bot_updates.run,
    "startup": startup.run,
    "token": oauth.run,
    "auth": auth.run,
    "bulk": bulk.run,
}


def table(figures: list[Figure]) -> str:
    """The summary table: benchmark, measured, target, verdict."""
    rows = [("benchmark", "measured", "target", "")] + [
        (f.name, f.measured, f.target, f.verdict) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    rule = "-+-".join("-" * w for w in widths)
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([lines[0], rule, *lines[1:]])


def load_average() -> str:
    """The 1-minute load average (other work on the machine skews every figure)."""
    return f"{os.getloadavg()[0]:.2f}"


async def run_all(names: list[str], *, quick: bool) -> tuple[list[Figure], list[str]]:
    """Run the named benchmarks in order; their figures and the errors of those that crashed."""
    figures: list[Figure] = []
    errors: list[str] = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            figures += await BENCHES[name](quick=quick)
        except ingest.LostCallbacks as exc:
            figures += exc.figures
            errors.append(f"{name}: {exc}")
        except Exception as exc:  # report every benchmark, even after one crashed
            traceback.print_exc()
            figures.append(Figure(f"{name}: crashed", f"{type(exc).__name__}: {exc}"[:120]))
            errors.append(f"{name}: {exc}")
        print(f"== {name} done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return figures, errors


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, print the machine and the table; 1 on loss or crash."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", choices=[*BENCHES, []], default=[])
    parser.add_argument("--quick", action="store_true", help="small smoke run, not the figures")
    args = parser.parse_args(argv)
    names = args.which or list(BENCHES)
    load_before = load_average()
    figures, errors = asyncio.run(run_all(names, quick=args.quick))
    print()
    print("Machine")
    for key, value in machine().items():
        print(f"  {key}: {value}")
    print(f"  load average (1 min) before / after: {load_before} / {load_average()}")
    if args.quick:
        print("  QUICK run: small loads, figures are not comparable to the targets")
    print()
    print(table(figures))
    for error in errors:
        print(f"ERROR {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
