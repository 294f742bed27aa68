"""`mpesa-bot demo` plays its whole scripted day and checks the database at the end."""

from __future__ import annotations

import io

from bot.demo import run_demo


async def test_the_demo_day_succeeds_and_prints_a_readable_transcript():
    out = io.StringIO()

    code = await run_demo(out)

    transcript = out.getvalue()
    assert code == 0, transcript[-3000:]
    assert "demo OK: 16 outcomes checked" in transcript
    # the strict simulator decrypted the payout's credential and warned about nothing
    assert "✔ every request passed the strict simulator without a warning" in transcript
    assert "👤 Brian (cashier): /request 0708374149 1500 Blender" in transcript
    assert "✅ Paid" in transcript
    assert "👤 Otieno (admin): presses [✅ Approve]" in transcript
    assert "📱 SMS to 2547****149" in transcript
    assert "✘" not in transcript
