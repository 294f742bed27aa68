"""Start-up to ready, idle memory and clean shutdown of ``mpesa-bot run`` with the simulator.

Telegram is a fake Bot API on loopback, Daraja the simulator in its own process. Ready means
/healthz answers 200: the runner has opened the database, the Daraja client and the bot (polling
started, command menus published) before it listens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from bench.common import BenchFailure
from bench.common import Figure
from bench.common import child_env
from bench.common import free_port
from bench.common import median
from bench.common import python_cmd
from bench.common import wait_until_up
from bench.fake_telegram import FakeBotApi

TARGET_READY_S = 1.0
TARGET_RSS_MB = 120.0
TARGET_STOP_S = 5.0
IDLE_S = 3.0
ADMIN_ID = 111_222_333
TOKEN = "123456:" + "B" * 35  # made up: the Bot API is a local fake


def mpesa_bot_cmd(*args: str) -> list[str]:
    """The ``mpesa-bot`` console script of this environment (or the module behind it)."""
    script = Path(sys.executable).parent / "mpesa-bot"
    if script.exists():
        return [str(script), *args]
    return python_cmd("-c", "from bot.cli import main; main()", *args)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far: less swayed by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM), in MB (10^6 bytes)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024 / 1e6
    return fields["VmRSS"], fields["VmHWM"]


async def one_start(env: dict[str, str], cwd: Path, log: Path) -> dict[str, float]:
    """Spawn ``mpesa-bot run``, time it to ready, read idle RSS, SIGTERM it and time the exit."""
    port = int(env["WEB_PORT"])
    with log.open("ab") as out:
        start = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *mpesa_bot_cmd("run"), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            await wait_until_up(f"http://127.0.0.1:{port}/healthz", process=process)
            ready_s = time.perf_counter() - start
            ready_cpu_s = cpu_s(process.pid)
            # idle memory is measured after a fixed quiet period, by definition
            await asyncio.sleep(IDLE_S)
            rss, peak = rss_mb(process.pid)
            stop = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 30)
            stop_s = time.perf_counter() - stop
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return {
        "ready_s": ready_s,
        "cpu_s": ready_cpu_s,
        "rss_mb": rss,
        "peak_mb": peak,
        "stop_s": stop_s,
        "code": code,
    }


async def run(*, quick: bool = False) -> list[Figure]:
    """The start-up benchmark's figures (median of several starts)."""
    starts = 2 if quick else 4
    api = FakeBotApi()
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    telegram_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    sim_port = free_port()
    simulator = await asyncio.create_subprocess_exec(
        *python_cmd("-m", "mpesa.simulator", "--port", str(sim_port), "--callback-delay", "0"),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{sim_port}/simulator/state", process=simulator)
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            workdir = Path(tmp)
            env = _bot_env(workdir, telegram_url, sim_port)
            migrate = await asyncio.create_subprocess_exec(
                *mpesa_bot_cmd("migrate"),
                env=env,
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            output, _ = await migrate.communicate()
            if migrate.returncode != 0:
                raise BenchFailure(f"mpesa-bot migrate failed: {output.decode()[-2000:]}")
            log = workdir / "run.log"
            results = []
            for _ in range(starts):
                env["WEB_PORT"] = str(free_port())
                results.append(await one_start(env, workdir, log))
                r = results[-1]
                print(
                    f"  start-up: ready {r['ready_s']:.2f} s (CPU {r['cpu_s']:.2f} s), "
                    f"idle RSS {r['rss_mb']:.0f} MB (peak {r['peak_mb']:.0f}), "
                    f"SIGTERM -> exit {r['code']:.0f} in {r['stop_s']:.2f} s",
                    file=sys.stderr,
                )
            if any(r["code"] != 0 for r in results):
                raise BenchFailure(f"mpesa-bot run did not exit 0:\n{log.read_text()[-3000:]}")
    finally:
        simulator.terminate()
        await asyncio.wait_for(simulator.wait(), 10)
        await runner.cleanup()
    return _figures(results, api)


def _bot_env(workdir: Path, telegram_url: str, sim_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in child_env().items()
        if not k.startswith(("MPESA_", "TELEGRAM_", "DATABASE_", "AT_", "SHOP_"))
    }
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=telegram_url,
        MPESA_BASE_URL=f"http://127.0.0.1:{sim_port}",
        DATA_DIR=str(workdir / "data"),
        WEB_HOST="127.0.0.1",
        ADMIN_TELEGRAM_IDS=str(ADMIN_ID),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PYTHONPATH", None)  # the console script must find the installed project itself
    # like an installed service, keep compiled bytecode (outside the checkout); the first start
    # compiles it and is reported apart
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.fspath(workdir / "pycache")
    env["PWD"] = os.fspath(workdir)
    return env


def _figures(results: list[dict[str, float]], api: FakeBotApi) -> list[Figure]:
    cold, warm = results[0], results[1:]
    ready = median([r["ready_s"] for r in warm])
    rss = median([r["rss_mb"] for r in warm])
    peak = median([r["peak_mb"] for r in warm])
    stop = max(r["stop_s"] for r in results)
    return [
        Figure(
            f"start-up to ready (median of {len(warm)}, bytecode cached)",
            f"{ready:.2f} s",
            f"< {TARGET_READY_S:.1f} s",
            ready < TARGET_READY_S,
        ),
        Figure(
            "start-up: CPU seconds to ready (median, bytecode cached)",
            f"{median([r['cpu_s'] for r in warm]):.2f} s",
        ),
        Figure("start-up to ready, first start (compiling)", f"{cold['ready_s']:.2f} s"),
        Figure(
            f"idle memory, RSS after {IDLE_S:.0f} s",
            f"{rss:.0f} MB (peak {peak:.0f} MB)",
            f"< {TARGET_RSS_MB:.0f} MB",
            rss < TARGET_RSS_MB,
        ),
        Figure(
            "SIGTERM to exit 0 (slowest)",
            f"{stop:.2f} s",
            f"< {TARGET_STOP_S:.0f} s",
            stop < TARGET_STOP_S,
        ),
        Figure("start-up: Bot API calls seen", ", ".join(f"{k} {v}" for k, v in api.calls.items())),
    ]
