"""`mpesa-bot demo` plays its whole scripted day, checks the database, and logs nothing private."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
from typing import Any

import httpx
import pytest

import bot.demo
from bot.config import Settings
from bot.demo import run_demo
from tests.helpers.log_privacy import capture_logs
from tests.helpers.log_privacy import leaks
from tests.helpers.log_privacy import secrets_of
from tests.helpers.log_privacy import with_secrets


async def test_the_demo_day_succeeds_prints_a_readable_transcript_and_logs_nothing_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = capture_logs(monkeypatch)
    secrets: dict[str, str] = {}
    real_settings = bot.demo.demo_settings

    def settings_with_secrets(*args: Any, **kwargs: Any) -> Settings:
        settings = with_secrets(real_settings(*args, **kwargs))
        secrets.update(secrets_of(settings))
        return settings

    monkeypatch.setattr(bot.demo, "demo_settings", settings_with_secrets)
    out = _Watched()

    # --keep: after the day the service stays up for the newcomer's browser until Ctrl-C
    demo = asyncio.create_task(run_demo(out, keep=True))
    await asyncio.wait(
        {demo, asyncio.create_task(out.kept.wait())}, timeout=300, return_when="FIRST_COMPLETED"
    )
    assert out.kept.is_set(), out.getvalue()[-3000:]
    link = re.search(r"(http://127\.0\.0\.1:\d+/dashboard/login/\S+)", out.getvalue())
    assert link is not None
    async with httpx.AsyncClient() as http:
        page = await http.get(link.group(1))
    os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C
    code = await demo

    assert page.status_code == 200 and "Sign in" in page.text
    transcript = out.getvalue()
    assert code == 0, transcript[-3000:]
    assert "demo OK: 29 outcomes checked" in transcript
    assert "Dashboard: sign in as Amina (admin)" in transcript and "/dashboard/login/" in transcript
    # the strict simulator decrypted the payout's credential and warned about nothing
    assert "✔ every request passed the strict simulator without a warning" in transcript
    assert "👤 Brian (cashier): /request 0708374149 1500 Blender" in transcript
    assert "✅ Paid" in transcript
    assert "👤 Otieno (admin): presses [✅ Approve]" in transcript
    assert "📱 SMS to 2547****149" in transcript
    # an Airtel Money customer pays, and an Airtel Money number is paid out, beside M-Pesa
    assert "👤 Brian (cashier): /request 0733123456 1200 Rice cooker" in transcript
    assert "Airtel Money account of: JOHN DOE" in transcript
    assert "✔ every Airtel request passed the strict Airtel simulator" in transcript
    assert "✘" not in transcript
    # a customer pays on the web page and gets the receipt by e-mail; another reads Kiswahili
    assert "🌐 page: 📲 Check your phone" in transcript
    assert "🌐 page: ✅ Paid — thank you!" in transcript
    assert "✉️ E-mail to n***@example.co.ke: Your receipt from Household Planet Kenya" in transcript
    assert "📎 receipt-" in transcript
    assert "Malipo yamepokelewa — asante!" in transcript
    assert "✔ every message to the Kiswahili customer was in Kiswahili" in transcript
    # every line of the day, at DEBUG: no phone, no id carrying one, no secret
    phones = [
        "254708374149",
        "254722100032",
        "254712345678",
        "254722000000",
        "254733123456",
        "254729876543",  # the customer who pays on the web page
        "254723456789",  # the customer who reads Kiswahili
    ]
    assert any(line.startswith("INFO bot.services.payments stk.sent") for line in captured.lines)
    assert leaks(captured.lines, secrets, phones) == []


class _Watched(io.StringIO):
    """The transcript, telling when the demo says it is kept running."""

    def __init__(self) -> None:
        super().__init__()
        self.kept = asyncio.Event()

    def write(self, text: str) -> int:
        if "Kept running: press Ctrl-C to stop." in text:
            self.kept.set()
        return super().write(text)
