"""Whole flows with every log line captured at DEBUG: no phone number and no secret in any of them.

Phones are logged masked (``2547****149``), and so are ids that embed one: a CheckoutRequestID
ends in the customer's last 9 digits. Secrets are never logged at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import bot.demo
import bot.main
from bot.config import Settings
from bot.demo import run_demo
from bot.main import Runtime, serve
from bot.notify.channels import RecordingChatChannel
from bot.telegram.transport import InProcessBotApi
from models import Payment, PaymentStatus, Payout, PayoutStatus, Reversal, ReversalStatus
from models.db import migrate
from mpesa.phone import mask_id
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD, SANDBOX_PASSKEY, SimulatorConfig

MSISDN = re.compile(r"(?<![0-9])254[17][0-9]{8}(?![0-9])")
PHONE_BEARING_ID = re.compile(r"ws_CO_[0-9]{23,}")
BOT_TOKEN = "7000000001:AAH-bot-token-never-logged-0123"
CALLBACK_SECRET = "cb-secret-never-logged-4567"
SMTP_PASSWORD = "smtp-password-never-logged"
AT_API_KEY = "at-api-key-never-logged-89ab"
WEBHOOK_SECRET = "shop-webhook-secret-never-logged"


class LogCapture(logging.Handler):
    """Keeps every record as the service would write it, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogCapture]:
    """Capture every log line at DEBUG, the service's own level settings applied on top."""
    capture = LogCapture()
    real_configure = bot.main.configure_logging

    def configure(_level: str) -> None:
        # the most a operator can ask for: LOG_LEVEL=DEBUG, with the service's own quieting
        real_configure("DEBUG")
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(capture)

    monkeypatch.setattr(bot.main, "configure_logging", configure)
    monkeypatch.setattr(bot.demo, "configure_logging", configure)
    configure("DEBUG")
    yield capture
    logging.getLogger().removeHandler(capture)


def leaks(lines: list[str], secrets: dict[str, str], phones: list[str]) -> list[str]:
    """Every line that shows a phone number, a phone-bearing id or a secret, with the reason."""
    found = []
    for line in lines:
        if MSISDN.search(line):
            found.append(f"phone number: {line}")
        if PHONE_BEARING_ID.search(line):
            found.append(f"unmasked CheckoutRequestID: {line}")
        for phone in phones:
            if phone[3:] in line:  # the 9 digits, in any form: 0708374149, 708 374 149 joined
                found.append(f"digits of {mask_id(phone)}: {line}")
        found += [f"{name}: {line}" for name, value in secrets.items() if value in line]
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_demo_day_logs_no_phone_and_no_secret(
    captured: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets: dict[str, str] = {}
    real_settings = bot.demo.demo_settings

    def settings_with_secrets(*args: Any, **kwargs: Any) -> Settings:
        settings = real_settings(*args, **kwargs).model_copy(
            update={
                "telegram_bot_token": SecretStr(BOT_TOKEN),
                "callback_secret": SecretStr(CALLBACK_SECRET),
                "smtp_username": "shop",
                "smtp_password": SecretStr(SMTP_PASSWORD),
                "at_api_key": SecretStr(AT_API_KEY),
                "log_level": "DEBUG",
            }
        )
        secrets.update(_secrets_of(settings))
        return settings

    monkeypatch.setattr(bot.demo, "demo_settings", settings_with_secrets)
    out = io.StringIO()

    code = await run_demo(out)

    assert code == 0, out.getvalue()[-2000:]
    phones = ["254708374149", "254722100032", "254712345678", "254722000000"]
    assert len(captured.lines) > 100  # the day was logged, at DEBUG
    assert any("checkout" in line for line in captured.lines)  # ids were logged, masked
    assert leaks(captured.lines, secrets, phones) == []


def _secrets_of(settings: Settings) -> dict[str, str]:
    """Every secret value the settings hold, and the secret half of the bot token."""
    token = _value(settings.telegram_bot_token)
    values = {
        "bot token": token,
        "bot token secret part": token.split(":")[1],
        "consumer secret": _value(settings.mpesa_consumer_secret) or "simulator-secret",
        "passkey": _value(settings.mpesa_passkey) or SANDBOX_PASSKEY,
        "initiator password": _value(settings.mpesa_initiator_password),
        "security credential": _value(settings.mpesa_security_credential),
        "callback secret": settings.resolved_callback_secret(),
        "SMTP password": _value(settings.smtp_password),
        "Africa's Talking API key": _value(settings.at_api_key),
        "shop webhook secret": _value(settings.shop_webhook_secret),
    }
    return {name: value for name, value in values.items() if value}


def _value(secret: SecretStr | str | None) -> str:
    if secret is None:
        return ""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


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
    port = _free_port()
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
        shop_webhook_url=f"http://127.0.0.1:{_free_port()}/hooks",  # nobody listens: retried
        shop_webhook_secret=WEBHOOK_SECRET,
        smtp_username="shop",
        smtp_password=SMTP_PASSWORD,
        at_api_key=AT_API_KEY,
        stk_query_after_s=0.0,
        log_level="DEBUG",
    )
    await migrate(settings.resolved_database_url)
    secrets = _secrets_of(settings)

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
        await services.accounts.reverse(paid.receipt, by_telegram_id=1001, chat_id=1001)
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
