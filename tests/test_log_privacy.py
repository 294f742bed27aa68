"""The API, payouts, reversals, balance and C2B through `run`, every log line captured at DEBUG.

No line may show a phone number, a CheckoutRequestID with the customer's digits, or a secret
(the demo day is checked the same way in tests/test_demo.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Settings
from bot.main import Runtime
from bot.main import serve
from bot.notify.channels import RecordingChatChannel
from bot.telegram.transport import InProcessBotApi
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Reversal
from models import ReversalStatus
from models.db import migrate
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SimulatorConfig
from tests.helpers.log_privacy import AT_API_KEY
from tests.helpers.log_privacy import BOT_TOKEN
from tests.helpers.log_privacy import CALLBACK_SECRET
from tests.helpers.log_privacy import SMTP_PASSWORD
from tests.helpers.log_privacy import WEBHOOK_SECRET
from tests.helpers.log_privacy import LogCapture
from tests.helpers.log_privacy import capture_logs
from tests.helpers.log_privacy import leaks
from tests.helpers.log_privacy import secrets_of
from tests.helpers.ports import free_port


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    return capture_logs(monkeypatch)


# like tests/helpers/live.py's live_service, on purpose not it: only SMS is recorded here, so the
# real e-mail and webhook channels run and log (what this file checks), where live_service
# records e-mail too
@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Runtime, str]]:
    """The real `run` (web server, callbacks, jobs, bot) until the block ends."""
    stop, ready = asyncio.Event(), asyncio.Event()
    started: list[tuple[Runtime, str]] = []

    def on_ready(runtime: Runtime, url: str) -> None:
        started.append((runtime, url))
        ready.set()

    server = asyncio.create_task(
        serve(
            settings,
            stop=stop,
            telegram_request=InProcessBotApi(),
            sms_channel=RecordingChatChannel(),
            on_ready=on_ready,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), timeout=30)
        yield started[0]
    finally:
        stop.set()
        await asyncio.wait_for(server, timeout=30)


async def settle(runtime: Runtime, sim_url: str) -> None:
    """Let the simulator deliver every callback it owes, then run one reconciliation pass."""
    async with httpx.AsyncClient() as http:
        (await http.post(f"{sim_url}/simulator/drain")).raise_for_status()
    await runtime.services.reconciler.run_once()


async def test_api_payouts_reversals_and_c2b_log_no_phone_and_no_secret(
    captured: LogCapture, simulators: Any, tmp_path: Path
) -> None:
    sim = await simulators(SimulatorConfig(query_pending_s=0.0))
    port = free_port()
    settings = Settings(
        _env_file=None,
        telegram_bot_token=BOT_TOKEN,
        admin_telegram_ids=[1001],
        mpesa_base_url=sim.url,
        mpesa_consumer_key="simulator-key",
        mpesa_consumer_secret="simulator-secret",
        mpesa_passkey=SANDBOX_PASSKEY,
        mpesa_shortcode="174379",
        mpesa_b2c_shortcode="600996",
        mpesa_initiator_name="testapi",
        mpesa_initiator_password=SANDBOX_INITIATOR_PASSWORD,
        mpesa_cert_path=sim.write_certificate(tmp_path / "cert.pem"),
        public_base_url=f"http://127.0.0.1:{port}",
        callback_secret=CALLBACK_SECRET,
        web_host="127.0.0.1",
        web_port=port,
        data_dir=tmp_path / "data",
        shop_webhook_url=f"http://127.0.0.1:{free_port()}/hooks",  # nobody listens: retried
        shop_webhook_secret=WEBHOOK_SECRET,
        smtp_username="shop",
        smtp_password=SMTP_PASSWORD,
        at_api_key=AT_API_KEY,
        stk_query_after_s=0.0,
        log_level="DEBUG",
    )
    await migrate(settings.resolved_database_url)
    secrets = secrets_of(settings)

    async with running(settings) as (runtime, url):
        _, api_key = await runtime.services.api_keys.create("shop")
        secrets["API key"] = api_key
        services = runtime.services
        headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": "order-1"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            order = await http.post("/api/v1/orders", json={"amount": 150, "description": "Oil"})
            order_id = order.json()["orderId"]
            started = await http.post(
                "/api/v1/payments/initiate",
                json={"orderId": order_id, "paymentMethod": "MPESA", "phoneNumber": "0708374149"},
                headers={"Idempotency-Key": "pay-1"},
            )
            assert started.status_code == 201, started.text
            await settle(runtime, sim.url)
            assert (await http.get(f"/api/v1/payments/status/{order_id}")).json()["paid"]
        paid = await Payment.get(order_id__isnull=False)
        # a payment that never calls back, settled by query
        await services.payments.request_payment(
            "0722 000 000", "300", initiator=None, actor="cli", chat_id=None
        )
        payout = await services.payouts.send_money(
            "0711 222 333", "500", initiator_telegram_id=1001, reason="Refund", chat_id=1001
        )
        await services.payouts.confirm_payout(payout.id, by_telegram_id=1001)
        await services.reversals.reverse(paid.receipt, by_telegram_id=1001, chat_id=1001)
        await services.accounts.request_balance(by_telegram_id=1001, chat_id=1001)
        await runtime.daraja.c2b_register_urls()
        await runtime.daraja.c2b_simulate(msisdn="254790000111", amount=75, bill_ref_number="HP1")
        await settle(runtime, sim.url)

        # the flow really happened: every money movement settled through the simulator
        assert (await Payout.get(id=payout.id)).status == PayoutStatus.COMPLETED
        assert (await Reversal.get(receipt=paid.receipt)).status == ReversalStatus.COMPLETED
        silent = await Payment.get(msisdn="254722000000")
        assert silent.status == PaymentStatus.PAID

    phones = ["254708374149", "254722000000", "254711222333", "254790000111"]
    assert any("checkout" in line for line in captured.lines)
    assert leaks(captured.lines, secrets, phones) == []
