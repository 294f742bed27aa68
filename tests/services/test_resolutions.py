"""ResolutionService: every parked payment, payout and reversal has a way out a person can take."""

from __future__ import annotations

import json

import pytest

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.resolutions import FRESH_S
from bot.services.resolutions import Kind
from bot.services.resolutions import parse_reference
from bot.telegram import keyboards
from bot.telegram import texts
from models import AuditEvent
from models import CallbackInbox
from models import CallbackKind
from models import DarajaQuery
from models import InboxStatus
from models import Notification
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Reversal
from models import ReversalStatus
from mpesa.errors import OutcomeUnknown
from mpesa.errors import ServerError
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import CASHIER
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_world
from tests.helpers.b2c import status_answer
from tests.helpers.b2c import status_result
from tests.helpers.stk import stk_callback_body
from tests.helpers.stk import stk_query_answer

PHONE = "0708374149"


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


async def callback(world: B2CWorld, body: dict) -> None:
    await world.services.callbacks.ingest(CallbackKind.STK, json.dumps(body).encode(), "1.2.3.4")


async def reviewed(world: B2CWorld) -> tuple[Payment, Order]:
    """A KES 150 order whose callback reported KES 1: held for review."""
    order = await Order.create(code="HP22222222", amount=150, description="Sufuria")
    payment = await world.services.payments.request_payment(
        PHONE, None, initiator=None, actor="tg:2001", order=order, chat_id=CASHIER
    )
    await callback(world, stk_callback_body(payment.checkout_request_id, amount=1))
    return await Payment.get(id=payment.id), order


def test_references_name_the_three_kinds():
    assert [parse_reference(r) for r in ("#12", "12", "P7", "p#7", "R3")] == [
        parse_reference("#12"),
        parse_reference("#12"),
        parse_reference("P7"),
        parse_reference("P7"),
        parse_reference("R3"),
    ]
    assert [str(parse_reference(r)) for r in ("12", "p7", "r3")] == ["#12", "P7", "R3"]
    assert parse_reference("R3").kind is Kind.REVERSAL
    with pytest.raises(InvalidInput, match="give a payment \\(#12\\), a payout \\(P12\\)"):
        parse_reference("UKK4Q7M2XB")


# -- hole 6: review can be left, and never reads as paid ----------------------------------------


async def test_hole_6_a_review_is_not_shown_as_paid(world):
    payment, _ = await reviewed(world)

    card = texts.payment_card(payment)
    assert payment.status is PaymentStatus.REVIEW
    assert "Paid" not in card.split("\n")[4]
    assert "Not confirmed" in card and "Do not hand over goods" in card
    assert keyboards.payment_buttons(payment).to_dict()["inline_keyboard"][0][0][
        "callback_data"
    ] == (f"res:look:#{payment.id}")


async def test_hole_6_an_admin_resolves_a_review_as_paid_after_a_fresh_query(world):
    payment, order = await reviewed(world)
    ref = f"#{payment.id}"
    with pytest.raises(Conflict, match=f"Look at {ref} first"):
        await world.services.resolutions.decide(ref, "paid", by_telegram_id=ADMIN)

    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))
    look = await world.services.resolutions.look(ref, by_telegram_id=ADMIN, chat_id=ADMIN)
    assert (look.decidable, look.answer) == (True, look.answer)
    assert "STK query says" in look.answer
    done = await world.services.resolutions.decide(ref, "paid", by_telegram_id=ADMIN)

    assert (done.status, done.paid_amount, done.resolved_by) == (PaymentStatus.PAID, 1, "tg:1001")
    assert (await Order.get(id=order.id)).status is OrderStatus.PAID
    actions = await AuditEvent.filter(subject=f"payment:{payment.id}").values_list(
        "action", flat=True
    )
    assert "payment.resolve_look" in actions and "payment.resolved" in actions
    assert await Notification.filter(event_key=f"payment:{payment.id}:paid:sms").exists()


