"""End to end with Airtel Money: the real services and AirtelClient, the Airtel simulator over
loopback, its callbacks to our own server; Daraja's simulator beside it for the mixed cases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airtel.callbacks import sign_callback
from airtel.security import HashInput
from airtel.simulator import Portal
from airtel.simulator import SimulatorConfig
from bot.callback_paths import airtel_callback_url
from bot.main import build_airtel
from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.telegram.chat_channel import TelegramChatChannel
from bot.web.app import create_app
from bot.web.pay.security import CsrfTokens
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Reversal
from models import Staff
from models import StaffRole
from mpesa.simulator import SANDBOX_SHORTCODE
from tests.helpers.airtel_sim import RunningAirtel
from tests.helpers.airtel_sim import start_airtel
from tests.helpers.engine import simulator_daraja
from tests.helpers.telegram import TelegramHarness

CHAT_ID = 555
ADMIN = 1001
CASHIER = 2002
PUSH = "/merchant/v1/payments/"
DISBURSE = "/standard/v1/disbursements/"
HASH_KEY = "portal-callback-key-0123"
SIGNED = Portal(callback_hash_key=HASH_KEY, hash_input=HashInput.TRANSACTION_JSON)


@pytest.fixture
def airtel_config() -> SimulatorConfig:
    """The Airtel simulator every test here talks to (strict; a test may parametrize another)."""
    return SimulatorConfig(enquiry_pending_s=30.0)


@pytest.fixture
def airtel_settings() -> dict[str, Any]:
    """Airtel settings of the service under test (a test may parametrize others)."""
    return {}


@pytest.fixture
def in_telegram() -> bool:
    """Whether chat messages go to the in-process Bot API (True) or are only recorded."""
    return False


@pytest.fixture
async def airtel_sim(airtel_config) -> AsyncIterator[RunningAirtel]:
    sim = await start_airtel(airtel_config)
    yield sim
    warnings = sim.warnings()
    await sim.close()
    # the project's own client must never make the simulator warn
    assert warnings == []


@pytest.fixture
async def world(
    db, aiohttp_server, settings, simulators, airtel_sim, airtel_settings, tmp_path, in_telegram
) -> AsyncIterator[SimpleNamespace]:
    daraja_sim = await simulators()
    # filled with the services below; a checkout is named now so the payment page is served
    holder = SimpleNamespace(checkout=object())
    settings = airtel_sim.settings(
        settings.model_copy(update={"mpesa_shortcode": SANDBOX_SHORTCODE}),
        tmp_path / "airtel.pem",
        airtel_enquiry_every_s=0.001,  # "later" comes at once; the simulator's clock decides
        **airtel_settings,
    )
    # the web app reads its services per request, so it can start before they exist
    our_server = await aiohttp_server(create_app(holder, settings=settings))
    our_url = str(our_server.make_url("")).rstrip("/")
    secret = settings.resolved_callback_secret()
    airtel_sim.portal(callback_url=airtel_callback_url(our_url, secret))
    daraja = simulator_daraja(daraja_sim, our_url, secret)
    airtel = build_airtel(settings)
    assert airtel is not None
    airtel_sim.clients.append(airtel)
    chat: Any = TelegramChatChannel() if in_telegram else RecordingChatChannel()
    sms = RecordingChatChannel()
    services = build_services(
        settings,
        daraja=daraja,
        airtel=airtel,
        channels={NotificationChannel.CHAT: chat, NotificationChannel.SMS: sms},
    )
    holder.__dict__.update(vars(services))
    await services.staff.bootstrap_admins()
    await Staff.create(telegram_id=CASHIER, role=StaffRole.CASHIER, name="Brian")
    harness = await TelegramHarness.start(settings, services)
    if in_telegram:
        chat.bind(harness.app.bot, services)
    try:
        yield SimpleNamespace(
            services=services,
            sim=airtel_sim,
            daraja_sim=daraja_sim,
            chat=chat,
            sms=sms,
            h=harness,
            base=our_url,
            url=airtel_callback_url(our_url, secret),
        )
    finally:
        await harness.stop()
        await daraja.aclose()


async def request(world: Any, phone: str, amount: int | str = 150, **kwargs: Any) -> Payment:
    return await world.services.payments.request_payment(
        phone, str(amount), initiator=None, actor="cli", chat_id=CHAT_ID, **kwargs
    )


async def test_a_payment_to_an_airtel_number_is_paid_by_its_callback_and_told_once(world):
    payment = await request(world, "0733 123 456", 1500, description="Blender")
    await world.sim.drain()
    delivered = await world.services.outbox.run_once()

    paid = await Payment.get(id=payment.id)
    (collection,) = world.sim.state.collections.values()
    assert (payment.provider, payment.status) == (Provider.AIRTEL, PaymentStatus.PENDING)
    assert (paid.status, paid.amount, paid.msisdn) == (PaymentStatus.PAID, 1500, "254733123456")
    # the receipt is Airtel's own id for the money, and our id is the one Airtel was given
    assert paid.receipt == collection.airtel_money_id
    assert paid.transaction_id == collection.transaction_id
    inbox = await CallbackInbox.all()
    assert [(row.kind, row.status) for row in inbox] == [
        (CallbackKind.AIRTEL_COLLECTION, InboxStatus.PROCESSED)
    ]
    assert [n.recipient for n in world.chat.delivered] == [str(CHAT_ID)]
    assert [n.recipient for n in world.sms.delivered] == ["254733123456"]
    assert f"Airtel Money receipt {paid.receipt}" in world.sms.delivered[0].payload["text"]
    assert delivered == 2
    assert world.sim.posts(PUSH) == 1


async def test_a_callback_posted_twice_is_applied_once(world):
    payment = await request(world, "0733 000 008", 700)
    await world.sim.drain()
    delivered = await world.services.outbox.run_once()

    rows = await CallbackInbox.all().order_by("id")
    assert [row.status for row in rows] == [InboxStatus.PROCESSED, InboxStatus.DUPLICATE]
    assert rows[0].body == rows[1].body
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID
    # told once: one card edit and one SMS receipt, however often Airtel reports it
    assert (len(world.chat.delivered), len(world.sms.delivered), delivered) == (1, 1, 2)


async def test_a_payment_whose_callback_never_comes_is_settled_by_enquiry(world):
    payment = await request(world, "0733 000 000", 250)
    await world.sim.drain()
    assert [d.dropped for d in world.sim.state.deliveries] == []  # this number never calls back

    first = await world.services.reconciler.run_once()
    still = await Payment.get(id=payment.id)
    world.sim.clock.advance(31)  # Airtel finishes processing
    await world.services.reconciler.run_once()

    paid = await Payment.get(id=payment.id)
    (collection,) = world.sim.state.collections.values()
    assert (first.payments_waiting, still.status, still.query_count) == (
        1,
        PaymentStatus.PENDING,
        1,
    )
    assert (paid.status, paid.receipt) == (PaymentStatus.PAID, collection.airtel_money_id)
    assert await CallbackInbox.all().count() == 0
    assert world.sim.posts(PUSH) == 1
    enquiry = f"/standard/v1/payments/{payment.transaction_id}"
    assert world.sim.state.count_calls("GET", enquiry) == 2


@pytest.mark.parametrize(
    ("phone", "status"),
    [
        ("0733 000 001", PaymentStatus.INSUFFICIENT_FUNDS),
        ("0733 000 002", PaymentStatus.WRONG_PIN),
        ("0733 000 003", PaymentStatus.CANCELLED),
        ("0733 000 004", PaymentStatus.TIMED_OUT),
    ],
)
@pytest.mark.parametrize("airtel_settings", [{"airtel_confirm_by_enquiry": True}])
async def test_failed_pushes_get_the_reason_the_enquiry_gives_and_can_be_retried(
    world, phone, status
):
    first = await request(world, phone, 100)
    await world.sim.drain()
    retry = await world.services.payments.retry_payment(first.id, initiator=None, actor="cli")
    await world.sim.drain()

    failed = await Payment.get(id=first.id)
    again = await Payment.get(id=retry.id)
    assert failed.status == status
    assert (again.attempt, again.provider, again.status) == (2, Provider.AIRTEL, status)
    assert again.transaction_id != failed.transaction_id  # a new attempt, a new Airtel id
    assert world.sim.posts(PUSH) == 2


async def test_an_unregistered_number_is_refused_by_airtel_and_nothing_is_pending(world):
    payment = await request(world, "0733 999 999", 100)

    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, "DP00800001005")
    assert payment.in_flight_msisdn is None


async def test_an_order_is_paid_by_airtel_and_settled(world):
    orders = world.services.orders
    order = await orders.create_order(2_500, "Microwave", created_by=None, actor="cli")

    payment = await request(world, "0750 123 456", order=order, amount=2_500)
    await world.sim.drain()

    order = await Order.get(id=order.id)
    paid = await Payment.get(id=payment.id)
    (collection,) = world.sim.state.collections.values()
    assert collection.reference == order.code  # the payer's prompt names the order
    assert (order.status, order.paid_receipt) == (OrderStatus.PAID, paid.receipt)


@pytest.mark.parametrize("airtel_config", [SimulatorConfig(portal=SIGNED)])
@pytest.mark.parametrize("airtel_settings", [{"airtel_callback_hash_key": HASH_KEY}])
async def test_a_forged_callback_is_refused_and_kept_and_the_real_one_applied(world):
    payment = await request(world, "0733 000 000", 300)  # Airtel will not call back on its own
    body = {
        "transaction": {
            "id": payment.transaction_id,
            "message": "Paid",
            "status_code": "TS",
            "airtel_money_id": "MP261120.1130.FAKE01",
        }
    }
    body["hash"] = sign_callback(body, "not-the-portal-key", which=HashInput.TRANSACTION_JSON)
    async with httpx.AsyncClient() as http:
        forged = await http.post(world.url, content=json.dumps(body).encode())
        body["hash"] = sign_callback(body, HASH_KEY, which=HashInput.TRANSACTION_JSON)
        genuine = await http.post(world.url, content=json.dumps(body).encode())

    rows = await CallbackInbox.all().order_by("id")
    assert forged.status_code == 403
    assert (rows[0].status, json.loads(rows[0].body)["hash"]) == (
        InboxStatus.REJECTED,
        sign_callback(body, "not-the-portal-key", which=HashInput.TRANSACTION_JSON),
    )
    assert "hash does not match" in (rows[0].error or "")
    assert (genuine.status_code, rows[1].status) == (200, InboxStatus.PROCESSED)
    assert (await Payment.get(id=payment.id)).receipt == "MP261120.1130.FAKE01"


@pytest.mark.parametrize("airtel_config", [SimulatorConfig(portal=SIGNED)])
@pytest.mark.parametrize("airtel_settings", [{"airtel_callback_hash_key": HASH_KEY}])
async def test_the_simulators_signed_callback_is_verified_and_applied(world):
    payment = await request(world, "0733 123 456", 400)
    await world.sim.drain()

    (delivery,) = world.sim.state.deliveries
    assert "hash" in delivery.body
    assert (await Payment.get(id=payment.id)).status == PaymentStatus.PAID


async def send_payout(world: Any, phone: str, amount: int | str = 500) -> Payout:
    payouts = world.services.payouts
    payout = await payouts.send_money(
        phone, str(amount), initiator_telegram_id=ADMIN, reason="Supplier refund", chat_id=ADMIN
    )
    return await payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)


async def test_a_payout_to_an_airtel_number_is_checked_by_kyc_sent_once_and_completed(world):
    payout = await send_payout(world, "0733 123 456", 1_200)

    (disbursement,) = world.sim.state.disbursements.values()
    assert (payout.provider, payout.status, payout.amount) == (
        Provider.AIRTEL,
        PayoutStatus.COMPLETED,
        1_200,
    )
    assert (payout.receipt, payout.receiver_name) == (disbursement.airtel_money_id, "JOHN DOE")
    assert payout.originator_conversation_id == disbursement.transaction_id
    assert world.sim.posts(DISBURSE) == 1
    assert world.sim.state.disbursement_balance == 100_000 - 1_200


async def test_an_ambiguous_payout_answer_is_settled_by_enquiry_never_sent_again(world):
    payout = await send_payout(world, "0734 000 001", 800)
    assert (payout.status, payout.post_state) == (PayoutStatus.UNKNOWN, "unknown")

    report = await world.services.reconciler.run_once()

    done = await Payout.get(id=payout.id)
    (disbursement,) = world.sim.state.disbursements.values()
    assert (done.status, done.receipt) == (PayoutStatus.COMPLETED, disbursement.airtel_money_id)
    assert report.payouts_settled == 1
    # the simulator recorded every request: one disbursement POST, then the enquiry
    assert world.sim.posts(DISBURSE) == 1
    assert world.sim.state.count_calls("GET", f"{DISBURSE}{payout.originator_conversation_id}") == 1


async def test_a_payout_that_timed_out_without_effect_fails_by_enquiry(world):
    payout = await send_payout(world, "0734 000 003", 800)

    await world.services.reconciler.run_once()

    done = await Payout.get(id=payout.id)
    assert (payout.status, done.status) == (PayoutStatus.UNKNOWN, PayoutStatus.FAILED)
    assert world.sim.posts(DISBURSE) == 1
    assert world.sim.state.disbursement_balance == 100_000


async def test_a_payout_to_an_unregistered_airtel_number_is_refused_before_sending(world):
    with pytest.raises(InvalidInput, match="not registered on Airtel Money") as refused:
        await world.services.payouts.send_money(
            "0733 999 999", "500", initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
        )

    assert refused.value.field == "phone"
    assert await Payout.all().count() == 0
    assert world.sim.posts(DISBURSE) == 0
    assert world.sim.state.count_calls("GET", "/standard/v1/users/733999999") == 1


async def test_a_payout_to_a_barred_airtel_account_is_refused_before_sending(world):
    with pytest.raises(InvalidInput, match="barred"):
        await world.services.payouts.send_money(
            "0734 000 004", "500", initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
        )

    assert await Payout.all().count() == 0
    assert world.sim.posts(DISBURSE) == 0


async def test_mpesa_and_airtel_numbers_go_each_to_their_own_provider(world):
    mpesa = await request(world, "0708 374 149", 150)
    airtel = await request(world, "0733 123 456", 160)
    await world.sim.drain()
    async with httpx.AsyncClient(base_url=world.daraja_sim.url) as daraja:
        (await daraja.post("/simulator/drain")).raise_for_status()
    await world.services.reconciler.run_once()

    assert (mpesa.provider, airtel.provider) == (Provider.MPESA, Provider.AIRTEL)
    assert mpesa.checkout_request_id is not None and mpesa.transaction_id is None
    assert [p.status for p in await Payment.all().order_by("id")] == [
        PaymentStatus.PAID,
        PaymentStatus.PAID,
    ]
    assert world.sim.posts(PUSH) == 1


# -- in the chat -------------------------------------------------------------------------------


@pytest.mark.parametrize("in_telegram", [True])
async def test_a_cashiers_request_to_an_airtel_number_is_paid_and_its_card_edited(world):
    payer = world.sim.hold_callbacks()
    sent = await world.h.send(CASHIER, "/request 0733123456 1500 Blender")
    card_id = sent[0].result["message_id"]
    payer.set()
    await world.sim.drain()
    await world.services.outbox.run_once()

    payment = await Payment.get()
    card = world.h.api.message(CASHIER, card_id)["text"]
    assert sent[0].params["text"].startswith("<b>Airtel Money request #1</b>")
    assert "Waiting for the customer to enter their Airtel Money PIN" in sent[0].params["text"]
    assert (payment.provider, payment.status) == (Provider.AIRTEL, PaymentStatus.PAID)
    assert "✅ Paid" in card and f"Receipt: <code>{payment.receipt}</code>" in card

    status = await world.h.send(CASHIER, f"/status {payment.transaction_id}")
    assert world.h.texts(status)[0] == card


@pytest.mark.parametrize("in_telegram", [True])
async def test_an_admins_payout_shows_the_airtel_account_holder_before_confirming(world):
    summary = await world.h.send(ADMIN, "/send 0733123456 500 Supplier refund")
    text = summary[0].params["text"]
    payout = await Payout.get()

    pressed = await world.h.press(
        ADMIN, f"payout:confirm:{payout.id}", message_id=summary[0].result["message_id"]
    )
    await world.services.outbox.run_once()

    done = await Payout.get(id=payout.id)
    assert text.startswith(f"<b>Airtel Money payout #{payout.id}</b>")
    assert "Airtel Money account of: JOHN DOE" in text
    assert done.status == PayoutStatus.COMPLETED
    shown = world.h.api.message(ADMIN, summary[0].result["message_id"])["text"]
    assert "✅ Sent" in shown and f"Receipt: <code>{done.receipt}</code>" in shown
    assert pressed[0].method == "answerCallbackQuery"


@pytest.mark.parametrize("in_telegram", [True])
async def test_a_payout_to_an_unregistered_airtel_number_is_refused_in_the_chat(world):
    refused = await world.h.send(ADMIN, "/send 0733999999 500 Refund")

    assert "0733 999 999 is not registered on Airtel Money" in world.h.texts(refused)[0]
    assert await Payout.all().count() == 0


@pytest.mark.parametrize("in_telegram", [True])
async def test_balance_asks_both_providers_and_airtels_answer_comes_at_once(world):
    asked = await world.h.send(ADMIN, "/balance")
    await world.services.outbox.run_once()

    shown = [m["text"] for m in world.h.api.chat_messages(ADMIN)]
    assert world.h.texts(asked) == [
        "⏳ Asked M-Pesa and Airtel Money for their balances; the answers will appear here."
    ]
    airtel = next(text for text in shown if "Airtel Money balance" in text)
    # the simulator's collection wallet starts empty
    assert "Airtel Money: KES 0.00" in airtel


async def test_a_push_whose_answer_was_lost_is_asked_about_by_its_own_id(world):
    world.sim.state.faults.update({"drop_connection_next_n": 1})
    payment = await request(world, "0733 000 000", 350)
    assert (payment.status, payment.post_state) == (PaymentStatus.UNKNOWN, "unknown")
    assert payment.transaction_id is not None

    world.sim.clock.advance(31)
    await world.services.reconciler.run_once()

    paid = await Payment.get(id=payment.id)
    (collection,) = world.sim.state.collections.values()
    assert (paid.status, paid.receipt) == (PaymentStatus.PAID, collection.airtel_money_id)
    assert world.sim.posts(PUSH) == 1  # asked about, never sent again


async def test_an_admin_resolves_an_unknown_push_airtel_does_not_know_after_a_fresh_look(world):
    world.sim.state.faults.update({"drop_connection_next_n": 1, "enquiry_not_found_next_n": 1})
    payment = await request(world, "0733 000 000", 350)
    resolutions = world.services.resolutions

    look = await resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)
    decided = await resolutions.decide(f"#{payment.id}", "failed", by_telegram_id=ADMIN)

    assert "does not know this transaction" in look.answer
    assert look.decidable
    assert (decided.status, decided.resolved_by) == (PaymentStatus.FAILED, f"tg:{ADMIN}")
    assert world.sim.posts(PUSH) == 1


async def test_an_admins_look_at_an_unknown_payout_settles_it_by_enquiry(world):
    world.sim.state.faults.update({"drop_connection_next_n": 1})
    payout = await send_payout(world, "0733 123 456", 900)
    assert payout.status == PayoutStatus.UNKNOWN

    look = await world.services.resolutions.look(f"P{payout.id}", by_telegram_id=ADMIN)

    assert "disbursement enquiry says" in look.answer
    assert (look.parked, look.record.status) == (False, PayoutStatus.COMPLETED)
    assert world.sim.posts(DISBURSE) == 1


# -- the shop's API ----------------------------------------------------------------------------


# the customer "thinks" for a second before the PIN: the answer to initiate is always sent before
# the callback can land (at no delay, a loaded machine let it land first and answer "paid")
@pytest.mark.parametrize(
    "airtel_config", [SimulatorConfig(enquiry_pending_s=30.0, callback_delay_s=1.0)]
)
async def test_the_api_takes_an_airtel_number_with_payment_method_airtel(world):
    _, token = await world.services.api_keys.create("shop")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{world.base}/api/v1", headers=headers) as api:
        order = (await api.post("/orders", json={"amount": 1500, "description": "Oil"})).json()
        wrong = await api.post(
            "/payments/initiate",
            json={
                "orderId": order["orderId"],
                "paymentMethod": "MPESA",
                "phoneNumber": "0733123456",
            },
        )
        started = await api.post(
            "/payments/initiate",
            json={
                "orderId": order["orderId"],
                "paymentMethod": "AIRTEL",
                "phoneNumber": "0733123456",
            },
        )
        await world.sim.drain()
        status = (await api.get(f"/payments/status/{order['orderId']}")).json()
        document = (await api.get("/openapi.json")).json()

    assert (wrong.status_code, wrong.json()["error"]["field"]) == (400, "phoneNumber")
    assert "send paymentMethod AIRTEL" in wrong.json()["error"]["message"]
    assert started.status_code == 201
    assert (started.json()["paymentMethod"], started.json()["status"]) == ("AIRTEL", "pending")
    assert (status["status"], status["payment"]["paymentMethod"]) == ("paid", "AIRTEL")
    assert status["payment"]["receipt"] == (await Payment.get()).receipt
    methods = [
        variant["properties"]["paymentMethod"]["enum"]
        for variant in document["components"]["schemas"]["InitiatePayment"]["oneOf"]
    ]
    assert methods == [["MPESA"], ["AIRTEL"]]


async def test_an_airtel_receipt_is_not_sent_to_mpesa_for_a_reversal(world):
    payment = await request(world, "0733 123 456", 150)
    await world.sim.drain()
    paid = await Payment.get(id=payment.id)

    with pytest.raises(Conflict, match="was received by Airtel Money") as refused:
        await world.services.reversals.reverse(paid.receipt, by_telegram_id=ADMIN)

    assert "Refund it in the Airtel Money portal" in str(refused.value)
    assert await Reversal.all().count() == 0


# -- customers: the payment page and the chat ---------------------------------------------------


async def test_a_customer_pays_on_the_payment_page_with_an_airtel_number(world):
    order = await world.services.orders.create_order(900, "Kettle", created_by=None, actor="cli")
    tokens = CsrfTokens(world.services.settings.resolved_callback_secret())
    async with httpx.AsyncClient(base_url=world.base) as http:
        form = (await http.get(f"/pay/{order.code}")).text
        sent = await http.post(
            f"/pay/{order.code}",
            data={"csrf": tokens.issue(order.code), "phone": "0733 000 000"},
        )
        waiting = (await http.get(f"/pay/{order.code}")).text
        world.sim.clock.advance(31)  # this number never calls back: the enquiry settles it
        await world.services.reconciler.run_once()
        paid = (await http.get(f"/pay/{order.code}")).text
        receipt = (await http.get(f"/pay/{order.code}/receipt")).text

    payment = await Payment.get(order_id=order.id)
    assert "Your M-Pesa or Airtel Money phone number" in form
    assert sent.status_code in (200, 303)
    assert "We sent an Airtel Money prompt to" in waiting
    assert (payment.provider, payment.status) == (Provider.AIRTEL, PaymentStatus.PAID)
    assert "Airtel Money receipt" in paid and payment.receipt in paid
    assert "Thank you for paying with Airtel Money." in receipt


@pytest.mark.parametrize("in_telegram", [True])
async def test_a_customer_types_an_airtel_number_in_the_chat_and_pays(world):
    order = await world.services.orders.create_order(2_000, "Iron", created_by=None, actor="cli")
    customer = 3003

    asked = await world.h.send(customer, f"/start {order.code}")
    await world.h.send(customer, "0733 123 456")
    await world.sim.drain()
    await world.services.outbox.run_once()

    texts = [m["text"] for m in world.h.api.chat_messages(customer)]
    payment = await Payment.get(order_id=order.id)
    assert "To pay with M-Pesa or Airtel Money" in world.h.texts(asked)[0]
    assert "Thanks! Sending the Airtel Money request to 0733 123 456…" in texts
    assert (payment.provider, payment.status) == (Provider.AIRTEL, PaymentStatus.PAID)
    card = next(text for text in texts if "Airtel Money payment #" in text)
    assert "✅ Paid" in card and f"Airtel Money receipt: <code>{payment.receipt}</code>" in card
