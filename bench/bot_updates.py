"""Bot updates: /status by every kind of reference through the real Application, 100,000 payments.

The Application is the production one (handlers, defaults, error handler) on the in-process Bot
API; updates are fed to ``process_update`` as Telegram would deliver them, many at a time (the
Application runs with ``concurrent_updates``). Every reply is checked to be the card asked for.

The baseline is a trivial handler (``/ping`` -> "pong", no database) added to the same
Application, fed the same way: what PTB, the fake Bot API and one reply cost on their own. The
targets are ratios to it, and of each reference form to a lookup by id, measured in the same run.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes

from bench.common import Figure
from bench.common import median
from bench.common import percentile
from bench.ingest_server import NoDaraja
from bot.config import Settings
from bot.notify.sms import build_sms_channel
from bot.services.container import build_services
from bot.telegram.app import build_offline_application
from bot.telegram.transport import InProcessBotApi
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models.db import close_db
from models.db import init_db
from models.db import migrate

ADMIN_ID = 111_222_333
TARGET_TO_BASELINE = 0.5  # the slowest /status at least half as fast as the trivial handler
TARGET_TO_ID = 0.9  # every other reference form as fast as by id, within noise
FULL_PAYMENTS = 100_000
QUICK_PAYMENTS = 2_000
BATCH = 5_000
ROUNDS = 2  # each case is measured this many times, alternating; the best round counts
CONCURRENCY = (1, 32)
TOKEN = "123456:" + "A" * 35  # made up: the Bot API is in-process


def receipt(i: int) -> str:
    """The M-Pesa receipt of seeded payment ``i``."""
    return f"SBX{i:07d}"


def order_code(i: int) -> str:
    """The code of the order seeded beside payment ``i`` (one order per ten payments)."""
    return f"BN{i:08d}"


async def seed(count: int) -> None:
    """``count`` payments, nine in ten paid with a receipt, and one paid order per ten payments."""
    now = datetime.now(UTC)
    for first in range(0, count, BATCH):
        rows = []
        orders = []
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
            if i % 10 == 5:
                orders.append(
                    Order(
                        code=order_code(i),
                        amount=100 + i % 5_000,
                        description="benchmark order",
                        status=OrderStatus.PAID,
                        paid_receipt=receipt(i),
                        paid_at=now,
                        created_via="bench",
                        created_at=now,
                        updated_at=now,
                    )
                )
        await Payment.bulk_create(rows)
        await Order.bulk_create(orders)


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
    """Feed one update per (text, expected), ``concurrency`` at a time; rate, latency, wrong."""
    ids = itertools.count(1_000_000)
    latencies: list[float] = []
    queue = iter(refs)

    async def worker() -> None:
        for ref, _ in queue:
            update = Update.de_json(status_update(next(ids), ref), app.bot)
            start = time.perf_counter()
            await app.process_update(update)
            latencies.append(time.perf_counter() - start)

    api.calls.clear()
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    cpu_ms = (time.process_time() - cpu) * 1000 / len(refs)  # this process, every thread
    # replies of concurrent updates interleave: count them, then find each expected text
    replies = [c for c in api.calls if c.method == "sendMessage"]
    texts = "\n".join(str(c.params.get("text", "")) for c in replies)
    missing = sum(1 for _, expected in refs if expected not in texts)
    ms = [latency * 1000 for latency in latencies]
    return {
        "per_s": len(refs) / seconds,
        "cpu_ms": cpu_ms,
        "p50_ms": median(ms),
        "p99_ms": percentile(ms, 99),
        "wrong": abs(len(refs) - len(replies)) + missing,
    }


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The baseline: a trivial handler, one reply, no database."""
    await update.effective_message.reply_text("pong")
    raise ApplicationHandlerStop  # handled: the bot's own handlers in group 0 do not see it


async def run(*, quick: bool = False) -> list[Figure]:
    """The bot benchmark's figures."""
    count = QUICK_PAYMENTS if quick else FULL_PAYMENTS
    lookups = 300 if quick else 2_000
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
            # before every handler of the bot (its name keeper is group -1): only "pong" answers
            app.add_handler(CommandHandler("ping", ping), group=-2)
            await app.initialize()
            try:
                results = await _lookups(app, api, count, lookups)
            finally:
                await app.shutdown()
        finally:
            await close_db()
    return _figures(results, count)