async def test_hole_6_a_review_resolved_as_failed_leaves_the_order_open(world):
    payment, order = await reviewed(world)
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))
    await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)

    done = await world.services.resolutions.decide(f"#{payment.id}", "failed", by_telegram_id=ADMIN)

    assert done.status is PaymentStatus.FAILED
    assert (await Order.get(id=order.id)).status is OrderStatus.OPEN
    again = await world.services.payments.retry_payment(payment.id, initiator=None, actor="tg:2001")
    assert again.status is PaymentStatus.PENDING  # the order can be paid properly now
    reversal = await world.reversals.reverse(payment.receipt, by_telegram_id=ADMIN)
    assert reversal.amount == 1  # the KES 1 that came in can be sent back


async def test_a_look_that_settles_the_record_leaves_nothing_to_decide(world):
    payment = await world.services.payments.request_payment(
        PHONE, 150, initiator=None, actor="tg:2001"
    )
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "1032"))

    look = await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)

    assert (look.parked, look.record.status) == (False, PaymentStatus.CANCELLED)
    with pytest.raises(Conflict, match="nothing to resolve"):
        await world.services.resolutions.decide(f"#{payment.id}", "paid", by_telegram_id=ADMIN)


async def test_no_decision_when_m_pesa_could_not_be_asked(world):
    payment, _ = await reviewed(world)
    world.daraja.queue("stk_query", ServerError("down"))

    look = await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)

    assert (look.parked, look.decidable) == (True, False)
    with pytest.raises(Conflict, match="first"):
        await world.services.resolutions.decide(f"#{payment.id}", "paid", by_telegram_id=ADMIN)


async def test_a_look_goes_stale(world):
    payment, _ = await reviewed(world)
    world.daraja.queue("stk_query", stk_query_answer(payment.checkout_request_id, "0"))
    await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)
    world.clock.advance(seconds=FRESH_S + 1)

    with pytest.raises(Conflict, match="Look at"):
        await world.services.resolutions.decide(f"#{payment.id}", "paid", by_telegram_id=ADMIN)


async def test_only_admins_resolve_and_verdicts_fit_the_kind(world):
    payment, _ = await reviewed(world)
    with pytest.raises(NotAllowed):
        await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=CASHIER)
    with pytest.raises(InvalidInput, match="say paid or failed"):
        await world.services.resolutions.decide(f"#{payment.id}", "sent", by_telegram_id=ADMIN)
    with pytest.raises(NotFound):
        await world.services.resolutions.look("P99", by_telegram_id=ADMIN)


async def test_an_unknown_push_resolved_paid_takes_the_receipt_of_the_one_payment_that_fits(
    world,
):
    world.daraja.queue("stk_push", OutcomeUnknown("read timed out"))
    payment = await world.services.payments.request_payment(
        PHONE, 150, initiator=None, actor="tg:2001"
    )
    # a masked phone and another unknown push of the same amount: not tied automatically
    world.daraja.queue("stk_push", OutcomeUnknown("read timed out"))
    await world.services.payments.request_payment(
        "0712374149", 150, initiator=None, actor="tg:2001"
    )
    await callback(world, stk_callback_body("ws_CO_lost", phone="2547****149"))
    assert (await CallbackInbox.get()).status == InboxStatus.UNMATCHED

    look = await world.services.resolutions.look(f"#{payment.id}", by_telegram_id=ADMIN)
    assert [c.callback.receipt for c in look.candidates] == ["UKK4Q7M2XB"]
    done = await world.services.resolutions.decide(f"#{payment.id}", "paid", by_telegram_id=ADMIN)

    assert (done.status, done.receipt, done.checkout_request_id) == (
        PaymentStatus.PAID,
        "UKK4Q7M2XB",
        "ws_CO_lost",
    )
    assert (await CallbackInbox.get()).status == InboxStatus.PROCESSED
    assert len(world.daraja.called("stk_push")) == 2


# -- payouts and reversals: the answer comes by callback ------------------------------------------


