"""Regressions of issue 11's holes: where a timer or a clock boundary decided, money moved twice.

Each test names its hole. They run on SQLite and PostgreSQL (the ``db`` fixture); the ones about
concurrent workers matter most on PostgreSQL, where two transactions really run at once.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from bot.services.errors import Conflict
from bot.services.errors import LimitExceeded
from bot.services.outcome import ApplyOutcome
from bot.telegram import keyboards
from bot.telegram import texts
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
from models import Staff
from mpesa.errors import DarajaUnreachable
from mpesa.errors import OutcomeUnknown
from mpesa.models import AsyncAccepted
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_world
from tests.helpers.b2c import reversal_result
from tests.helpers.b2c import status_answer
from tests.helpers.fakes import FakeDaraja
from tests.helpers.stk import stk_callback_body
from tests.helpers.stk import stk_query_answer

PHONE = "0708374149"
MSISDN = "254708374149"


@dataclass
class GatedDaraja(FakeDaraja):
    """A FakeDaraja whose B2C POST waits at a gate, like a slow Daraja (or a dying worker)."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def b2c_payment(self, **kwargs: Any) -> AsyncAccepted:
        answer = await super().b2c_payment(**kwargs)
        self.entered.set()
        await self.gate.wait()
        return answer


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


@pytest.fixture
async def gated(db, settings) -> B2CWorld:
    world = await b2c_world(settings)
    daraja = GatedDaraja()
    world.daraja = daraja
    for service in (world.payouts, world.payouts.results, world.reversals, world.accounts):
        service._daraja = daraja
    return world


async def alerts() -> list[str]:
    rows = await Notification.filter(recipient=str(ADMIN)).values_list("payload", flat=True)
    return [row["text"] for row in rows if row.get("event") == "alert"]


async def payout(world: B2CWorld, amount: int = 500) -> Payout:
    return await world.payouts.send_money(
        PHONE, amount, initiator_telegram_id=ADMIN, reason="Refund", chat_id=ADMIN
    )


# -- hole 1: a B2C resent while its first POST is still in flight ---------------------------------


async def test_hole_1_reconciler_never_resends_a_payout_whose_post_is_in_flight(gated):
    draft = await payout(gated)
    confirming = asyncio.create_task(gated.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN))
    await gated.daraja.entered.wait()  # the POST is on the wire (slow OAuth, slow Daraja)

    gated.clock.advance(seconds=gated.settings.b2c_query_after_s + 1)
    await gated.payouts.reconcile_pending()
    gated.daraja.gate.set()
    sent = await confirming

    assert len(gated.daraja.called("b2c_payment")) == 1
    assert sent.status is PayoutStatus.SUBMITTED


async def test_hole_1_a_crash_mid_post_is_queried_never_resent(gated):
    draft = await payout(gated)
    confirming = asyncio.create_task(gated.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN))
    await gated.daraja.entered.wait()
    confirming.cancel()  # the worker dies with the request on the wire
    with pytest.raises(asyncio.CancelledError):
        await confirming

    gated.clock.advance(seconds=gated.settings.daraja_call_max_s + 1)  # its lease lapses
    gated.daraja.gate.set()
    await gated.payouts.reconcile_pending()
    await gated.payouts.reconcile_pending()

    stored = await Payout.get(id=draft.id)
    assert len(gated.daraja.called("b2c_payment")) == 1
    assert stored.status is PayoutStatus.UNKNOWN
    assert [c["originator_conversation_id"] for c in gated.daraja.called("transaction_status")] == [
        stored.originator_conversation_id
    ]


async def test_hole_1_only_a_request_that_never_left_is_sent_again(world):
    world.daraja.queue("b2c_payment", DarajaUnreachable("connect failed"))
    draft = await payout(world)
    await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)

    world.clock.advance(seconds=world.settings.reconcile_interval_s)
    await world.payouts.reconcile_pending()

    ids = [c["originator_conversation_id"] for c in world.daraja.called("b2c_payment")]
    assert ids == [draft.originator_conversation_id] * 2
    assert (await Payout.get(id=draft.id)).post_count == 2


