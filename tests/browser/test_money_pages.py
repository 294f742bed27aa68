"""The money pages in a real browser: forms checked as typed, records that turn paid live,
maker-checker across two browsers, and the send-money form's screenshots for the docs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.web.app import create_app
from models import NotificationChannel
from models import Payout
from models import PayoutStatus
from models import StaffRole
from mpesa.simulator import SANDBOX_SHORTCODE
from mpesa.simulator import SimulatorConfig
from tests.helpers.browser import screenshot
from tests.helpers.engine import simulator_daraja

ADMIN, ADMIN2, CASHIER = 1001, 1002, 2002
# one database is enough to drive a browser: PostgreSQL is covered by the page tests
pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
PAID_PHONE, CANCELS_PHONE = "0708 374 149", "0722 000 032"
# the simulated customer takes this long to answer, so "Waiting for PIN" is seen first
CALLBACK_DELAY_S = 1.5
SETTLED_MS = 15_000  # how long an expect waits for a settled record (callback, then the stream)


@pytest.fixture
async def live(db, aiohttp_server, settings, simulators) -> AsyncIterator[SimpleNamespace]:
    """The real web app and services against the simulator (callbacks after a short delay)."""
    config = SimulatorConfig(query_pending_s=0.0, callback_delay_s=CALLBACK_DELAY_S)
    simulator = await simulators(config)
    holder = SimpleNamespace(dashboard=None)
    server = await aiohttp_server(create_app(holder, settings=settings))
    url = str(server.make_url("")).rstrip("/")
    settings = settings.model_copy(
        update={"mpesa_shortcode": SANDBOX_SHORTCODE, "public_base_url": url}
    )
    daraja = simulator_daraja(simulator, url, settings.resolved_callback_secret())
    chat = RecordingChatChannel()
    services = build_services(settings, daraja=daraja, channels={NotificationChannel.CHAT: chat})
    holder.__dict__.update(vars(services))
    await services.staff.bootstrap_admins()
    await services.staff.add_as_operator(ADMIN2, StaffRole.ADMIN, "Achieng")
    await services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
    try:
        yield SimpleNamespace(url=url, services=services, settings=settings)
    finally:
        await daraja.aclose()


async def signed_in(browser, live, telegram_id: int, *, width: int = 1280, **options):
    """A new browser context signed in as ``telegram_id`` through a one-time link."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, **options)
    page = await context.new_page()
    token = await live.services.dashboard.issue_link(telegram_id)
    await page.goto(f"{live.url}/dashboard/login/{token}")
    await page.click("#sign-in")
    await page.wait_for_url(f"{live.url}/dashboard/")
    return context, page


async def test_a_cashier_requests_a_payment_and_watches_it_turn_paid(browser, live):
    from playwright.async_api import expect

    context, page = await signed_in(browser, live, CASHIER)
    await page.goto(f"{live.url}/dashboard/request")
    await page.fill("#phone", PAID_PHONE)
    await page.fill("#amount", "1500")
    await expect(page.locator("#amount-preview")).to_have_text("KES 1,500")
    await expect(page.locator("#phone-check")).to_have_text("M-Pesa number 0708 374 149")
    await page.click("form.money-form button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Confirm the request")
    await page.click("text=Send the request")
    await page.wait_for_url("**/dashboard/payments/*")
    await expect(page.locator("#payment-live")).to_contain_text("Waiting for PIN")
    await page.evaluate("window.notReloaded = true")  # a reload would forget it

    status = page.locator("#payment-live .status-line")
    await expect(status).to_contain_text("Paid", timeout=SETTLED_MS)
    await expect(page.locator("#payment-live")).to_contain_text("Receipt")
    assert await page.evaluate("window.notReloaded === true")
    await context.close()


async def test_a_cancelled_request_offers_retry(browser, live):
    from playwright.async_api import expect

    context, page = await signed_in(browser, live, CASHIER)
    await page.goto(f"{live.url}/dashboard/request")
    await page.fill("#phone", CANCELS_PHONE)
    await page.fill("#amount", "250")
    await page.click("form.money-form button[type=submit]")
    await page.click("text=Send the request")
    await page.wait_for_url("**/dashboard/payments/*")

    live_part = page.locator("#payment-live")
    await page.evaluate("window.notReloaded = true")
    status = live_part.locator(".status-line")
    await expect(status).to_contain_text("Cancelled", timeout=SETTLED_MS)
    await expect(live_part.get_by_role("button", name="Retry")).to_be_visible()
    assert await page.evaluate("window.notReloaded === true")
    await context.close()