async def unknown_payout(world: B2CWorld) -> Payout:
    world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    draft = await world.payouts.send_money(
        PHONE, 500, initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
    )
    return await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)


async def answer(world: B2CWorld, payout: Payout, **kwargs) -> None:
    query = await DarajaQuery.filter(payout_id=payout.id).order_by("-id").first()
    await world.accounts.apply_status_result(status_answer(query, payout, **kwargs))


@pytest.mark.parametrize(
    ("verdict", "status"), [("sent", PayoutStatus.COMPLETED), ("failed", PayoutStatus.FAILED)]
)
async def test_a_payout_m_pesa_cannot_find_is_resolved_after_the_answer_is_shown(
    world, verdict, status
):
    payout = await unknown_payout(world)

    look = await world.services.resolutions.look(
        f"P{payout.id}", by_telegram_id=ADMIN, chat_id=ADMIN
    )
    assert (look.waiting, look.decidable) == (True, False)
    with pytest.raises(Conflict, match="Look at"):
        await world.services.resolutions.decide(f"P{payout.id}", verdict, by_telegram_id=ADMIN)
    await answer(world, payout, code=2032)  # "not found": the question failed, not the payout
    shown = await world.services.resolutions.answered_look(await DarajaQuery.get(chat_id=ADMIN))
    assert shown.decidable and "could not tell" in shown.answer

    done = await world.services.resolutions.decide(f"P{payout.id}", verdict, by_telegram_id=ADMIN)

    assert (done.status, done.resolved_by) == (status, "tg:1001")
    webhook_or_chat = await Notification.filter(
        event_key__startswith=f"payout:{payout.id}:{status.value}"
    ).exists()
    assert webhook_or_chat
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_a_payout_that_never_left_can_be_stopped_without_a_query(world):
    from mpesa.errors import DarajaUnreachable

    world.daraja.queue("b2c_payment", DarajaUnreachable("connect failed"))
    draft = await world.payouts.send_money(
        PHONE, 500, initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
    )
    payout = await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)

    look = await world.services.resolutions.look(f"P{payout.id}", by_telegram_id=ADMIN)
    done = await world.services.resolutions.decide(f"P{payout.id}", "failed", by_telegram_id=ADMIN)

    assert look.decidable and "has not reached M-Pesa" in look.answer
    assert done.status is PayoutStatus.FAILED
    assert world.daraja.called("transaction_status") == []
    world.clock.advance(hours=1)
    await world.payouts.reconcile_pending()
    assert len(world.daraja.called("b2c_payment")) == 1  # stopped: never sent again


async def test_an_unknown_reversal_resolved_reversed_marks_the_payment(world):
    payment = await Payment.create(
        msisdn="254708374149",
        amount=150,
        paid_amount=150,
        account_reference="HP",
        status=PaymentStatus.PAID,
        receipt="UKK2M8P4RS",
    )
    world.daraja.queue("reversal", OutcomeUnknown("read timed out"))
    reversal = await world.reversals.reverse("UKK2M8P4RS", by_telegram_id=ADMIN)

    await world.services.resolutions.look(f"R{reversal.id}", by_telegram_id=ADMIN, chat_id=ADMIN)
    query = await DarajaQuery.get(reversal_id=reversal.id)
    assert world.daraja.called("transaction_status")[-1]["transaction_id"] == "UKK2M8P4RS"
    await world.accounts.apply_status_result(
        status_result(
            originator=query.originator_conversation_id,
            conversation=query.conversation_id,
            queried_originator="",
            receipt="UKK2M8P4RS",
            status="Completed",  # about the original payment: proves nothing
        )
    )
    assert (await Reversal.get(id=reversal.id)).status is ReversalStatus.UNKNOWN

    done = await world.services.resolutions.decide(
        f"R{reversal.id}", "reversed", by_telegram_id=ADMIN
    )

    assert done.status is ReversalStatus.COMPLETED
    assert (await Payment.get(id=payment.id)).status is PaymentStatus.REVERSED
