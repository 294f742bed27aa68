"""The services' own checks of a form's fields, asked as a person types (nothing recorded)."""

from __future__ import annotations

import pytest

from bot.services.payments import PaymentService
from models import AuditEvent
from models import Payment
from models import Payout
from models import Provider
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_world
from tests.helpers.fakes import FakeDaraja

BOTH = "we take M-Pesa (Safaricom) and Airtel Money (Airtel) numbers"


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


def messages(check) -> dict[str, str]:
    return {name: str(error) for name, error in check.errors.items()}


async def test_a_good_request_is_read_like_request_reads_it(world):
    check = world.services.payments.check_request("0708 374 149", "1,500")

    assert check.ok
    assert (check.routed.provider, check.routed.msisdn, check.amount) == (
        Provider.MPESA,
        "254708374149",
        1500,
    )
    assert await Payment.all().count() == 0
    assert await AuditEvent.filter(action="payment.request").count() == 0


@pytest.mark.parametrize(
    ("phone", "amount", "expected"),
    [
        (
            "0733 123 456",
            "100",
            {"phone": "0733 123 456 is an Airtel number; M-Pesa needs Safaricom"},
        ),
        (
            "0708374149",
            "0",
            {"amount": "0 is not a valid amount; enter a positive amount of at least KES 1"},
        ),
        ("0708374149", "1.5", {"amount": "1.5 is not a whole number of shillings"}),
        (
            "hello",
            "abc",
            {
                "phone": "hello is not a phone number",
                "amount": "abc is not an amount; enter whole shillings",
            },
        ),
    ],
)
async def test_each_field_gets_the_services_own_reason(world, phone, amount, expected):
    check = world.services.payments.check_request(phone, amount)

    assert not check.ok
    got = messages(check)
    assert set(got) == set(expected)
    for name, text in expected.items():
        assert got[name].startswith(text), got[name]


async def test_the_same_reason_as_request_payment_gives(world):
    payments = world.services.payments
    check = payments.check_request("0733 123 456", "100")
    with pytest.raises(Exception) as refused:
        await payments.request_payment(
            "0733 123 456", "100", initiator=None, actor="tg:1001", chat_id=1
        )

    assert str(refused.value) == str(check.errors["phone"])


async def test_with_airtel_on_but_not_set_up_an_airtel_number_says_so(db, settings):
    on = settings.model_copy(update={"airtel_enabled": True})
    payments = PaymentService(daraja=FakeDaraja(), notifier=None, settings=on)  # type: ignore[arg-type]

    check = payments.check_request("0733 123 456", "100")

    assert messages(check) == {
        "phone": "0733 123 456 is an Airtel number, and Airtel Money is not set up here yet."
    }


async def test_a_payout_is_checked_field_by_field_with_its_own_minimum(world):
    payouts = world.services.payouts

    good = payouts.check_send("0708374149", "20000", "Refund")
    low = payouts.check_send("0708374149", "5", "x")

    assert good.ok
    assert (good.amount, good.remarks, good.needs_approval) == (20000, "Refund", True)
    assert payouts.check_send("0708374149", "500", "").needs_approval is False
    assert set(messages(low)) == {"amount", "reason"}
    assert messages(low)["amount"] == "KES 5 is below the KES 10 minimum"
    assert await Payout.all().count() == 0


async def test_the_daily_limit_left_counts_confirmed_payouts(world):
    payouts = world.services.payouts
    staff = await world.services.staff.find(ADMIN)
    limit = world.services.staff.daily_payout_limit(staff)
    payout = await payouts.send_money(
        "0708374149", 500, initiator_telegram_id=ADMIN, reason="Refund"
    )

    assert await payouts.limit_left(staff) == limit  # recorded, not yet confirmed
    await payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)
    assert await payouts.limit_left(staff) == limit - 500


async def test_with_airtel_on_and_set_up_an_airtel_number_is_routed_to_airtel(db, settings):
    on = settings.model_copy(update={"airtel_enabled": True})
    stand_in = object()  # the collections service only keeps it until a push is made
    payments = PaymentService(daraja=FakeDaraja(), notifier=None, settings=on, airtel=stand_in)  # type: ignore[arg-type]

    check = payments.check_request("0733 123 456", "100")

    assert check.ok
    assert (check.routed.provider, check.routed.msisdn) == (Provider.AIRTEL, "254733123456")
