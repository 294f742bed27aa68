"""The payment page on the real web app and services (FakeDaraja): states, safety, languages."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.web.app import create_app
from bot.web.pay.security import CsrfTokens
from models import AuditEvent
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from tests.helpers.fakes import FakeDaraja
from tests.helpers.stk import stk_callback

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def page(db, aiohttp_client, settings):
    settings = settings.model_copy(
        update={
            "public_base_url": "http://127.0.0.1:8080",
            "pay_link_max_prompts_per_order": 3,
            "pay_link_max_prompts_per_address": 4,
        }
    )
    daraja = FakeDaraja()
    services = build_services(settings, daraja=daraja, channels={"chat": RecordingChatChannel()})
    client = await aiohttp_client(create_app(services, settings=settings))
    order = await services.orders.create_order(
        1500, "Blender <script>alert(1)</script>", created_by=None, actor="test"
    )
    tokens = CsrfTokens(settings.resolved_callback_secret())
    return SimpleNamespace(
        client=client, services=services, daraja=daraja, order=order, tokens=tokens
    )


async def get(page, path: str = "", **headers: str):
    answer = await page.client.get(f"/pay/{page.order.code}{path}", headers=headers)
    return answer, await answer.text()


async def post(page, path: str = "", *, token: str | None = None, **fields: str):
    if token is None:
        # the token a form of this order carries (any instance issues the same kind)
        token = page.tokens.issue(page.order.code)
    data = {"csrf": token, **fields}
    return await page.client.post(f"/pay/{page.order.code}{path}", data=data, allow_redirects=False)


async def settle(page, result_code: int = 0, **kwargs) -> Payment:
    payment = await Payment.filter(order_id=page.order.id).order_by("-id").first()
    await page.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=result_code, **kwargs)
    )
    return await Payment.get(id=payment.id)


async def test_the_page_shows_the_order_with_strict_browser_headers(page):
    answer, body = await get(page)

    assert page.tokens.valid(page.order.code, CSRF.search(body).group(1))
    assert answer.status == 200
    assert "KES 1,500" in body and "Household Planet Kenya" in body
    assert "Blender &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    # no inline script or style: everything the CSP allows comes from /pay/static
    assert re.findall(r"<script(?![^>]*\ssrc=)", body) == []
    assert "style=" not in body


async def test_paying_sends_one_prompt_and_the_page_waits_without_a_second(page):
    sent = await post(page, phone="0708 374 149", lang="en")
    again = await post(page, phone="0708 374 149", lang="en")
    _, body = await get(page)

    assert (sent.status, sent.headers["Location"]) == (303, f"/pay/{page.order.code}")
    assert again.status == 303
    assert len(page.daraja.called("stk_push")) == 1
    assert page.daraja.called("stk_push")[0]["msisdn"] == "254708374149"
    assert "Check your phone" in body and "0708 *** 149" in body
    assert '<noscript><meta http-equiv="refresh"' in body
    payment = await Payment.get(order_id=page.order.id)
    assert (payment.initiated_via, payment.status) == ("web", PaymentStatus.PENDING)
    status = await page.client.get(f"/pay/{page.order.code}/status")
    assert await status.json() == {"state": "waiting", "payment": "pending"}


async def test_paid_order_shows_the_receipt_and_never_prompts_again(page):
    await post(page, phone="0708374149")
    await settle(page, amount=1500, receipt="UKN3SVJ3YV")

    again = await post(page, phone="0708374149")
    _, body = await get(page)
    printable, receipt = await get(page, "/receipt")
    pdf = await page.client.get(f"/pay/{page.order.code}/receipt.pdf")

    assert again.status == 303 and len(page.daraja.called("stk_push")) == 1
    assert (await Order.get(id=page.order.id)).status == OrderStatus.PAID
    assert "UKN3SVJ3YV" in body and "Paid" in body and 'name="phone"' not in body
    assert printable.status == 200 and "UKN3SVJ3YV" in receipt
    assert "Paybill" in receipt and "174379" in receipt
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert (await pdf.read()).startswith(b"%PDF-")


async def test_a_cancelled_prompt_offers_try_again_with_the_same_phone(page):
    await post(page, phone="0708374149")
    await settle(page, result_code=1032)
    _, failed = await get(page)

    retried = await post(page, "/retry")

    assert "You cancelled the M-Pesa prompt" in failed and "Try again" in failed
    assert retried.status == 303
    pushes = page.daraja.called("stk_push")
    assert [p["msisdn"] for p in pushes] == ["254708374149", "254708374149"]
    assert (await Payment.filter(order_id=page.order.id).count()) == 2


async def test_an_airtel_number_is_refused_with_the_reason(page):
    answer = await post(page, phone="0733 123 456")
    body = await answer.text()

    assert answer.status == 400
    assert "0733 123 456 is an Airtel number; M-Pesa needs Safaricom." in body
    assert 'value="0733 123 456"' in body  # what they typed is kept
    assert page.daraja.called("stk_push") == []


async def test_a_form_without_its_token_or_from_another_site_does_nothing(page):
    forged = await post(
        page, token="1700000000.0123456789abcdef0123456789abcdef", phone="0708374149"
    )
    _, body = await get(page)
    token = CSRF.search(body).group(1)
    other_site = await page.client.post(
        f"/pay/{page.order.code}",
        data={"csrf": token, "phone": "0708374149"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )

    assert forged.status == 403 and "This form has expired" in await forged.text()
    assert other_site.status == 403 and "another website" in await other_site.text()
    assert page.daraja.called("stk_push") == []


async def test_a_token_of_one_order_does_not_pay_another(page):
    other = await page.services.orders.create_order(99, "Cup", created_by=None, actor="test")
    _, body = await get(page)
    token = CSRF.search(body).group(1)

    answer = await page.client.post(
        f"/pay/{other.code}", data={"csrf": token, "phone": "0708374149"}, allow_redirects=False
    )

    assert answer.status == 403
    assert page.daraja.called("stk_push") == []


async def test_the_per_order_limit_is_stated_when_reached(page):
    for _ in range(3):
        await post(page, phone="0708374149")
        await settle(page, result_code=1032)

    answer = await post(page, "/retry")
    body = await answer.text()

    assert answer.status == 429
    assert "This link has already sent 3 M-Pesa prompts in the last 60 minutes" in body
    assert len(page.daraja.called("stk_push")) == 3


async def test_the_per_address_limit_counts_every_attempt_from_that_address(page):
    for _ in range(4):
        await post(page, phone="0733 123 456")  # refused numbers count too

    answer = await post(page, phone="0708374149")

    assert answer.status == 429
    assert "at most 4 in 60 minutes" in await answer.text()
    assert page.daraja.called("stk_push") == []
    assert await AuditEvent.filter(action="pay_page.limited").count() == 1


async def test_kiswahili_from_accept_language_and_the_visible_switch(page):
    _, swahili = await get(page, **{"Accept-Language": "sw-KE,sw;q=0.9,en;q=0.5"})
    switched = await page.client.get(f"/pay/{page.order.code}?lang=en")
    remembered = await page.client.get(f"/pay/{page.order.code}", headers={"Accept-Language": "sw"})

    assert "Lipa KES 1,500 kwa M-Pesa" in swahili and '<html lang="sw">' in swahili
    assert switched.cookies["lang"].value == "en"
    assert "Pay KES 1,500 with M-Pesa" in await remembered.text()


async def test_the_page_language_is_remembered_for_the_phone_and_the_email_for_the_order(page):
    answer = await post(page, phone="0708374149", lang="sw", email="wanjiku@example.co.ke")

    assert answer.status == 303
    customer = await Customer.get(msisdn="254708374149")
    assert customer.language == "sw"
    assert (await Order.get(id=page.order.id)).email == "wanjiku@example.co.ke"


async def test_a_bad_email_is_refused_before_any_prompt(page):
    answer = await post(page, phone="0708374149", email="not-an-address")

    assert answer.status == 400
    assert "not-an-address is not an e-mail address" in await answer.text()
    assert page.daraja.called("stk_push") == []


async def test_unknown_codes_are_404_and_an_address_that_keeps_guessing_is_stopped(page):
    answers = [await page.client.get(f"/pay/HPZZZZZZZZ{n:02d}") for n in range(31)]

    assert [a.status for a in answers[:30]] == [404] * 30
    assert answers[30].status == 429
    assert "There is no order at this link" in await answers[0].text()


async def test_the_qr_code_is_a_png_of_the_pay_link(page):
    answer = await page.client.get(f"/pay/{page.order.code}/qr.png")

    assert answer.headers["Content-Type"] == "image/png"
    assert (await answer.read()).startswith(b"\x89PNG\r\n\x1a\n")
    assert page.services.checkout.pay_url(page.order) == (
        f"http://127.0.0.1:8080/pay/{page.order.code}"
    )


async def test_a_whole_page_flow_in_kiswahili_has_no_english(page):
    from tests.telegram.test_customer_kiswahili import english_only_words
    from tests.telegram.test_customer_kiswahili import words

    swahili = {"Accept-Language": "sw-KE,sw;q=0.9"}
    shown = [(await get(page, **swahili))[1]]  # the form
    await post(page, phone="0708374149", lang="sw")
    shown.append((await get(page, **swahili))[1])  # waiting for the PIN
    await settle(page, result_code=1032)
    shown.append((await get(page, **swahili))[1])  # cancelled, with Try again
    await post(page, "/retry", lang="sw")
    await settle(page, amount=1500, receipt="UKN3SVJ3YV")
    shown.append((await get(page, **swahili))[1])  # paid
    shown.append((await get(page, "/receipt", **swahili))[1])

    assert all('<html lang="sw">' in html for html in shown)
    assert "Imelipwa" in shown[3] and "Jaribu tena" in shown[2]
    # the shop's own words (its name, the order's description) are not ours to translate
    ours = [html.replace("Household Planet Kenya", "") for html in shown]
    english = {w for html in ours for w in words(_visible(html))} & english_only_words()
    assert english == set()


def _visible(html: str) -> str:
    """The text a reader sees: no scripts, styles or the order's own description."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r'<p class="description">.*?</p>', " ", html, flags=re.DOTALL)