async def test_form_messages_as_typed_and_without_javascript(browser, live):
    from playwright.async_api import expect

    context, page = await signed_in(browser, live, ADMIN)
    await page.goto(f"{live.url}/dashboard/request")
    await page.fill("#phone", "0733 123 456")
    await expect(page.locator("#phone-check")).to_have_text(
        "0733 123 456 is an Airtel number; M-Pesa needs Safaricom"
    )
    await expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    await page.goto(f"{live.url}/dashboard/send")
    await page.fill("#phone", PAID_PHONE)
    await page.fill("#amount", "5")
    await expect(page.locator("#amount-check")).to_have_text("KES 5 is below the KES 10 minimum")
    await context.close()

    no_js, page = await signed_in(browser, live, ADMIN, java_script_enabled=False)
    await page.goto(f"{live.url}/dashboard/send")
    await page.fill("#phone", PAID_PHONE)
    await page.fill("#amount", "5")
    await page.click("form.money-form button[type=submit]")
    await expect(page.locator("#amount-error")).to_have_text("KES 5 is below the KES 10 minimum")
    await no_js.close()


async def test_a_payout_above_the_threshold_needs_a_second_admin(browser, live):
    from playwright.async_api import expect

    amount = live.settings.payout_approval_threshold + 5_000
    first, page = await signed_in(browser, live, ADMIN)
    await page.goto(f"{live.url}/dashboard/send")
    await page.fill("#phone", PAID_PHONE)
    await page.fill("#amount", str(amount))
    await page.fill("#reason", "Supplier Wambui")
    await expect(page.locator("#amount-check")).to_contain_text("a second admin must approve it")
    await page.click("form.money-form button[type=submit]")
    await page.get_by_role("button", name="Confirm").click()
    live_part = page.locator("#payout-live")
    await expect(live_part).to_contain_text("Awaiting approval")
    await expect(live_part).to_contain_text("another admin must approve it")
    await expect(live_part.get_by_role("button", name="Approve")).to_have_count(0)
    payout = await Payout.get()
    # posting the form by hand is refused by the service as well
    token = await page.locator("input[name=csrf_token]").first.input_value()
    forced = await page.request.post(
        f"{live.url}/dashboard/payouts/{payout.id}/approve",
        form={"csrf_token": token},
        max_redirects=0,
    )
    assert forced.status == 403
    assert (await Payout.get(id=payout.id)).status == PayoutStatus.AWAITING_APPROVAL

    second, other = await signed_in(browser, live, ADMIN2)
    await other.goto(f"{live.url}/dashboard/payouts/{payout.id}")
    await other.get_by_role("button", name="Approve").click()
    sent = re.compile(r"✓\s*Sent$")  # completed, not "Sent to M-Pesa" on the way
    await expect(other.locator("#payout-live .record-status")).to_have_text(
        sent, timeout=SETTLED_MS
    )
    # the first admin's page follows without a reload
    await expect(live_part).to_contain_text("Approved by Achieng")
    await expect(live_part.locator(".record-status")).to_have_text(sent, timeout=SETTLED_MS)
    await first.close()
    await second.close()


@pytest.mark.parametrize("width", [375, 1280])
async def test_the_send_money_form_fits_and_is_pictured(browser, live, width, tmp_path):
    from playwright.async_api import expect

    context, page = await signed_in(browser, live, ADMIN, width=width)
    await page.goto(f"{live.url}/dashboard/send")
    await page.fill("#phone", PAID_PHONE)
    await page.fill("#amount", "2500")
    await page.fill("#reason", "Refund for order 12")
    await expect(page.locator("#amount-preview")).to_have_text("KES 2,500")
    await expect(page.locator("#phone-check")).to_have_text("M-Pesa number 0708 374 149")
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert (await screenshot(page, f"send-money-{width}.png", tmp_path)).stat().st_size > 0
    await context.close()
