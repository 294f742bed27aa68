"""The payment page in headless Chromium on a 375 px phone, against the real service.

Each test starts `mpesa-bot run` on loopback with the strict simulator (tests/helpers/live.py) and
pays as a customer would: types a number, presses Pay, and waits (Playwright's auto-waiting
expectations, never a sleep) for the page to follow M-Pesa by itself.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page
from playwright.async_api import expect

from models import Order
from models import Payment
from models import PaymentStatus
from models import Provider
from tests.helpers.browser import screenshot

PHONE = {"width": 375, "height": 740}
# the simulator answers the PIN prompt after this long, so the page is seen waiting first
PIN_DELAY_S = 3.0
LIVE_TIMEOUT_MS = 30_000
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>Blender</b>'


async def phone_page(browser, *, locale: str = "en-KE") -> Page:
    """A new tab in a phone-sized, touch, mobile context (a fresh cookie jar)."""
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale
    )
    return await context.new_page()


async def open_order(
    browser, live, amount: int, description: str, **tab: str
) -> tuple[Order, Page]:
    """A new order and its payment page, open in a phone tab (``tab``: phone_page's options)."""
    order = await live.order(amount, description)
    page = await phone_page(browser, **tab)
    await page.goto(live.pay_url(order))
    return order, page


async def fits_the_screen(page: Page) -> bool:
    """No horizontal scrolling: nothing is wider than the 375 px viewport."""
    return await page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"
        " && document.body.scrollWidth <= window.innerWidth"
    )


def png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")


