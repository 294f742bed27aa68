"""The dashboard in a real browser against the real `run` service: signing in with a link once,
search, CSV export, roles, CSRF, sign-out, no horizontal overflow, text never run as script,
and the overview and payment page screenshots for the README."""

from __future__ import annotations

import pytest

from models import Payment
from models import PaymentStatus
from tests.helpers.browser import screenshot
from tests.helpers.dashboard import ADMIN
from tests.helpers.dashboard import CASHIER
from tests.helpers.dashboard import live_dashboard

__all__ = ["live_dashboard"]

SCRIPT = "<script>alert(1)</script>"


async def _seed() -> list[Payment]:
    made = []
    for n, (phone, amount, status, note) in enumerate(
        [
            ("254708374149", 1500, PaymentStatus.PAID, "Blender 2L"),
            ("254722000111", 850, PaymentStatus.CANCELLED, "Cooking oil 5L"),
            ("254708374149", 320, PaymentStatus.PAID, SCRIPT),
            ("254711222333", 2400, PaymentStatus.PENDING, "Thermos flask"),
        ]
    ):
        made.append(
            await Payment.create(
                msisdn=phone,
                amount=amount,
                account_reference="HPlanet",
                status=status,
                receipt=f"UKK4Q7M2X{n}" if status is PaymentStatus.PAID else None,
                checkout_request_id=f"ws_CO_0312202611405048770837414{n}",
                description=note,
            )
        )
    return made


async def _overflow(page) -> bool:
    return await page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


async def test_a_link_signs_in_once_and_sign_out_ends_the_session(browser, live_dashboard):
    from playwright.async_api import expect

    live = live_dashboard
    context = await browser.new_context()
    page = await context.new_page()
    link = await live.link(ADMIN)
    await page.goto(link)
    await page.click("#sign-in")
    await expect(page.locator("h1")).to_have_text("Overview")

    await page.goto(link)  # the same link again, even in the browser that used it
    await expect(page.locator("h1")).to_have_text("This link cannot sign you in")
    await expect(page.locator("main")).to_contain_text("already used")

    await page.goto(f"{live.url}/dashboard/")
    await page.click("text=Sign out")
    await expect(page.locator("main")).to_contain_text("You are signed out.")
    await page.goto(f"{live.url}/dashboard/payments")
    await expect(page.locator("h1")).to_have_text("Sign in through the bot")
    await context.close()


async def test_search_by_receipt_and_phone_and_export_the_filter(browser, live_dashboard, tmp_path):
    from playwright.async_api import expect

    live = live_dashboard
    made = await _seed()
    context, page = await live.signed_in(browser, CASHIER)
    await page.goto(f"{live.url}/dashboard/payments")
    rows = page.locator("#payments-table tbody tr")
    await page.fill("#f-q", "ukk4q7m2x0")
    await page.click("#search")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"#{made[0].id}")
    for typed in ("0708374149", "+254 708 374 149"):
        await page.fill("#f-q", typed)
        await page.click("#search")
        await expect(rows).to_have_count(2)
        await expect(page.locator("#found-title")).to_have_text("2 found")
    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    download = await download_info.value
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].split(",")[5] == "phone_masked"
    assert sorted(line.split(",")[1] for line in lines[1:]) == sorted(
        [str(made[0].id), str(made[2].id)]
    )
    await context.close()


async def test_a_cashier_gets_403_and_a_form_without_its_token_is_refused(browser, live_dashboard):
    from playwright.async_api import expect

    live = live_dashboard
    context, page = await live.signed_in(browser, CASHIER)
    answer = await page.goto(f"{live.url}/dashboard/settings")
    assert answer.status == 403
    await expect(page.locator("main")).to_contain_text("Only an admin")
    await expect(page.locator("main")).not_to_contain_text("hooks")

    await page.goto(f"{live.url}/dashboard/")
    # the Sign out form sent as it is, but with its CSRF token removed
    await page.evaluate("document.querySelector('form.who input[name=csrf_token]').remove()")
    await page.click("text=Sign out")
    await expect(page.locator("h1")).to_have_text("Form refused")
    await page.goto(f"{live.url}/dashboard/")
    await expect(page.locator("h1")).to_have_text("Overview")  # still signed in
    await context.close()


@pytest.mark.parametrize("width", [375, 1280])
async def test_pages_fit_the_width_and_text_is_never_run(browser, live_dashboard, width, tmp_path):
    from playwright.async_api import expect

    live = live_dashboard
    made = await _seed()
    context, page = await live.signed_in(browser, ADMIN, width=width)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    suffix = "phone" if width == 375 else "desktop"
    for path, shot in (
        ("/dashboard/", f"dashboard-overview-{suffix}.png"),
        ("/dashboard/payments", None),
        (f"/dashboard/payments/{made[2].id}", f"dashboard-payment-{suffix}.png"),
        ("/dashboard/settings", None),
    ):
        await page.goto(f"{live.url}{path}")
        await expect(page.locator("h1")).to_be_visible()
        assert not await _overflow(page), f"{path} scrolls sideways at {width} px"
        if shot:
            assert (await screenshot(page, shot, tmp_path)).stat().st_size > 0
    await page.goto(f"{live.url}/dashboard/payments/{made[2].id}")
    await expect(page.locator(".description")).to_have_text(SCRIPT)
    assert dialogs == []
    await context.close()