# -- hole 2: the daily limit across midnight, and what counts ------------------------------------


async def limited(world: B2CWorld, limit: int = 10_000) -> None:
    await Staff.filter(telegram_id=ADMIN).update(daily_payout_limit=limit)


async def test_hole_2_the_limit_counts_the_nairobi_day_of_confirmation(world):
    await limited(world)
    world.clock.now = datetime(2026, 11, 20, 20, 58, tzinfo=UTC)  # 23:58 in Nairobi
    drafts = [await payout(world, 9_000) for _ in range(5)]
    world.clock.advance(minutes=5)  # 00:03: a new Nairobi day

    outcomes = []
    for draft in drafts:
        try:
            outcomes.append(
                (await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)).status
            )
        except LimitExceeded as exc:
            outcomes.append(str(exc))

    assert outcomes[0] is PayoutStatus.SUBMITTED
    assert all("(KES 1,000 left today)" in refusal for refusal in outcomes[1:])
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_hole_2_unconfirmed_summaries_do_not_count_and_left_today_is_right(world):
    await limited(world)
    first = await payout(world, 6_000)
    await world.payouts.confirm_payout(first.id, by_telegram_id=ADMIN)
    unconfirmed = await payout(world, 5_000)
    third = await payout(world, 4_000)

    with pytest.raises(LimitExceeded, match=r"\(KES 4,000 left today\)"):
        await world.payouts.confirm_payout(unconfirmed.id, by_telegram_id=ADMIN)
    sent = await world.payouts.confirm_payout(third.id, by_telegram_id=ADMIN)

    assert sent.status is PayoutStatus.SUBMITTED
    assert await world.payouts.reserved_today(await Staff.get(telegram_id=ADMIN)) == 10_000


async def test_hole_2_concurrent_confirms_send_exactly_those_that_fit(world):
    await limited(world)
    drafts = [await payout(world, 6_000) for _ in range(2)]

    results = await asyncio.gather(
        *(world.payouts.confirm_payout(d.id, by_telegram_id=ADMIN) for d in drafts),
        return_exceptions=True,
    )

    sent = [r for r in results if isinstance(r, Payout)]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert (len(sent), len(refused)) == (1, 1)
    assert len(world.daraja.called("b2c_payment")) == 1


# -- the STK side: a small world of its own -----------------------------------------------------


@pytest.fixture
async def stk(db, settings):
    from bot.services.container import build_services
    from tests.helpers.clock import Clock

    clock = Clock()
    daraja = FakeDaraja()
    services = build_services(settings, daraja=daraja, channels={}, clock=clock)
    return services, daraja, clock


async def push(services, **kwargs) -> Payment:
    kwargs.setdefault("chat_id", 2002)
    return await services.payments.request_payment(
        kwargs.pop("phone", PHONE), kwargs.pop("amount", 150), initiator=None, actor="tg:2002",
        **kwargs,
    )  # fmt: skip


async def callback(services, body: dict) -> tuple[int, dict]:
    return await services.callbacks.ingest(CallbackKind.STK, json.dumps(body).encode(), "1.2.3.4")


# -- hole 3: a timed-out push became a retryable failure, its late callback orphaned ---------------


async def test_hole_3_a_late_callback_of_an_escalated_push_is_tied_to_it(stk):
    services, daraja, clock = stk
    daraja.queue("stk_push", OutcomeUnknown("read timed out"))
    payment = await push(services)
    for _ in range(8):
        clock.advance(60)
        await services.reconciler.run_once()
    assert (await Payment.get(id=payment.id)).status is PaymentStatus.UNKNOWN

    await callback(services, stk_callback_body("ws_CO_late", phone=254708374149))

    paid = await Payment.get(id=payment.id)
    assert (paid.status, paid.receipt, paid.checkout_request_id) == (
        PaymentStatus.PAID,
        "UKK4Q7M2XB",
        "ws_CO_late",
    )
    assert len(daraja.called("stk_push")) == 1


