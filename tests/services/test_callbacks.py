"""CallbackService: raw body first, one apply per callback, answers Daraja expects, replays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.services.callbacks import CallbackService
from bot.services.outcome import ApplyOutcome
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from mpesa.callbacks import ACK
from mpesa.callbacks import C2B_CONFIRMATION_ACK
from mpesa.callbacks import c2b_reject
from tests.helpers.stub_services import StubDomain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "daraja"
CHECKOUT = "ws_CO_20112026143005812708374149"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def domain() -> StubDomain:
    return StubDomain()


@pytest.fixture
def service(domain: StubDomain) -> CallbackService:
    return CallbackService(
        payments=domain.payments,
        c2b=domain.c2b,
        payouts=domain.payouts,
        accounts=domain.accounts,
        reversals=domain.reversals,
    )


KINDS = [
    (CallbackKind.STK, "stk_callback_success.json", ACK, CHECKOUT),
    (CallbackKind.B2C_RESULT, "b2c_result_success.json", ACK, None),
    (CallbackKind.B2C_TIMEOUT, "b2c_queue_timeout.json", ACK, "AG_20261120_20106b2d4f6a8c0e1a3c"),
    (CallbackKind.STATUS_RESULT, "transaction_status_result.json", ACK, None),
    (CallbackKind.STATUS_TIMEOUT, "b2c_queue_timeout.json", ACK, None),
    (CallbackKind.BALANCE_RESULT, "account_balance_result.json", ACK, None),
    (CallbackKind.BALANCE_TIMEOUT, "b2c_queue_timeout.json", ACK, None),
    (CallbackKind.REVERSAL_RESULT, "reversal_result.json", ACK, None),
    (CallbackKind.REVERSAL_TIMEOUT, "b2c_queue_timeout.json", ACK, None),
    (CallbackKind.C2B_CONFIRMATION, "c2b_confirmation.json", C2B_CONFIRMATION_ACK, "UKK2M8P4RS"),
]


@pytest.mark.parametrize(("kind", "name", "answer", "key"), KINDS)
async def test_every_kind_is_stored_applied_and_acknowledged(
    db, service, kind, name, answer, key
) -> None:
    body = fixture(name)

    status, reply = await service.ingest(kind, body, "196.201.214.200")

    assert (status, reply) == (200, answer)
    row = await CallbackInbox.get()
    assert (row.kind, row.status, row.body, row.remote_addr) == (
        kind,
        InboxStatus.PROCESSED,
        body.decode(),
        "196.201.214.200",
    )
    assert row.processed_at is not None
    if key is not None:
        assert row.match_key == key
    assert service.counts[(kind.value, "applied")] == 1


async def test_each_kind_reaches_its_own_service(db, service, domain) -> None:
    await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")
    await service.ingest(CallbackKind.B2C_RESULT, fixture("b2c_result_success.json"), "")
    await service.ingest(CallbackKind.B2C_TIMEOUT, fixture("b2c_queue_timeout.json"), "")
    await service.ingest(CallbackKind.BALANCE_TIMEOUT, fixture("b2c_queue_timeout.json"), "")
    await service.ingest(CallbackKind.REVERSAL_RESULT, fixture("reversal_result.json"), "")
    await service.ingest(CallbackKind.C2B_CONFIRMATION, fixture("c2b_confirmation.json"), "")

    assert [cb.checkout_request_id for cb in domain.payments.applied] == [CHECKOUT]
    assert [r.originator_conversation_id for r in domain.payouts.results] == [
        json.loads(fixture("b2c_result_success.json"))["Result"]["OriginatorConversationID"]
    ]
    assert len(domain.payouts.timeouts) == 1
    assert [name for name, _ in domain.accounts.calls] == ["timeout:balance_timeout", "reversal"]
    assert [p.trans_id for p in domain.c2b.confirmed] == ["UKK2M8P4RS"]


async def test_c2b_validation_answer_comes_from_the_c2b_service(db, service, domain) -> None:
    domain.c2b.validation_answer = c2b_reject("C2B00013")

    status, reply = await service.ingest(
        CallbackKind.C2B_VALIDATION, fixture("c2b_validation.json"), "1.2.3.4"
    )

    assert (status, reply) == (200, {"ResultCode": "C2B00013", "ResultDesc": "Rejected"})
    assert (await CallbackInbox.get()).status == InboxStatus.PROCESSED


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        (CallbackKind.STK, b"{not json", "JSON"),
        (CallbackKind.STK, b'{"Body": {}}', "stkCallback"),
        (CallbackKind.B2C_RESULT, b'{"nothing": 1}', "Result"),
        (CallbackKind.C2B_CONFIRMATION, b'{"TransAmount": "10"}', "TransID"),
        (CallbackKind.B2C_TIMEOUT, b"[1, 2]", ""),
        (CallbackKind.STK, b"\xff\xfe not utf-8", ""),
    ],
)
async def test_unreadable_body_is_kept_rejected_and_answered_400(
    db, service, domain, kind, body, reason
) -> None:
    status, reply = await service.ingest(kind, body, "1.2.3.4")

    assert status == 400
    assert reply["ResultCode"] == 1
    row = await CallbackInbox.get()
    assert row.status == InboxStatus.REJECTED
    assert reason.lower() in row.error.lower()
    assert row.body == body.decode("utf-8", "backslashreplace")
    assert domain.payments.applied == []
    assert service.counts[(kind.value, "rejected")] == 1


@pytest.mark.parametrize(
    ("outcome", "inbox"),
    [
        (ApplyOutcome.APPLIED, InboxStatus.PROCESSED),
        (ApplyOutcome.REVIEW, InboxStatus.PROCESSED),
        (ApplyOutcome.DUPLICATE, InboxStatus.DUPLICATE),
        (ApplyOutcome.UNMATCHED, InboxStatus.UNMATCHED),
    ],
)
async def test_inbox_status_follows_the_outcome(db, service, domain, outcome, inbox) -> None:
    domain.payments.outcomes[CHECKOUT] = outcome

    status, reply = await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")

    # Daraja gets the same acknowledgement whatever we made of it
    assert (status, reply) == (200, ACK)
    row = await CallbackInbox.get()
    assert (row.status, row.match_key) == (inbox, CHECKOUT)


async def test_unmatched_callback_is_applied_when_its_record_appears(db, service, domain) -> None:
    domain.payments.outcomes[CHECKOUT] = ApplyOutcome.UNMATCHED
    await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")
    other = json.loads(fixture("stk_callback_cancelled.json"))
    await service.ingest(CallbackKind.STK, json.dumps(other).encode(), "")

    domain.payments.outcomes[CHECKOUT] = ApplyOutcome.APPLIED
    # the payment service calls back once it stored the CheckoutRequestID
    matched = await domain.payments.replay_unmatched(CallbackKind.STK, CHECKOUT)

    assert matched == 1
    rows = {r.match_key: r.status for r in await CallbackInbox.all()}
    assert rows[CHECKOUT] == InboxStatus.PROCESSED
    # applied on arrival, looked at once more after being marked unmatched, then replayed
    assert [cb.checkout_request_id for cb in domain.payments.applied].count(CHECKOUT) == 3


async def test_a_callback_that_raced_its_record_is_applied_on_arrival(db, service, domain) -> None:
    """The record is written (and its own replay finds nothing yet) while the callback is being
    applied: the callback's second look, once its row is marked unmatched, applies it at once."""
    outcomes = iter([ApplyOutcome.UNMATCHED, ApplyOutcome.APPLIED])

    async def racing(cb: Any) -> ApplyOutcome:
        domain.payments.applied.append(cb)
        return next(outcomes)

    domain.payments.apply_stk_callback = racing  # type: ignore[method-assign]
    status, reply = await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")

    row = await CallbackInbox.get()
    assert (status, reply) == (200, ACK)
    assert (row.status, row.match_key) == (InboxStatus.PROCESSED, CHECKOUT)
    assert len(domain.payments.applied) == 2


