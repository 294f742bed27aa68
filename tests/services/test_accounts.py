"""AccountService: balance, transaction status answers about payouts, and reversals."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.errors import Conflict
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.errors import UpstreamError
from bot.services.outcome import ApplyOutcome
from models import AuditEvent
from models import C2BTransaction
from models import CallbackKind
from models import DarajaQuery
from models import Notification
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import QueryKind
from models import QueryStatus
from models import Reversal
from models import ReversalStatus
from mpesa.callbacks import parse_b2c_timeout
from mpesa.errors import DarajaUnreachable
from mpesa.errors import OutcomeUnknown
from tests.helpers.b2c import ADMIN
from tests.helpers.b2c import CASHIER
from tests.helpers.b2c import SECOND_ADMIN
from tests.helpers.b2c import B2CWorld
from tests.helpers.b2c import b2c_success
from tests.helpers.b2c import b2c_timeout
from tests.helpers.b2c import b2c_world
from tests.helpers.b2c import balance_result
from tests.helpers.b2c import reversal_result
from tests.helpers.b2c import status_answer
from tests.helpers.b2c import status_result

RECEIPT = "UKK2M8P4RS"


@pytest.fixture
async def world(db, settings) -> B2CWorld:
    return await b2c_world(settings)


async def queried_payout(world: B2CWorld, *, unknown: bool = False) -> tuple[Payout, DarajaQuery]:
    """A sent payout whose status the reconciler asked about."""
    if unknown:
        world.daraja.queue("b2c_payment", OutcomeUnknown("read timed out"))
    draft = await world.payouts.send_money(
        "0708374149", 500, initiator_telegram_id=ADMIN, reason="Refund"
    )
    payout = await world.payouts.confirm_payout(draft.id, by_telegram_id=ADMIN)
    world.clock.advance(seconds=world.settings.b2c_query_after_s)
    await world.payouts.reconcile_pending()
    query = await DarajaQuery.get(payout_id=payout.id)
    return await Payout.get(id=payout.id), query


async def paid_payment(receipt: str = RECEIPT, amount: int = 150) -> Payment:
    return await Payment.create(
        msisdn="254708374149",
        amount=amount,
        paid_amount=amount,
        account_reference="HouseholdPlanet",
        status=PaymentStatus.PAID,
        receipt=receipt,
    )


# -- transaction status ------------------------------------------------------------------------


async def test_status_query_uses_the_payouts_originator_id(world):
    payout, query = await queried_payout(world)

    assert world.daraja.called("transaction_status") == [
        {
            "originator_conversation_id": payout.originator_conversation_id,
            "transaction_id": None,
            "remarks": "Payout status",
        }
    ]
    assert (query.kind, query.status) == (QueryKind.TRANSACTION_STATUS, QueryStatus.SENT)
    assert query.conversation_id is not None


@pytest.mark.parametrize("unknown", [False, True], ids=["submitted", "unknown"])
async def test_status_completed_completes_the_payout(world, unknown):
    payout, query = await queried_payout(world, unknown=unknown)

    outcome = await world.accounts.apply_status_result(status_answer(query, payout))

    stored = await Payout.get(id=payout.id)
    assert outcome is ApplyOutcome.APPLIED
    assert (stored.status, stored.receipt, stored.receiver_name) == (
        PayoutStatus.COMPLETED,
        "UKK7R3N9TD",
        "John Doe",
    )
    answered = await DarajaQuery.get(id=query.id)
    assert (answered.status, answered.result["transaction_status"]) == (
        QueryStatus.ANSWERED,
        "Completed",
    )
    assert await Notification.filter(event_key=f"payout:{payout.id}:completed:sms").count() == 1


async def test_status_failed_fails_the_payout(world):
    payout, query = await queried_payout(world)

    await world.accounts.apply_status_result(status_answer(query, payout, status="Failed"))

    assert (await Payout.get(id=payout.id)).status is PayoutStatus.FAILED


async def test_duplicate_status_result_changes_nothing(world):
    payout, query = await queried_payout(world)
    answer = status_answer(query, payout)
    await world.accounts.apply_status_result(answer)
    keys = sorted(await Notification.all().values_list("event_key", flat=True))

    assert await world.accounts.apply_status_result(answer) is ApplyOutcome.DUPLICATE
    assert sorted(await Notification.all().values_list("event_key", flat=True)) == keys


async def test_status_contradicting_a_completed_payout_is_drift(world):
    payout, query = await queried_payout(world)
    await world.payouts.results.apply_b2c_result(
        b2c_success(originator=payout.originator_conversation_id)
    )

    outcome = await world.accounts.apply_status_result(
        status_answer(query, payout, status="Failed", receipt="UKK0000000")
    )

    stored = await Payout.get(id=payout.id)
    assert outcome is ApplyOutcome.DUPLICATE
    assert (stored.status, stored.receipt) == (PayoutStatus.COMPLETED, "UKK7R3N9TD")
    assert await AuditEvent.filter(action="payout.drift", subject=f"payout:{payout.id}").count()
    alerts = await Notification.filter(event_key__contains=":drift:")
    assert len(alerts) == 3  # one per active admin
    assert alerts[0].payload["text"].startswith(f"Payout #{payout.id} is completed here, but")


async def test_status_result_before_its_ids_are_stored_is_unmatched(world):
    payout, _ = await queried_payout(world)

    outcome = await world.accounts.apply_status_result(
        status_result(
            originator="not-yet",
            conversation="AG_not_yet",
            queried_originator=payout.originator_conversation_id,
        )
    )

    assert outcome is ApplyOutcome.UNMATCHED
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.SUBMITTED


async def test_status_query_timeout_fails_the_query_not_the_payout(world):
    payout, query = await queried_payout(world)

    outcome = await world.accounts.apply_query_timeout(
        CallbackKind.STATUS_TIMEOUT,
        b2c_timeout(originator=query.originator_conversation_id),
    )

    assert outcome is ApplyOutcome.APPLIED
    assert (await DarajaQuery.get(id=query.id)).status is QueryStatus.FAILED
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.SUBMITTED


# -- balance -----------------------------------------------------------------------------------


async def test_balance_request_and_result(world):
    query = await world.accounts.request_balance(by_telegram_id=ADMIN, chat_id=ADMIN)
    assert len(world.daraja.called("account_balance")) == 1
    result = balance_result(
        originator=query.originator_conversation_id, conversation=query.conversation_id
    )

    assert await world.accounts.apply_balance_result(result) is ApplyOutcome.APPLIED
    assert await world.accounts.apply_balance_result(result) is ApplyOutcome.DUPLICATE

    stored = await DarajaQuery.get(id=query.id)
    assert stored.status is QueryStatus.ANSWERED
    utility = next(a for a in stored.result["accounts"] if a["name"] == "Utility Account")
    assert (utility["available_cents"], utility["currency"]) == (9_452_000, "KES")
    rows = await Notification.filter(event_key__startswith=f"query:{query.id}:")
    assert [(r.recipient, r.payload) for r in rows] == [
        (str(ADMIN), {"event": "query", "query_id": query.id})
    ]


async def test_balance_is_for_admins_only(world):
    with pytest.raises(NotAllowed):
        await world.accounts.request_balance(by_telegram_id=CASHIER, chat_id=CASHIER)

    assert world.daraja.called("account_balance") == []


async def test_balance_when_daraja_is_unreachable(world):
    world.daraja.queue("account_balance", DarajaUnreachable("connect failed"))

    with pytest.raises(UpstreamError):
        await world.accounts.request_balance(by_telegram_id=ADMIN, chat_id=ADMIN)

    assert (await DarajaQuery.get(kind=QueryKind.BALANCE)).status is QueryStatus.FAILED


async def test_balance_result_before_ids_stored_is_replayed(world):
    replays: list[tuple[CallbackKind, str]] = []

    async def replay(kind: CallbackKind, key: str) -> None:
        replays.append((kind, key))

    world.accounts.replay_unmatched = replay
    query = await world.accounts.request_balance(by_telegram_id=ADMIN, chat_id=None)

    assert replays == [(CallbackKind.BALANCE_RESULT, query.conversation_id)]


# -- reversal ----------------------------------------------------------------------------------


async def test_reverse_a_paid_payment_once_with_its_amount(world):
    await paid_payment(amount=150)

    reversal = await world.reversals.reverse(RECEIPT.lower(), by_telegram_id=ADMIN, chat_id=ADMIN)

    assert world.daraja.called("reversal") == [
        {"transaction_id": RECEIPT, "amount": 150, "remarks": "Reversal"}
    ]
    assert (reversal.status, reversal.amount, reversal.receipt) == (
        ReversalStatus.SUBMITTED,
        150,
        RECEIPT,
    )
    assert await AuditEvent.filter(action="reversal.request", outcome="ok").count() == 1


async def test_reverse_a_c2b_payment(world):
    await C2BTransaction.create(trans_id="UKK5C2B9XY", amount=320, shortcode="600984")

    await world.reversals.reverse("UKK5C2B9XY", by_telegram_id=ADMIN)

    assert [c["amount"] for c in world.daraja.called("reversal")] == [320]


async def test_reverse_unknown_receipt_is_not_found(world):
    with pytest.raises(NotFound):
        await world.reversals.reverse("UKK9NOPE99", by_telegram_id=ADMIN)

    assert world.daraja.called("reversal") == []


async def test_reverse_a_payment_under_review_asks_to_resolve_it_first(world):
    payment = await paid_payment()
    await Payment.filter(id=payment.id).update(status=PaymentStatus.REVIEW)

    with pytest.raises(Conflict, match=f"resolve it first \\(/resolve #{payment.id}\\)"):
        await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)
    assert world.daraja.called("reversal") == []


async def test_reverse_twice_is_a_conflict(world):
    await paid_payment()
    await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)

    with pytest.raises(Conflict):
        await world.reversals.reverse(RECEIPT, by_telegram_id=SECOND_ADMIN)

    assert len(world.daraja.called("reversal")) == 1


async def test_concurrent_reversals_send_once(world):
    await paid_payment()

    results = await asyncio.gather(
        world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN),
        world.reversals.reverse(RECEIPT, by_telegram_id=SECOND_ADMIN),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Reversal"]
    assert len(world.daraja.called("reversal")) == 1


async def test_cashier_cannot_reverse(world):
    await paid_payment()

    with pytest.raises(NotAllowed):
        await world.reversals.reverse(RECEIPT, by_telegram_id=CASHIER)

    assert await Reversal.all().count() == 0


async def test_reversal_outcome_unknown(world):
    await paid_payment()
    world.daraja.queue("reversal", OutcomeUnknown("read timed out"))

    reversal = await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)

    assert reversal.status is ReversalStatus.UNKNOWN


@pytest.mark.parametrize(
    ("code", "desc", "status", "reversal_receipt"),
    [
        (
            0,
            "The service request is processed successfully.",
            ReversalStatus.COMPLETED,
            "UKK8T1V5WC",
        ),
        ("R000001", "The transaction has already been reversed", ReversalStatus.FAILED, None),
    ],
)
async def test_reversal_result(world, code, desc, status, reversal_receipt):
    await paid_payment()
    reversal = await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN, chat_id=ADMIN)
    result = reversal_result(
        originator=reversal.originator_conversation_id,
        conversation=reversal.conversation_id,
        code=code,
        desc=desc,
    )

    assert await world.reversals.apply_reversal_result(result) is ApplyOutcome.APPLIED
    assert await world.reversals.apply_reversal_result(result) is ApplyOutcome.DUPLICATE

    stored = await Reversal.get(id=reversal.id)
    assert (stored.status, stored.result_code, stored.reversal_receipt) == (
        status,
        str(code),
        reversal_receipt,
    )
    notes = await Notification.filter(event_key__startswith=f"reversal:{reversal.id}:")
    assert [n.event_key for n in notes] == [
        f"reversal:{reversal.id}:submitted:chat:{ADMIN}",
        f"reversal:{reversal.id}:{status.value}:chat:{ADMIN}",
    ]


async def test_reversal_queue_timeout_is_unknown(world):
    await paid_payment()
    reversal = await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)

    outcome = await world.accounts.apply_query_timeout(
        CallbackKind.REVERSAL_TIMEOUT,
        parse_b2c_timeout({"Result": {"ConversationID": reversal.conversation_id}}),
    )

    assert outcome is ApplyOutcome.APPLIED
    assert (await Reversal.get(id=reversal.id)).status is ReversalStatus.UNKNOWN


async def test_a_reversal_that_never_left_can_be_tried_again(world):
    await paid_payment(amount=150)
    world.daraja.queue("reversal", DarajaUnreachable("connect failed"))
    failed = await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)

    retried = await world.reversals.reverse(RECEIPT, by_telegram_id=SECOND_ADMIN, chat_id=77)

    assert failed.status == ReversalStatus.FAILED
    assert (retried.id, retried.status, retried.chat_id) == (
        failed.id,
        ReversalStatus.SUBMITTED,
        77,
    )
    assert len(world.daraja.called("reversal")) == 2
    assert await AuditEvent.filter(action="reversal.retry").count() == 1


async def test_an_already_reversed_receipt_is_not_tried_again(world):
    await paid_payment(amount=150)
    reversal = await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)
    await world.reversals.apply_reversal_result(
        reversal_result(
            originator=reversal.originator_conversation_id,
            conversation=reversal.conversation_id,
            code="R000001",
            desc="The transaction has already been reversed.",
        )
    )

    with pytest.raises(Conflict):
        await world.reversals.reverse(RECEIPT, by_telegram_id=ADMIN)

    assert len(world.daraja.called("reversal")) == 1