async def test_hole_3_an_unmatched_success_callback_alerts_the_admins(stk):
    services, _, clock = stk
    await callback(services, stk_callback_body("ws_CO_nobody", phone="254708***149"))
    await services.reconciler.run_once()
    assert await alerts() == []

    clock.advance(services.settings.unmatched_callback_alert_s + 1)
    await services.reconciler.run_once()
    await services.reconciler.run_once()

    [text] = await alerts()
    assert "KES 150 from 254708***149, receipt UKK4Q7M2XB (ws_CO_nobody)" in text


# -- hole 4: a dropped push kept the till waiting for minutes ------------------------------------


async def test_hole_4_a_dropped_push_is_settled_the_moment_its_callback_arrives(stk):
    services, daraja, clock = stk
    daraja.queue("stk_push", OutcomeUnknown("read timed out"))
    payment = await push(services)
    clock.advance(2)

    await callback(services, stk_callback_body("ws_CO_dropped", phone=254708374149))

    settled = await Payment.get(id=payment.id)
    assert settled.status is PaymentStatus.PAID
    assert settled.in_flight_msisdn is None
    chat = await Notification.filter(event_key=f"payment:{payment.id}:paid:chat:2002").exists()
    assert chat  # the till's card is edited by the outbox right away
    again = await push(services, amount=200)  # the phone is free for the next customer
    assert again.status is PaymentStatus.PENDING


async def test_hole_4_a_callback_that_came_first_is_tied_when_the_push_becomes_unknown(stk):
    services, daraja, _ = stk
    await callback(services, stk_callback_body("ws_CO_early", phone=254708374149))
    daraja.queue("stk_push", OutcomeUnknown("read timed out"))

    payment = await push(services)

    assert (await Payment.get(id=payment.id)).status is PaymentStatus.PAID
    assert (await CallbackInbox.get()).status == InboxStatus.PROCESSED


# -- hole 5: a failure callback overwrote a held success ------------------------------------------


async def test_hole_5_a_failure_after_a_held_success_goes_to_review(db, settings):
    from bot.services.container import build_services
    from mpesa.errors import ServerError
    from tests.helpers.clock import Clock

    checked = settings.model_copy(update={"mpesa_confirm_by_query": True})
    daraja = FakeDaraja()
    services = build_services(checked, daraja=daraja, channels={}, clock=Clock())
    payment = await push(services)
    daraja.queue("stk_query", ServerError("query failed"))
    await callback(services, stk_callback_body(payment.checkout_request_id))
    assert (await Payment.get(id=payment.id)).receipt == "UKK4Q7M2XB"  # held for its query

    await callback(services, stk_callback_body(payment.checkout_request_id, result_code=1032))

    flagged = await Payment.get(id=payment.id)
    assert flagged.status is PaymentStatus.REVIEW
    assert "receipt UKK4Q7M2XB" in flagged.review_reason
    assert not PaymentStatus(flagged.status).can_retry


# -- hole 7: [Retry] from an old card --------------------------------------------------------------


async def test_hole_7_only_the_newest_attempt_can_be_retried(stk):
    services, daraja, _ = stk
    first = await push(services)
    await callback(services, stk_callback_body(first.checkout_request_id, result_code=1032))
    second = await services.payments.retry_payment(first.id, initiator=None, actor="tg:2002")
    await callback(services, stk_callback_body(second.checkout_request_id))

    with pytest.raises(Conflict, match=f"already sent again as #{second.id} \\(attempt 2, paid\\)"):
        await services.payments.retry_payment(first.id, initiator=None, actor="tg:2002")

    old = await Payment.get(id=first.id)
    assert len(daraja.called("stk_push")) == 2
    assert old.superseded_by_id == second.id
    assert keyboards.payment_buttons(old) is None
    assert f"Attempt 2 (#{second.id}) replaced this request" in texts.payment_card(old)