async def test_replay_of_a_still_unknown_key_leaves_the_row_unmatched(db, service, domain) -> None:
    domain.payments.outcomes[CHECKOUT] = ApplyOutcome.UNMATCHED
    await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")

    assert await service.replay(CallbackKind.STK, CHECKOUT) == 0
    assert (await CallbackInbox.get()).status == InboxStatus.UNMATCHED


async def test_replay_pending_retries_rows_whose_processing_failed(db, domain) -> None:
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    now = [datetime.now(UTC)]
    service = CallbackService(
        payments=domain.payments,
        c2b=domain.c2b,
        payouts=domain.payouts,
        accounts=domain.accounts,
        reversals=domain.reversals,
        clock=lambda: now[0],
    )
    domain.payments.fail_with = RuntimeError("database hiccup")

    status, reply = await service.ingest(CallbackKind.STK, fixture("stk_callback_success.json"), "")

    # the body is ours: Daraja is told so, and we retry from the inbox
    assert (status, reply) == (200, ACK)
    row = await CallbackInbox.get()
    assert (row.status, row.error) == (InboxStatus.RECEIVED, "processing failed; will retry")

    domain.payments.fail_with = None
    assert await service.replay_pending() == 0  # too recent: it may still be in flight
    now[0] += timedelta(minutes=2)
    assert await service.replay_pending() == 1
    row = await CallbackInbox.get()
    assert (row.status, row.error) == (InboxStatus.PROCESSED, None)


async def test_failed_c2b_validation_answers_500_so_mpesa_applies_its_default(
    db, service, domain
) -> None:
    async def broken(p):
        raise RuntimeError("boom")

    domain.c2b.validate = broken

    status, _ = await service.ingest(
        CallbackKind.C2B_VALIDATION, fixture("c2b_validation.json"), ""
    )

    assert status == 500
    assert (await CallbackInbox.get()).status == InboxStatus.RECEIVED


async def test_refused_callback_is_kept(db, service) -> None:
    await service.record_refused(CallbackKind.STK, b'{"a": 1}', "8.8.8.8", "not allowed")

    row = await CallbackInbox.get()
    assert (row.status, row.body, row.error, row.remote_addr) == (
        InboxStatus.REJECTED,
        '{"a": 1}',
        "not allowed",
        "8.8.8.8",
    )
    assert service.counts[("stk", "refused")] == 1