async def _cases(count: int, lookups: int) -> dict[str, list[tuple[str, str]]]:
    """For each case, the texts to send and what each reply must contain."""
    # spread over the whole table; skip the pending tenth, which has no receipt
    step = max(1, count // lookups)
    paid = [i for i in range(1, count, step) if i % 10 != 0][:lookups]
    with_order = [i - i % 10 + 5 for i in paid if i - i % 10 + 5 < count]
    first_id = (await Payment.all().order_by("id").first().values_list("id", flat=True)) or 1
    return {
        "baseline": [("/ping", "pong")] * len(paid),
        "id": [(f"/status #{first_id + i}", receipt(i)) for i in paid],
        "receipt": [(f"/status {receipt(i)}", receipt(i)) for i in paid],
        "order code": [(f"/status {order_code(i)}", order_code(i)) for i in with_order],
        "CheckoutRequestID": [(f"/status ws_CO_bot_{i:08d}", receipt(i)) for i in paid],
    }


async def _lookups(
    app: Any, api: InProcessBotApi, count: int, lookups: int
) -> dict[tuple[str, int], dict[str, float]]:
    cases = await _cases(count, lookups)
    for refs in cases.values():
        await measure(app, api, refs[:50], 10)  # warm-up: caches, compiled queries
    results: dict[tuple[str, int], dict[str, float]] = {}
    for round_ in range(1, ROUNDS + 1):
        for concurrency in CONCURRENCY:
            for label, refs in cases.items():
                result = await measure(app, api, refs, concurrency)
                best = results.get((label, concurrency))
                if best is None or result["per_s"] > best["per_s"]:
                    results[(label, concurrency)] = result
                print(
                    f"  round {round_}: {label:<17} {concurrency:>2} at a time  "
                    f"{result['per_s']:>6,.0f}/s  CPU {result['cpu_ms']:.2f} ms  "
                    f"p50 {result['p50_ms']:.1f} ms  "
                    f"p99 {result['p99_ms']:.1f} ms  wrong {result['wrong']:.0f}",
                    file=sys.stderr,
                )
    return results


def _figures(results: dict[tuple[str, int], dict[str, float]], count: int) -> list[Figure]:
    lookups = [key for key in results if key[0] != "baseline"]
    to_baseline = {
        key: results[key]["per_s"] / results[("baseline", key[1])]["per_s"] for key in lookups
    }
    to_id = {
        key: results[key]["per_s"] / results[("id", key[1])]["per_s"]
        for key in lookups
        if key[0] != "id"
    }
    worst_base = min(to_baseline, key=to_baseline.__getitem__)
    worst_id = min(to_id, key=to_id.__getitem__)
    wrong = sum(r["wrong"] for r in results.values())
    figures = [
        Figure(
            f"bot: /status vs a trivial handler ({count:,} payments, slowest case)",
            f"{to_baseline[worst_base]:.2f} ({worst_base[0]}, {worst_base[1]} at a time)",
            f">= {TARGET_TO_BASELINE}",
            to_baseline[worst_base] >= TARGET_TO_BASELINE,
        ),
        Figure(
            "bot: /status by receipt, order code or CheckoutRequestID vs by id (slowest)",
            f"{to_id[worst_id]:.2f} ({worst_id[0]}, {worst_id[1]} at a time)",
            f">= {TARGET_TO_ID}",
            to_id[worst_id] >= TARGET_TO_ID,
        ),
    ]
    for (label, concurrency), result in results.items():
        name = "bot: trivial handler" if label == "baseline" else f"bot: /status by {label}"
        ratio = "" if label == "baseline" else f", {to_baseline[(label, concurrency)]:.2f}x base"
        figures.append(
            Figure(
                f"{name}, {concurrency} at a time",
                f"{result['per_s']:,.0f}/s{ratio}, CPU {result['cpu_ms']:.2f} ms/update, "
                f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms",
            )
        )
    figures.append(
        Figure("bot: replies that were not the card asked for", f"{wrong:.0f}", "0", wrong == 0)
    )
    return figures
