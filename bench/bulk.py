"""A 1,000-row bulk payout batch against the simulator: rows/s against the pace, CPU, doubles.

Everything runs in this process on loopback: the Daraja simulator (no callback delay), the
product's web app receiving its callbacks, the real services on a fresh SQLite file. The batch
is uploaded, confirmed and approved like an admin would, then sent by BulkSender passes (the
job the bot runs) until every row settled. CPU is this process's, simulator included.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from aiohttp.test_utils import TestServer

from bench.common import Figure
from bench.ingest_server import bench_settings
from bot.callback_paths import callback_urls
from bot.services.container import build_services
from bot.web.app import create_app
from models import Payout
from models import PayoutStatus
from models import Staff
from models import StaffRole
from models.db import close_db
from models.db import init_db
from models.db import migrate
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.security import security_credential
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator

ROWS = 1_000
QUICK_ROWS = 60
PACE_PER_S = 10.0  # BULK_PAYOUTS_PER_S for the run (default 2): 1,000 rows in about 100 s
ADMIN, SECOND_ADMIN = 1001, 1002
SETTLE_PASSES = 200


def batch_file(rows: int) -> bytes:
    """Distinct Safaricom numbers, KES 100 each."""
    lines = ["phone,amount,name,reference"]
    lines += [f"0708{i:06d},100,Worker {i},Wages" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def run(*, quick: bool = False) -> list[Figure]:
    """Send one batch; the figures."""
    rows = QUICK_ROWS if quick else ROWS
    sim_app = create_simulator(SimulatorConfig(query_pending_s=0.0, callback_delay_s=0.0))
    sim = TestServer(sim_app, host="127.0.0.1")
    await sim.start_server()
    sim_url = str(sim.make_url("")).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mpesa-bot-bench-bulk-") as tmp:
        settings = bench_settings(Path(tmp), 0, "bench-callback-secret-0123").model_copy(
            update={
                "admin_telegram_ids": [ADMIN],
                "bulk_payouts_per_s": PACE_PER_S,
                "staff_daily_payout_limit": 10_000_000,
                "b2c_query_after_s": 0.0,
                "mpesa_shortcode": SANDBOX_SHORTCODE,
            }
        )
        await migrate(settings.resolved_database_url)
        await init_db(settings.resolved_database_url)
        holder = type("Holder", (), {})()
        server = TestServer(create_app(holder, settings=settings), host="127.0.0.1")
        await server.start_server()
        our_url = str(server.make_url("")).rstrip("/")
        async with httpx.AsyncClient() as http:
            certificate = (await http.get(f"{sim_url}/simulator/certificate")).content
        daraja = DarajaClient(
            DarajaConfig(
                base_url=sim_url,
                consumer_key="simulator-key",
                consumer_secret="simulator-secret",
                shortcode=SANDBOX_SHORTCODE,
                passkey=SANDBOX_PASSKEY,
                callbacks=callback_urls(our_url, settings.resolved_callback_secret()),
                b2c_shortcode="600996",
                initiator_name="testapi",
                security_credential=security_credential(SANDBOX_INITIATOR_PASSWORD, certificate),
            )
        )
        control = httpx.AsyncClient(base_url=sim_url)
        try:
            services = build_services(settings, daraja=daraja, channels={})
            holder.__dict__.update(vars(services))
            await services.staff.bootstrap_admins()
            await Staff.create(telegram_id=SECOND_ADMIN, role=StaffRole.ADMIN, name="Second")
            summary = await services.bulk.upload(
                batch_file(rows), file_name="bench.csv", by_telegram_id=ADMIN
            )
            batch = await services.batches.confirm(summary.batch.id, by_telegram_id=ADMIN)
            if batch.needs_approval:
                await services.batches.approve(batch.id, by_telegram_id=SECOND_ADMIN)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            while True:
                report = await services.bulk_sender.run_once(budget_s=30.0)
                if report.sent == 0:
                    break
            send_s = time.perf_counter() - wall0
            for _ in range(SETTLE_PASSES):
                (await control.post("/simulator/drain")).raise_for_status()
                await services.reconciler.run_once()
                left = await Payout.filter(
                    status__in=[
                        PayoutStatus.SUBMITTING,
                        PayoutStatus.SUBMITTED,
                        PayoutStatus.UNKNOWN,
                    ]
                ).count()
                if left == 0:
                    break
            cpu_s = time.process_time() - cpu0
            total_s = time.perf_counter() - wall0
            state = (await control.get("/simulator/state")).json()
            made = Counter(p["originator_conversation_id"] for p in state["payouts"])
            completed = await Payout.filter(status=PayoutStatus.COMPLETED).count()
        finally:
            await control.aclose()
            await daraja.aclose()
            await server.close()
            await close_db()
            await sim.close()
    rate = rows / send_s if send_s else 0.0
    doubles = sum(1 for n in made.values() if n > 1)
    return [
        Figure(
            f"bulk: {rows:,} rows sent at",
            f"{rate:.1f} rows/s",
            f"~{PACE_PER_S:g}/s (BULK_PAYOUTS_PER_S)",
            abs(rate - PACE_PER_S) / PACE_PER_S < 0.2 if not quick else None,
        ),
        Figure("bulk: CPU per row (sender, callbacks, simulator)", f"{1000 * cpu_s / rows:.1f} ms"),
        Figure("bulk: all settled in", f"{total_s:.1f} s ({completed:,} completed)"),
        Figure("bulk: rows paid twice", str(doubles), "0", doubles == 0 and len(made) == rows),
    ]