async def test_a_customer_pays_from_a_phone_and_sees_it_turn_paid_live(
    browser, start_live, tmp_path
):
    from mpesa.simulator import SimulatorConfig

    live = await start_live(sim=SimulatorConfig(callback_delay_s=PIN_DELAY_S))
    order, page = await open_order(browser, live, 1_500, "Blender 2L")

    await expect(page.get_by_role("heading", name="KES 1,500")).to_be_visible()
    await expect(page.locator(".shop-name")).to_have_text("Household Planet Kenya")
    await expect(page.locator(".description")).to_have_text("Blender 2L")
    assert await fits_the_screen(page)
    shot = await screenshot(page, "pay-page-phone.png", tmp_path)
    assert png_width(shot) == 375 * 2

    await page.get_by_label("Your M-Pesa phone number").fill("0708 374 149")
    await page.get_by_label("E-mail for the receipt (optional)").fill("wanjiku@example.co.ke")
    await page.get_by_role("button", name="Pay KES 1,500 with M-Pesa").click()

    await expect(page.get_by_text("📲 Check your phone")).to_be_visible()
    await expect(page.get_by_text("We sent an M-Pesa prompt to 0708 *** 149.")).to_be_visible()
    assert await fits_the_screen(page)
    # nobody touches the page: its script sees M-Pesa's answer and shows it
    await expect(page.get_by_text("✅ Paid — thank you!")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    payment = await Payment.get(order_id=order.id)
    assert (payment.status, payment.amount) == (PaymentStatus.PAID, 1_500)
    await expect(page.locator(".receipt")).to_have_text(payment.receipt or "")
    assert await fits_the_screen(page)

    await page.get_by_role("link", name="Show the receipt").click()
    await expect(page.locator("main")).to_contain_text(payment.receipt or "-")
    assert await fits_the_screen(page)
    # the receipt e-mail is queued to the address typed on the page (and sent by the outbox)
    rows = [n for n in await live.email_rows() if n.payload.get("event") == "receipt"]
    assert [(n.recipient, n.payload["payment_id"]) for n in rows] == [
        ("wanjiku@example.co.ke", payment.id)
    ]


async def test_a_cancelled_prompt_then_try_again_pays(browser, start_live):
    live = await start_live()
    order, page = await open_order(browser, live, 800, "Kettle")

    # the simulator's customer who cancels the first prompt and pays the next
    await page.get_by_label("Your M-Pesa phone number").fill("0722100032")
    await page.get_by_role("button", name="Pay KES 800 with M-Pesa").click()

    await expect(page.get_by_text("✖️ Not paid")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    await expect(
        page.get_by_text("You cancelled the M-Pesa prompt, so nothing was paid.")
    ).to_be_visible()
    assert await fits_the_screen(page)
    await page.get_by_role("button", name="🔁 Try again").click()

    await expect(page.get_by_text("✅ Paid — thank you!")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    attempts = await Payment.filter(order_id=order.id).order_by("id")
    assert [(p.attempt, p.status) for p in attempts] == [
        (1, PaymentStatus.CANCELLED),
        (2, PaymentStatus.PAID),
    ]


async def test_an_airtel_number_is_refused_with_the_reason_when_airtel_is_off(browser, start_live):
    live = await start_live(airtel_enabled=False)
    order, page = await open_order(browser, live, 1_200, "Rice cooker")

    await page.get_by_label("Your M-Pesa phone number").fill("0733 123 456")
    await page.get_by_role("button", name="Pay KES 1,200 with M-Pesa").click()

    await expect(page.get_by_role("alert")).to_contain_text(
        "0733 123 456 is an Airtel number; M-Pesa needs Safaricom."
    )
    # the number stays in the field to correct; no prompt went anywhere
    await expect(page.get_by_label("Your M-Pesa phone number")).to_have_value("0733 123 456")
    assert await Payment.filter(order_id=order.id).count() == 0
    assert await fits_the_screen(page)


async def test_an_airtel_number_is_routed_to_airtel_money_when_airtel_is_on(browser, start_live):
    live = await start_live(airtel=True)
    order, page = await open_order(browser, live, 1_200, "Rice cooker")

    await page.get_by_label("Your M-Pesa or Airtel Money phone number").fill("0733 123 456")
    await page.get_by_role("button", name="Pay KES 1,200").click()

    # the Airtel simulator may answer before the page is shown: waiting, then paid by Airtel
    await expect(page.get_by_text("✅ Paid — thank you!")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    await expect(page.get_by_text("Airtel Money receipt")).to_be_visible()
    payment = await Payment.get(order_id=order.id)
    assert (payment.provider, payment.msisdn) == (Provider.AIRTEL, "254733123456")
    assert live.airtel is not None and live.airtel.posts("/merchant/v1/payments/") == 1


async def test_an_html_description_is_shown_as_text_and_never_runs(browser, start_live):
    live = await start_live()
    _, page = await open_order(browser, live, 1_500, HOSTILE)

    await expect(page.locator(".description")).to_have_text(HOSTILE)
    assert await page.locator(".description b, .description img, main script").count() == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert await fits_the_screen(page)


async def test_long_words_and_kiswahili_fit_a_375_px_screen(browser, start_live, tmp_path):
    from mpesa.simulator import SimulatorConfig

    live = await start_live(sim=SimulatorConfig(callback_delay_s=PIN_DELAY_S))
    long_words = "Jiko-la-gesi-la-kisasa-lenye-mioto-minne-" * 4
    # Accept-Language: sw-KE
    _, page = await open_order(browser, live, 250_000, long_words, locale="sw-KE")

    await expect(page.locator("html")).to_have_attribute("lang", "sw")
    assert await fits_the_screen(page)
    await page.get_by_label("Namba yako ya simu ya M-Pesa").fill("0708374149")
    await page.get_by_role("button", name="Lipa KES 250,000 kwa M-Pesa").click()
    await expect(page.get_by_text("📲 Angalia simu yako")).to_be_visible()
    await expect(page.get_by_text("✅ Imelipwa — asante!")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert await fits_the_screen(page)
    shot = await screenshot(page, "pay-page-phone-sw.png", tmp_path)
    assert png_width(shot) == 375 * 2
