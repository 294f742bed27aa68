"""CustomerService: opening orders by code, remembering phones, paying, ownership of payments."""

from __future__ import annotations

import pytest

from bot.notify.notifier import Notifier
from bot.services.customers import AWAITING_PHONE
from bot.services.customers import IDLE
from bot.services.customers import OWN_NUMBER
from bot.services.customers import CustomerService
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.order_payments import OrderPaymentService
from bot.services.orders import OrderService
from bot.services.payments import PaymentService
from models import Customer
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from models import StaffRole
from tests.helpers.stk import stk_callback

CUSTOMER = 3003
OTHER = 4004
MSISDN = "254708374149"


@pytest.fixture
def services(db, daraja, settings):
    notifier = Notifier(business_name=settings.business_name, admin_telegram_ids=[1001])
    payments = PaymentService(daraja=daraja, notifier=notifier, settings=settings)
    orders = OrderService(notifier=notifier, settings=settings)
    order_payments = OrderPaymentService(orders=orders, payments=payments)
    customers = CustomerService(
        payments=payments, orders=orders, order_payments=order_payments, settings=settings
    )
    return payments, customers


@pytest.fixture
def customers(services) -> CustomerService:
    return services[1]


@pytest.fixture
async def order(db) -> Order:
    cashier = await Staff.create(telegram_id=2002, name="Wanjiku", role=StaffRole.CASHIER)
    return await Order.create(
        code="HP7K2Q9XAB", amount=1200, description="Blender", created_by=cashier
    )


async def test_get_or_create_creates_once_and_keeps_name_and_chat_current(customers):
    first = await customers.get_or_create(CUSTOMER, name="Amina", chat_id=CUSTOMER)
    again = await customers.get_or_create(CUSTOMER, name="Amina W.", chat_id=77)

    assert again.id == first.id
    stored = await Customer.get(id=first.id)
    assert (stored.name, stored.chat_id) == ("Amina W.", 77)
    assert await Customer.all().count() == 1


async def test_open_order_remembers_the_conversation_and_claims_the_order(customers, order):
    customer, opened = await customers.open_order(
        CUSTOMER, "hp7k 2q9xab", name="Amina", chat_id=CUSTOMER
    )

    assert opened.id == order.id
    stored = await Customer.get(id=customer.id)
    assert (stored.conversation_state, stored.conversation_order_id) == (AWAITING_PHONE, order.id)
    assert (await Order.get(id=order.id)).customer_id == customer.id


async def test_open_order_by_someone_else_keeps_the_first_owner(customers, order):
    first, _ = await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    second, _ = await customers.open_order(OTHER, order.code, name="B", chat_id=OTHER)

    assert (await Order.get(id=order.id)).customer_id == first.id
    assert (await Customer.get(id=second.id)).conversation_order_id == order.id


async def test_open_unknown_order_is_not_found(customers, db):
    with pytest.raises(NotFound) as caught:
        await customers.open_order(CUSTOMER, "HPNOPE", name="A", chat_id=CUSTOMER)
    assert str(caught.value) == "No order HPNOPE exists. Check the link you were sent."


@pytest.mark.parametrize(
    ("status", "receipt", "message"),
    [
        (
            OrderStatus.PAID,
            "UKK4Q7M2XB",
            "Order HP7K2Q9XAB is already paid (receipt UKK4Q7M2XB). Nothing more to pay.",
        ),
        (
            OrderStatus.CANCELLED,
            None,
            "Order HP7K2Q9XAB was cancelled. Ask the shop for a new link.",
        ),
    ],
)
async def test_open_closed_order_is_a_conflict(customers, order, status, receipt, message):
    await Order.filter(id=order.id).update(status=status, paid_receipt=receipt)

    with pytest.raises(Conflict) as caught:
        await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    assert str(caught.value) == message


async def test_set_phone_from_own_contact_keeps_the_order_to_pay(customers, order):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)

    customer = await customers.set_phone(CUSTOMER, "+254708374149", contact_user_id=CUSTOMER)

    assert (customer.msisdn, customer.conversation_order_id) == (MSISDN, order.id)
    stored = await Customer.get(id=customer.id)
    assert (stored.msisdn, stored.conversation_state) == (MSISDN, AWAITING_PHONE)


@pytest.mark.parametrize("contact_user_id", [OTHER, 0])
async def test_someone_elses_contact_is_refused(customers, order, contact_user_id):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)

    with pytest.raises(InvalidInput) as caught:
        await customers.set_phone(CUSTOMER, "0708374149", contact_user_id=contact_user_id)
    assert str(caught.value) == OWN_NUMBER
    assert (await Customer.get(telegram_id=CUSTOMER)).msisdn is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0733 123 456", "0733 123 456 is an Airtel number; M-Pesa needs Safaricom."),
        ("hello", "hello is not a phone number."),
        ("0708", "0708 is too short for a Kenyan mobile number."),
    ],
)
async def test_set_phone_refuses_numbers_mpesa_cannot_use(customers, db, raw, reason):
    with pytest.raises(InvalidInput) as caught:
        await customers.set_phone(CUSTOMER, raw)
    assert str(caught.value) == reason


async def test_set_phone_out_of_the_blue_only_remembers_it(customers, db):
    customer = await customers.set_phone(CUSTOMER, "0708 374 149", contact_user_id=CUSTOMER)

    assert (customer.msisdn, customer.conversation_state, customer.conversation_order_id) == (
        MSISDN,
        IDLE,
        None,
    )


