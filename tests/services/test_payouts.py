"""PayoutService: B2C payouts confirmed once, approved above a threshold, settled exactly once."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from bot.services.outcome import ApplyOutcome
from models import AuditEvent
from models import CallbackKind
from models import DarajaQuery
from models import Notification
from models import NotificationChannel
from models import Payout
from models import PayoutStatus
from models import Staff
from mpesa.errors import DarajaUnreachable
from mpesa.errors import DuplicateRequest
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import CASHIER
from tests.helpers.b2c import SECOND_ADMIN
from tests.helpers.b2c import THIRD_ADMIN
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_failure
from tests.helpers.b2c import b2c_success
from tests.helpers.b2c import b2c_timeout
from tests.helpers.b2c import b2c_world

PHONE = "0708374149"
MSISDN = "254708374149"


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


async def new_payout(world: B2CWorld, amount: int | str = 500, *, by: int = ADMIN) -> Payout:
    return await world.payouts.send_money(
        PHONE, amount, initiator_telegram_id=by, reason="Refund for order 12", chat_id=by
    )


async def sent_payout(world: B2CWorld, amount: int = 500) -> Payout:
    payout = await new_payout(world, amount)
    return await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)


async def outbox_keys() -> list[str]:
    return sorted(await Notification.all().values_list("event_key", flat=True))


async def actions(subject: str) -> list[str]:
    return list(
        await AuditEvent.filter(subject=subject).order_by("id").values_list("action", flat=True)
    )


# -- creating ----------------------------------------------------------------------------------


async def test_send_money_records_a_payout_awaiting_confirmation(world):
    payout = await new_payout(world, "1,500")

    stored = await Payout.get(id=payout.id)
    assert (stored.status, stored.msisdn, stored.amount, stored.remarks) == (
        PayoutStatus.AWAITING_CONFIRMATION,
        MSISDN,
        1500,
        "Refund for order 12",
    )
    assert str(uuid.UUID(stored.originator_conversation_id)) == stored.originator_conversation_id
    assert stored.needs_approval is False
    assert world.daraja.calls == []
    assert await actions(f"payout:{payout.id}") == ["payout.create"]


async def test_send_money_without_reason_says_payout(world):
    payout = await world.payouts.send_money(PHONE, 100, initiator_telegram_id=ADMIN, reason="  ")

    assert payout.remarks == "Payout"


async def test_cashier_cannot_send_money(world):
    with pytest.raises(NotAllowed):
        await new_payout(world, by=CASHIER)

    assert await Payout.all().count() == 0
    assert await AuditEvent.filter(action="access.refused").count() == 1


@pytest.mark.parametrize(
    ("raw_phone", "raw_amount", "reason", "field"),
    [
        ("0733123456", "500", "Refund", "phone"),  # Airtel
        ("12345", "500", "Refund", "phone"),
        (PHONE, "9", "Refund", "amount"),  # below the B2C minimum of 10
        (PHONE, "250001", "Refund", "amount"),  # over the per-transaction maximum
        (PHONE, "1.5", "Refund", "amount"),
        (PHONE, "500", "x", "reason"),
        (PHONE, "500", "y" * 101, "reason"),
    ],
)
async def test_send_money_refuses_bad_input(world, raw_phone, raw_amount, reason, field):
    with pytest.raises(InvalidInput) as caught:
        await world.payouts.send_money(
            raw_phone, raw_amount, initiator_telegram_id=ADMIN, reason=reason
        )

    assert caught.value.field == field
    assert await Payout.all().count() == 0
    assert await AuditEvent.filter(action="payout.send", outcome="refused").count() == 1


async def test_below_minimum_message_names_the_minimum(world):
    with pytest.raises(InvalidInput) as caught:
        await new_payout(world, "9")

    assert str(caught.value) == "KES 9 is below the KES 10 minimum"


# -- confirming ----------------------------------------------------------------------------------


async def test_confirm_sends_b2c_once_with_the_stored_originator_id(world):
    payout = await new_payout(world)

    confirmed = await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    assert world.daraja.called("b2c_payment") == [
        {
            "originator_conversation_id": payout.originator_conversation_id,
            "msisdn": MSISDN,
            "amount": 500,
            "remarks": "Refund for order 12",
            "occasion": "",
            "command_id": "BusinessPayment",
        }
    ]
    assert confirmed.status is PayoutStatus.SUBMITTED
    assert confirmed.conversation_id.startswith("AG_")
    assert await actions(f"payout:{payout.id}") == [
        "payout.create",
        "payout.confirm",
        "payout.submit",
    ]


async def test_only_the_initiator_can_confirm(world):
    payout = await new_payout(world)

    with pytest.raises(NotAllowed):
        await world.payouts.confirm_payout(payout.id, by_telegram_id=SECOND_ADMIN)

    assert (await Payout.get(id=payout.id)).status is PayoutStatus.AWAITING_CONFIRMATION
    assert world.daraja.called("b2c_payment") == []


async def test_concurrent_double_confirm_sends_exactly_once(world):
    payout = await new_payout(world)

    results = await asyncio.gather(
        world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN),
        world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN),
        return_exceptions=True,
    )

    conflicts = [r for r in results if isinstance(r, Conflict)]
    done = [r for r in results if isinstance(r, Payout)]
    assert (len(conflicts), len(done)) == (1, 1)
    assert len(world.daraja.called("b2c_payment")) == 1
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.SUBMITTED


async def test_replayed_confirm_after_submission_is_a_conflict(world):
    payout = await sent_payout(world)

    with pytest.raises(Conflict) as caught:
        await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    assert str(caught.value) == f"Payout #{payout.id} was already sent to M-Pesa."
    assert len(world.daraja.called("b2c_payment")) == 1


# -- approval ------------------------------------------------------------------------------------


async def test_above_threshold_waits_for_another_admins_approval(world):
    payout = await new_payout(world, 20_000)

    waiting = await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    assert waiting.status is PayoutStatus.AWAITING_APPROVAL
    assert world.daraja.called("b2c_payment") == []
    approvals = await Notification.filter(event_key__contains=":approval:")
    assert sorted(int(n.recipient) for n in approvals) == [SECOND_ADMIN, THIRD_ADMIN]
    assert {n.payload["event"] for n in approvals} == {"payout_approval"}


async def test_initiator_cannot_approve_their_own_payout(world):
    payout = await new_payout(world, 20_000)
    await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    with pytest.raises(NotAllowed):
        await world.payouts.approve_payout(payout.id, by_telegram_id=ADMIN)

    assert world.daraja.called("b2c_payment") == []


async def test_second_admin_approval_sends_once(world):
    payout = await new_payout(world, 20_000)
    await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    approved = await world.payouts.approve_payout(payout.id, by_telegram_id=SECOND_ADMIN)

    assert approved.status is PayoutStatus.SUBMITTED
    assert approved.approved_by_id == (await Staff.get(telegram_id=SECOND_ADMIN)).id
    calls = world.daraja.called("b2c_payment")
    assert [(c["originator_conversation_id"], c["amount"]) for c in calls] == [
        (payout.originator_conversation_id, 20_000)
    ]


async def test_concurrent_double_approve_sends_once(world):
    payout = await new_payout(world, 20_000)
    await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    results = await asyncio.gather(
        world.payouts.approve_payout(payout.id, by_telegram_id=SECOND_ADMIN),
        world.payouts.approve_payout(payout.id, by_telegram_id=THIRD_ADMIN),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Payout"]
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_reject_stops_a_payout_waiting_for_approval(world):
    payout = await new_payout(world, 20_000)
    await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    rejected = await world.payouts.reject_payout(payout.id, by_telegram_id=SECOND_ADMIN)

    assert rejected.status is PayoutStatus.REJECTED
    with pytest.raises(Conflict):
        await world.payouts.approve_payout(payout.id, by_telegram_id=THIRD_ADMIN)
    assert world.daraja.called("b2c_payment") == []
    assert "payout.reject" in await actions(f"payout:{payout.id}")


async def test_cancel_before_confirming(world):
    payout = await new_payout(world)

    with pytest.raises(NotAllowed):
        await world.payouts.cancel_payout(payout.id, by_telegram_id=SECOND_ADMIN)
    cancelled = await world.payouts.cancel_payout(payout.id, by_telegram_id=ADMIN)

    assert cancelled.status is PayoutStatus.CANCELLED
    with pytest.raises(Conflict):
        await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)
    assert world.daraja.called("b2c_payment") == []


# -- daily limit -----------------------------------------------------------------------------------


async def test_daily_limit_refuses_then_resets_the_next_nairobi_day(world):
    await Staff.filter(telegram_id=ADMIN).update(daily_payout_limit=1_000)
    await sent_payout(world, 600)
    second = await new_payout(world, 500)

    with pytest.raises(LimitExceeded) as caught:
        await world.payouts.confirm_payout(second.id, by_telegram_id=ADMIN)

    assert str(caught.value) == (
        "This payout would bring your payouts today to KES 1,100, over your daily limit of "
        "KES 1,000 (KES 400 left today)."
    )
    assert (await Payout.get(id=second.id)).status is PayoutStatus.AWAITING_CONFIRMATION
    # 20:59 UTC is still 23:59 in Nairobi: the same day
    world.clock.advance(hours=11, minutes=59)
    with pytest.raises(LimitExceeded):
        await world.payouts.confirm_payout((await new_payout(world, 500)).id, by_telegram_id=ADMIN)
    world.clock.advance(minutes=1)  # midnight in Nairobi
    fresh = await new_payout(world, 500)
    assert (
        await world.payouts.confirm_payout(fresh.id, by_telegram_id=ADMIN)
    ).status is PayoutStatus.SUBMITTED


async def test_failed_payouts_do_not_count_towards_the_limit(world):
    await Staff.filter(telegram_id=ADMIN).update(daily_payout_limit=1_000)
    world.daraja.queue("b2c_payment", InvalidRequest("Bad request", code="400.002.02"))
    assert (await sent_payout(world, 900)).status is PayoutStatus.FAILED

    assert (await sent_payout(world, 900)).status is PayoutStatus.SUBMITTED


# -- submission answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("Invalid Access Token", code="400.002.02"), PayoutStatus.FAILED),
        (OutcomeUnknown("read timed out"), PayoutStatus.UNKNOWN),
        (
            DuplicateRequest("Duplicate OriginatorConversationID.", code="500.002.1001"),
            PayoutStatus.UNKNOWN,
        ),
        (DarajaUnreachable("connect failed"), PayoutStatus.SUBMITTING),
    ],
)
async def test_b2c_errors(world, error, status):
    world.daraja.queue("b2c_payment", error)

    payout = await sent_payout(world)

    assert payout.status is status
    assert payout.receipt is None
    assert len(world.daraja.called("b2c_payment")) == 1


async def test_unreachable_is_resent_by_the_reconciler_with_the_same_id(world):
    world.daraja.queue("b2c_payment", DarajaUnreachable("connect failed"))
    payout = await sent_payout(world)
    assert await world.payouts.reconcile_pending() == []  # not due yet

    world.clock.advance(seconds=world.settings.reconcile_interval_s)
    handled = await world.payouts.reconcile_pending()

    ids = [c["originator_conversation_id"] for c in world.daraja.called("b2c_payment")]
    assert ids == [payout.originator_conversation_id] * 2
    assert [p.status for p in handled] == [PayoutStatus.SUBMITTED]
    assert world.daraja.called("transaction_status") == []


# -- results ------------------------------------------------------------------------------------


async def test_success_result_completes_once(world):
    payout = await sent_payout(world)
    result = b2c_success(
        originator=payout.originator_conversation_id, conversation=payout.conversation_id
    )

    assert await world.payouts.results.apply_b2c_result(result) is ApplyOutcome.APPLIED
    keys = await outbox_keys()
    assert await world.payouts.results.apply_b2c_result(result) is ApplyOutcome.DUPLICATE

    stored = await Payout.get(id=payout.id)
    assert (stored.status, stored.receipt, stored.receiver_name) == (
        PayoutStatus.COMPLETED,
        "UKK7R3N9TD",
        "John Doe",
    )
    assert await outbox_keys() == keys
    assert f"payout:{payout.id}:completed:sms" in keys
    assert f"payout:{payout.id}:completed:chat:{ADMIN}" in keys
    sms = await Notification.get(event_key=f"payout:{payout.id}:completed:sms")
    assert (sms.channel, sms.recipient) == (NotificationChannel.SMS, MSISDN)


async def test_result_matched_by_conversation_id_only(world):
    payout = await sent_payout(world)

    outcome = await world.payouts.results.apply_b2c_result(
        b2c_success(originator="someone-elses-id", conversation=payout.conversation_id)
    )

    assert outcome is ApplyOutcome.APPLIED
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.COMPLETED


async def test_failure_result_fails_and_alerts_admins(world):
    payout = await sent_payout(world)

    outcome = await world.payouts.results.apply_b2c_result(
        b2c_failure(originator=payout.originator_conversation_id, conversation=None)
    )

    stored = await Payout.get(id=payout.id)
    assert outcome is ApplyOutcome.APPLIED
    # the placeholder TransactionID UKK0000000 is never a receipt
    assert (stored.status, stored.result_code, stored.receipt) == (
        PayoutStatus.FAILED,
        "2001",
        None,
    )
    alerts = await Notification.filter(event_key__startswith=f"payout:{payout.id}:failed:admin")
    assert sorted(int(a.recipient) for a in alerts) == [ADMIN, SECOND_ADMIN, THIRD_ADMIN]
    assert "initiator credentials" in alerts[0].payload["text"]


async def test_success_after_failure_is_drift_and_keeps_the_record(world):
    payout = await sent_payout(world)
    await world.payouts.results.apply_b2c_result(
        b2c_failure(originator=payout.originator_conversation_id, code=1, desc="Insufficient")
    )

    outcome = await world.payouts.results.apply_b2c_result(
        b2c_success(originator=payout.originator_conversation_id)
    )

    assert outcome is ApplyOutcome.DUPLICATE
    stored = await Payout.get(id=payout.id)
    assert (stored.status, stored.receipt) == (PayoutStatus.FAILED, None)
    assert await AuditEvent.filter(action="payout.drift").count() == 1
    assert await Notification.filter(event_key__contains=":drift:").count() == 3


async def test_result_before_the_sync_answer_is_unmatched_then_replayed(world):
    payout = await new_payout(world)
    result = b2c_success(originator="AG-side-id", conversation="AG_20261120_early")
    early: list[ApplyOutcome] = []
    replays: list[tuple[CallbackKind, str]] = []
    original = world.daraja.b2c_payment

    async def racing_b2c(**kwargs):
        early.append(await world.payouts.results.apply_b2c_result(result))  # beats the sync answer
        answer = await original(**kwargs)
        return answer.model_copy(update={"conversation_id": "AG_20261120_early"})

    async def replay(kind: CallbackKind, key: str) -> None:
        replays.append((kind, key))
        if key == "AG_20261120_early":
            assert await world.payouts.results.apply_b2c_result(result) is ApplyOutcome.APPLIED

    world.daraja.b2c_payment = racing_b2c
    world.payouts.replay_unmatched = replay

    await world.payouts.confirm_payout(payout.id, by_telegram_id=ADMIN)

    assert early == [ApplyOutcome.UNMATCHED]
    assert replays == [
        (CallbackKind.B2C_RESULT, "AG_20261120_early"),
        (CallbackKind.B2C_RESULT, payout.originator_conversation_id),
    ]
    stored = await Payout.get(id=payout.id)
    assert (stored.status, stored.conversation_id, stored.receipt) == (
        PayoutStatus.COMPLETED,
        "AG_20261120_early",
        "UKK7R3N9TD",
    )


async def test_result_for_unknown_ids_is_unmatched(world):
    outcome = await world.payouts.results.apply_b2c_result(b2c_success(originator="nobody"))

    assert outcome is ApplyOutcome.UNMATCHED


async def test_queue_timeout_means_unknown_never_failed(world):
    payout = await sent_payout(world)
    notice = b2c_timeout(originator=payout.originator_conversation_id)

    assert await world.payouts.results.apply_b2c_timeout(notice) is ApplyOutcome.APPLIED
    assert await world.payouts.results.apply_b2c_timeout(notice) is ApplyOutcome.DUPLICATE

    assert (await Payout.get(id=payout.id)).status is PayoutStatus.UNKNOWN
    assert len(world.daraja.called("b2c_payment")) == 1  # never resent on the notice alone


async def test_queue_timeout_after_completion_changes_nothing(world):
    payout = await sent_payout(world)
    await world.payouts.results.apply_b2c_result(
        b2c_success(originator=payout.originator_conversation_id)
    )

    outcome = await world.payouts.results.apply_b2c_timeout(
        b2c_timeout(originator=payout.originator_conversation_id)
    )

    assert outcome is ApplyOutcome.DUPLICATE
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.COMPLETED


# -- reconciliation ------------------------------------------------------------------------------


async def test_reconcile_queries_due_payouts_once_across_concurrent_passes(world):
    submitted = await sent_payout(world)
    world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    unknown = await sent_payout(world)
    world.clock.advance(seconds=world.settings.b2c_query_after_s)

    first, second = await asyncio.gather(
        world.payouts.reconcile_pending(), world.payouts.reconcile_pending()
    )

    assert sorted(p.id for p in first + second) == [submitted.id, unknown.id]
    queried = [c["originator_conversation_id"] for c in world.daraja.called("transaction_status")]
    assert sorted(queried) == sorted(
        [submitted.originator_conversation_id, unknown.originator_conversation_id]
    )
    assert await DarajaQuery.filter(payout_id=submitted.id).count() == 1
    # asked again only once the next query is due
    assert await world.payouts.reconcile_pending() == []


async def test_reconcile_leaves_recent_submissions_alone(world):
    await sent_payout(world)

    assert await world.payouts.reconcile_pending() == []
    assert world.daraja.called("transaction_status") == []


async def test_find_by_id_and_ids(world):
    payout = await sent_payout(world)

    for ref in (
        str(payout.id),
        f"#{payout.id}",
        payout.originator_conversation_id,
        payout.conversation_id,
    ):
        assert (await world.payouts.find(ref)).id == payout.id


async def test_success_with_another_amount_completes_and_alerts(world):
    payout = await sent_payout(world, 500)

    await world.payouts.results.apply_b2c_result(
        b2c_success(originator=payout.originator_conversation_id, amount=5000)
    )

    assert (await Payout.get(id=payout.id)).status is PayoutStatus.COMPLETED
    alerts = await Notification.filter(event_key__startswith=f"payout:{payout.id}:amount:")
    assert len(alerts) == 3
    assert "KES 5,000" in alerts[0].payload["text"]