async def test_hole_7_two_presses_of_retry_make_one_new_attempt(stk):
    services, daraja, _ = stk
    first = await push(services)
    await callback(services, stk_callback_body(first.checkout_request_id, result_code=1032))

    results = await asyncio.gather(
        *(
            services.payments.retry_payment(first.id, initiator=None, actor="tg:2002")
            for _ in range(2)
        ),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Payment"]
    assert len(daraja.called("stk_push")) == 2


# -- hole 8: reversals and "not found" payouts stuck forever -------------------------------------


async def received(receipt: str = "UKK2M8P4RS", amount: int = 150) -> Payment:
    order = await Order.create(code="HP22222222", amount=amount, status=OrderStatus.PAID)
    return await Payment.create(
        msisdn=MSISDN,
        amount=amount,
        paid_amount=amount,
        account_reference=order.code,
        order=order,
        status=PaymentStatus.PAID,
        receipt=receipt,
    )


async def test_hole_8_an_unknown_reversal_is_asked_about_then_handed_to_the_admins(world):
    await received()
    world.daraja.queue("reversal", OutcomeUnknown("read timed out"))
    reversal = await world.reversals.reverse("UKK2M8P4RS", by_telegram_id=ADMIN)
    assert reversal.status is ReversalStatus.UNKNOWN

    for _ in range(world.settings.b2c_query_max_attempts):
        await world.services.reconciler.run_once()
        world.clock.advance(hours=1)

    asked = world.daraja.called("transaction_status")
    assert len(asked) == world.settings.b2c_query_max_attempts
    assert {call["transaction_id"] for call in asked} == {"UKK2M8P4RS"}
    assert any(f"/resolve R{reversal.id} reversed or failed" in text for text in await alerts())
    assert len(world.daraja.called("reversal")) == 1


async def test_hole_8_a_reversal_result_for_a_lost_answer_is_matched_by_its_receipt(world):
    payment = await received()
    world.daraja.queue("reversal", OutcomeUnknown("read timed out"))
    reversal = await world.reversals.reverse("UKK2M8P4RS", by_telegram_id=ADMIN)

    outcome = await world.reversals.apply_reversal_result(
        reversal_result(originator="theirs", conversation="AG_theirs", original="UKK2M8P4RS")
    )

    assert outcome is ApplyOutcome.APPLIED
    assert (await Reversal.get(id=reversal.id)).status is ReversalStatus.COMPLETED
    assert (await Payment.get(id=payment.id)).status is PaymentStatus.REVERSED


async def test_hole_8_a_payout_not_found_alerts_on_its_own_threshold_and_backs_off(db, settings):
    patient = settings.model_copy(
        update={"b2c_query_max_attempts": 3, "stk_query_max_attempts": 50}
    )
    world = await b2c_world(patient)
    world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    draft = await payout(world)
    await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)

    gaps = []
    for _ in range(5):
        world.clock.advance(hours=2)
        await world.payouts.reconcile_pending()
        query = await DarajaQuery.filter(payout_id=draft.id).order_by("-id").first()
        await world.accounts.apply_status_result(status_answer(query, draft, code=2032))
        stored = await Payout.get(id=draft.id)
        gaps.append((stored.next_query_at - world.clock.now).total_seconds())

    assert [t for t in await alerts() if "still not settled after 3 status queries" in t]
    assert gaps[:3] == [patient.b2c_query_after_s] * 3
    assert gaps[3:] == [patient.b2c_query_after_s * 2, patient.b2c_query_after_s * 4]
    assert (await Payout.get(id=draft.id)).status is PayoutStatus.UNKNOWN