async def test_ask_phone_mid_order_keeps_the_order(customers, order):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)

    customer = await customers.ask_phone(CUSTOMER, name="A", chat_id=CUSTOMER)

    assert (customer.conversation_state, customer.conversation_order_id) == (
        AWAITING_PHONE,
        order.id,
    )


async def test_ask_phone_for_an_order_they_never_opened_is_refused(customers, order):
    with pytest.raises(NotAllowed):
        await customers.ask_phone(CUSTOMER, name="A", chat_id=CUSTOMER, order_id=order.id)


async def test_pay_order_pushes_the_order_amount_with_its_code(customers, order, daraja):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    await customers.set_phone(CUSTOMER, "0708374149", contact_user_id=CUSTOMER)

    payment = await customers.pay_order(CUSTOMER, chat_id=CUSTOMER)

    assert daraja.called("stk_push") == [
        {
            "msisdn": MSISDN,
            "amount": 1200,
            "reference": "HP7K2Q9XAB",
            "description": "Order payment",
        }
    ]
    customer = await Customer.get(telegram_id=CUSTOMER)
    assert (payment.status, payment.order_id, payment.customer_id, payment.chat_id) == (
        PaymentStatus.PENDING,
        order.id,
        customer.id,
        CUSTOMER,
    )
    assert payment.order.code == order.code
    assert (customer.conversation_state, customer.conversation_order_id) == (IDLE, None)


async def test_pay_order_without_an_order_or_phone_says_what_is_missing(customers, order):
    with pytest.raises(Conflict):
        await customers.pay_order(CUSTOMER, chat_id=CUSTOMER)
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    with pytest.raises(InvalidInput) as caught:
        await customers.pay_order(CUSTOMER, chat_id=CUSTOMER)
    assert str(caught.value) == "Share your phone number or type your Safaricom number first."


async def test_pay_order_by_button_needs_an_order_they_opened(customers, order):
    await customers.set_phone(OTHER, "0708374149")

    with pytest.raises(NotAllowed):
        await customers.pay_order(OTHER, chat_id=OTHER, order_id=order.id)


async def test_pay_an_already_paid_order_is_a_conflict(customers, order):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    await customers.set_phone(CUSTOMER, "0708374149")
    await Order.filter(id=order.id).update(status=OrderStatus.PAID, paid_receipt="UKK4Q7M2XB")

    with pytest.raises(Conflict) as caught:
        await customers.pay_order(CUSTOMER, chat_id=CUSTOMER, order_id=order.id)
    assert str(caught.value) == "Order HP7K2Q9XAB is already paid (receipt UKK4Q7M2XB)."


async def paid_attempt(services, order, result_code: int) -> Payment:
    payments, customers = services
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    await customers.set_phone(CUSTOMER, "0708374149")
    payment = await customers.pay_order(CUSTOMER, chat_id=CUSTOMER)
    await payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=result_code, amount=1200)
    )
    return await Payment.get(id=payment.id)


async def test_retry_own_cancelled_payment_sends_a_new_attempt(services, order, daraja):
    _, customers = services
    first = await paid_attempt(services, order, 1032)
    assert first.status == PaymentStatus.CANCELLED

    retry = await customers.retry_payment(CUSTOMER, first.id, chat_id=CUSTOMER)

    assert (retry.attempt, retry.status, retry.order.code) == (2, PaymentStatus.PENDING, order.code)
    assert len(daraja.called("stk_push")) == 2


@pytest.mark.parametrize("payment_ref", ["theirs", "missing"])
async def test_retry_or_check_someone_elses_payment_is_not_allowed(
    services, order, daraja, payment_ref
):
    _, customers = services
    first = await paid_attempt(services, order, 1032)
    await customers.get_or_create(OTHER, name="B", chat_id=OTHER)
    payment_id = first.id if payment_ref == "theirs" else 9999

    with pytest.raises(NotAllowed):
        await customers.retry_payment(OTHER, payment_id, chat_id=OTHER)
    with pytest.raises(NotAllowed):
        await customers.check_payment(OTHER, payment_id)
    assert len(daraja.called("stk_push")) == 1
    assert daraja.called("stk_query") == []


async def test_check_own_payment_asks_mpesa(customers, order, daraja):
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    await customers.set_phone(CUSTOMER, "0708374149")
    payment = await customers.pay_order(CUSTOMER, chat_id=CUSTOMER)

    checked = await customers.check_payment(CUSTOMER, payment.id)

    assert daraja.called("stk_query") == [{"checkout_request_id": payment.checkout_request_id}]
    assert checked.status == PaymentStatus.PENDING


async def test_orders_lists_own_orders_newest_first(customers, order, db):
    other = await Order.create(code="HPSECOND22", amount=500, description="Jug")
    await customers.open_order(CUSTOMER, order.code, name="A", chat_id=CUSTOMER)
    await customers.open_order(CUSTOMER, other.code, name="A", chat_id=CUSTOMER)
    await Order.create(code="HPNOTMINE2", amount=900, description="Not mine")

    assert [o.code for o in await customers.orders(CUSTOMER)] == ["HPSECOND22", "HP7K2Q9XAB"]
    assert await customers.orders(OTHER) == []
