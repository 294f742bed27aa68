"""Bot updates: /status lookups through the real Application against 100,000 payments.

The Application is the production one (handlers, defaults, error handler) on the in-process Bot
API; updates are fed to ``process_update`` as Telegram would deliver them, many at a time (the
Application runs with ``concurrent_updates``). Every reply is checked to be the payment's card.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import Update

from bench.common import Figure, median, percentile
from bench.ingest_server import NoDaraja
from bot.config import Settings
from bot.notify.sms import build_sms_channel
from bot.services.container import build_services
from bot.telegram.app import build_offline_application
from bot.telegram.transport import InProcessBotApi
from models import NotificationChannel, Payment, PaymentStatus
from models.db import close_db, init_db, migrate

ADMIN_ID = 111_222_333
TARGET_PER_S = 500.0
FULL_PAYMENTS = 100_000
QUICK_PAYMENTS = 2_000
BATCH = 5_000
TOKEN = "123456:" + "A" * 35  # made up: the Bot API is in-process


def receipt(i: int) -> str:
    """The M-Pesa receipt of seeded payment ``i``."""
    return f"SBX{i:07d}"


async def seed(count: int) -> None:
    """Create ``count`` payments, nine in ten paid with a receipt, the rest still pending."""
    now = datetime.now(UTC)
    for first in range(0, count, BATCH):
        rows = []
        for i in range(first, min(first + BATCH, count)):
            paid = i % 10 != 0
            rows.append(
                Payment(
                    msisdn=f"2547{i % 100_000_000:08d}",
                    amount=100 + i % 5_000,
                    account_reference="BENCH",
                    description="benchmark",
                    status=PaymentStatus.PAID if paid else PaymentStatus.PENDING,
                    checkout_request_id=f"ws_CO_bot_{i:08d}",
                    receipt=receipt(i) if paid else None,
                    paid_amount=100 + i % 5_000 if paid else None,
                    paid_at=now if paid else None,
                    chat_id=ADMIN_ID,
                    initiated_via="bench",
                    created_at=now,
                    updated_at=now,
                )
            )
        await Payment.bulk_create(rows)


def status_update(update_id: int, text: str) -> dict[str, Any]:
    """The Update Telegram sends when the admin types ``text`` in their private chat."""
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": ADMIN_ID, "type": "private", "first_name": "Admin"},
            "from": {"id": ADMIN_ID, "is_bot": False, "first_name": "Admin"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


async def measure(
    app: Any, api: InProcessBotApi, refs: list[tuple[str, str]], concurrency: int
) -> dict[str, float]:
    """Feed one /status update per ref, ``concurrency`` at a time; rate, latency, wrong replies."""
    ids = itertools.count(1_000_000)
    latencies: list[float] = []
    queue = iter(refs)

    async def worker() -> None:
        for ref, _ in queue:
            update = Update.de_json(status_update(next(ids), f"/status {ref}"), app.bot)
            start = time.perf_counter()
            await app.process_update(update)
            latencies.append(time.perf_counter() - start)

    api.calls.clear()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    # replies of concurrent updates interleave: count them, then find each expected receipt
    replies = [c for c in api.calls if c.method == "sendMessage"]
    texts = "\n".join(str(c.params.get("text", "")) for c in replies)
    missing = sum(1 for _, expected in refs if expected not in texts)
    ms = [latency * 1000 for latency in latencies]
    return {
        "per_s": len(refs) / seconds,
        "p50_ms": median(ms),
        "p99_ms": percentile(ms, 99),
        "wrong": abs(len(refs) - len(replies)) + missing,
    }


async def run(*, quick: bool = False) -> list[Figure]:
    """The bot benchmark's figures."""
    count = QUICK_PAYMENTS if quick else FULL_PAYMENTS
    lookups = 500 if quick else 3_000
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            telegram_bot_token=TOKEN,
            admin_telegram_ids=[ADMIN_ID],
            callback_secret="bench-secret-0123456789",
            public_base_url="http://127.0.0.1:9",
            mpesa_base_url="http://127.0.0.1:9",
        )
        db_url = settings.resolved_database_url
        await migrate(db_url)
        await init_db(db_url)
        try:
            start = time.perf_counter()
            await seed(count)
            print(
                f"bot: {count:,} payments seeded in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
            services = build_services(
                settings,
                daraja=NoDaraja(),
                channels={NotificationChannel.SMS: build_sms_channel(settings)},
            )
            await services.staff.bootstrap_admins()
            api = InProcessBotApi()
            app = build_offline_application(settings, services, api)
            await app.initialize()
            try:
                results = await _lookups(app, api, count, lookups)
            finally:
                await app.shutdown()
        finally:
            await close_db()
    return _figures(results, count)


async def _lookups(
    app: Any, api: InProcessBotApi, count: int, lookups: int
) -> dict[str, dict[str, float]]:
    # spread over the whole table; skip the pending tenth, which has no receipt
    step = max(1, count // lookups)
    paid = [i for i in range(1, count, step) if i % 10 != 0][:lookups]
    first_id = (await Payment.all().order_by("id").first().values_list("id", flat=True)) or 1
    by_receipt = [(receipt(i), receipt(i)) for i in paid]
    by_id = [(f"#{first_id + i}", receipt(i)) for i in paid]
    await measure(app, api, by_id[:50], 10)  # warm-up: caches, compiled queries
    results = {}
    for label, refs in (("receipt", by_receipt), ("id", by_id)):
        for concurrency in (1, 32):
            results[f"{label}, {concurrency} at a time"] = await measure(
                app, api, refs, concurrency
            )
            result = results[f"{label}, {concurrency} at a time"]
            print(
                f"  /status by {label:<7} {concurrency:>2} at a time  {result['per_s']:>6,.0f}/s  "
                f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                f"wrong {result['wrong']:.0f}",
                file=sys.stderr,
            )
    return results


def _figures(results: dict[str, dict[str, float]], count: int) -> list[Figure]:
    worst = min(r["per_s"] for r in results.values())
    wrong = sum(r["wrong"] for r in results.values())
    figures = [
        Figure(
            f"bot: /status updates/s ({count:,} payments, slowest case)",
            f"{worst:,.0f}/s",
            f">= {TARGET_PER_S:,.0f}/s",
            worst >= TARGET_PER_S,
        )
    ]
    for label, result in results.items():
        figures.append(
            Figure(
                f"bot: /status by {label}",
                f"{result['per_s']:,.0f}/s, p50 {result['p50_ms']:.1f} ms, "
                f"p99 {result['p99_ms']:.1f} ms",
            )
        )
    figures.append(
        Figure("bot: replies that were not the payment's card", f"{wrong:.0f}", "0", wrong == 0)
    )
    return figures