# -- hole 9: Transaction Status results misread --------------------------------------------------


async def asked_payout(world: B2CWorld) -> tuple[Payout, DarajaQuery]:
    world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    draft = await payout(world, 1_950)
    await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)
    await world.payouts.reconcile_pending()
    return await Payout.get(id=draft.id), await DarajaQuery.get(payout_id=draft.id)


async def test_hole_9_status_failed_with_result_code_0_fails_and_says_so(world):
    stored, query = await asked_payout(world)

    answer = status_answer(query, stored, status="Failed", amount=1_950)
    await world.accounts.apply_status_result(answer)

    failed = await Payout.get(id=stored.id)
    card = texts.payout_card(failed)
    assert failed.status is PayoutStatus.FAILED
    assert "reached the recipient" not in card and "did not reach the recipient" in card
    assert any(f"Payout #{failed.id} (KES 1,950) failed according to" in t for t in await alerts())


async def test_hole_9_a_status_amount_that_differs_completes_with_an_alert(world):
    stored, query = await asked_payout(world)

    await world.accounts.apply_status_result(status_answer(query, stored, amount=19_500))

    assert (await Payout.get(id=stored.id)).status is PayoutStatus.COMPLETED
    assert any(
        "KES 1,950 but the transaction status reports KES 19,500" in t for t in await alerts()
    )


# -- hole 12: two `mpesa-bot reconcile` at once stopped early ------------------------------------


async def test_hole_12_two_reconcilers_at_once_run_until_nothing_is_due(db, settings):
    from bot.services.container import build_services
    from tests.helpers.clock import Clock

    fast = settings.model_copy(update={"stk_query_rate_per_s": 10_000.0})
    clock = Clock()
    daraja = FakeDaraja()
    for n in range(100):
        await Payment.create(
            msisdn=f"2547083{n:05d}",
            amount=150,
            account_reference="HP",
            status=PaymentStatus.PENDING,
            checkout_request_id=f"ws_CO_{n}",
            next_query_at=clock.now - timedelta(seconds=1),
        )
    # the fake answers in call order; each payment is queried once, so every answer says paid
    daraja.results["stk_query"] = [stk_query_answer("any", "0")] * 100
    first, second = (
        build_services(fast, daraja=daraja, channels={}, clock=clock) for _ in range(2)
    )
    for services in (first, second):
        services.reconciler.limit = 10  # a page of ten: the other process takes rows too

    async def idle(_: float) -> None:
        await asyncio.sleep(0)

    runs = await asyncio.gather(
        first.reconciler.run_until_done(patience_s=5, sleep=idle),
        second.reconciler.run_until_done(patience_s=5, sleep=idle),
    )

    assert [run.errors for run in runs] == [[], []]
    assert await Payment.filter(status=PaymentStatus.PAID).count() == 100
    assert await first.reconciler.due() == 0
    assert len(daraja.called("stk_query")) == 100


# -- hole 13: reversed payments counted as received -----------------------------------------------


async def test_hole_13_a_completed_reversal_is_recorded_on_the_payment_and_its_order(world):
    payment = await received()
    await Payment.filter(id=payment.id).update(created_at=world.clock.now - timedelta(minutes=1))
    reversal = await world.reversals.reverse("UKK2M8P4RS", by_telegram_id=ADMIN)

    await world.reversals.apply_reversal_result(
        reversal_result(
            originator=reversal.originator_conversation_id,
            conversation=reversal.conversation_id,
            original="UKK2M8P4RS",
        )
    )

    stored = await Payment.get(id=payment.id)
    assert (stored.status, stored.reversed_at) == (PaymentStatus.REVERSED, world.clock.now)
    assert (await Order.get(id=payment.order_id)).status is OrderStatus.REVERSED
    stats = await world.services.reports.stats("today", now=world.clock.now)
    assert (stats.stk_received_total, stats.reversed_total) == (0, 150)
