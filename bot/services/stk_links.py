"""Tying an STK push whose answer was lost to the success callback that M-Pesa sent for it.

A push whose answer timed out has no CheckoutRequestID, so its callback arrives "unmatched". The
two are tied together as soon as either exists: when an unmatched success callback arrives, and
when a push becomes unknown. Only an exact fit is tied (the same amount, the phone digits M-Pesa
shows, one push and one callback on each side); anything else waits for an admin, who sees the
candidates when resolving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.payment_callbacks import PaymentSettler
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import Payment
from models import PaymentStatus
from models import Provider
from mpesa.callbacks import StkCallback
from mpesa.callbacks import parse_stk_callback
from mpesa.codes import ResultCategory
from mpesa.codes import describe_result
from mpesa.errors import CallbackParseError
from mpesa.phone import mask_id
from mpesa.phone import reported_phone_matches

log = logging.getLogger(__name__)

# an unmatched callback may be stamped a little before our row (clocks, the race itself)
LINK_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class Candidate:
    """An unmatched success callback that could belong to a push (shown to the admin)."""

    inbox_id: int
    callback: StkCallback
    received_at: datetime


def is_success(cb: StkCallback) -> bool:
    """True for a callback that reports money received."""
    return describe_result(cb.result_code, cb.result_desc).category is ResultCategory.SUCCESS


def fits(payment: Payment, cb: StkCallback) -> bool:
    """True when a success callback has the push's amount and the phone digits it shows."""
    return (
        is_success(cb)
        and cb.amount == payment.amount
        and reported_phone_matches(payment.msisdn, cb.phone)
    )


class StkLinker:
    """Finds and settles the one unknown push an unmatched success callback belongs to."""

    def __init__(self, *, settler: PaymentSettler, clock: Clock) -> None:
        self._settler = settler
        self._clock = clock

    async def unknown_pushes_for(self, cb: StkCallback) -> list[Payment]:
        """Unknown pushes (no CheckoutRequestID) that this success callback fits."""
        if not is_success(cb) or cb.amount is None:
            return []
        rows = await Payment.filter(
            status=PaymentStatus.UNKNOWN,
            provider=Provider.MPESA,
            checkout_request_id__isnull=True,
            amount=cb.amount,
        ).order_by("id")
        return [p for p in rows if fits(p, cb)]

    async def candidates_for(self, payment: Payment) -> list[Candidate]:
        """Unmatched success callbacks since the push that fit it, oldest first."""
        if payment.provider != Provider.MPESA:
            return []  # an Airtel push is asked about by its own transaction id
        rows = await CallbackInbox.filter(
            kind=CallbackKind.STK,
            status=InboxStatus.UNMATCHED,
            received_at__gte=payment.created_at - LINK_SLACK,
        ).order_by("id")
        found: list[Candidate] = []
        for row in rows:
            try:
                cb = parse_stk_callback(row.body)
            except CallbackParseError:
                continue
            if not fits(payment, cb):
                continue
            if await Payment.filter(checkout_request_id=cb.checkout_request_id).exists():
                continue  # its push answered after all; replay will apply it there
            found.append(Candidate(row.id, cb, row.received_at))
        return found

    async def on_arrival(self, cb: StkCallback) -> ApplyOutcome | None:
        """Settle the one unknown push an arriving unmatched success fits; None: no exact fit."""
        pushes = await self.unknown_pushes_for(cb)
        if len(pushes) != 1:
            if pushes:
                log.info(
                    "stk.link_ambiguous checkout=%s pushes=%d",
                    mask_id(cb.checkout_request_id),
                    len(pushes),
                )
            return None
        payment = pushes[0]
        if len(await self.candidates_for(payment)) > 0:
            return None  # an earlier callback fits it too: an admin picks
        log.info("stk.linked payment=%s checkout=%s", payment.id, mask_id(cb.checkout_request_id))
        return await self._settler.link(payment, cb)

    async def on_unknown(self, payment: Payment) -> ApplyOutcome | None:
        """Settle a push that just became (or still is) unknown with the one callback it fits."""
        found = await self.candidates_for(payment)
        if len(found) != 1:
            return None
        candidate = found[0]
        if len(await self.unknown_pushes_for(candidate.callback)) != 1:
            return None  # the callback fits another unknown push too: an admin picks
        # the inbox row is taken first, so the callback is tied to one push only
        won = await CallbackInbox.filter(
            id=candidate.inbox_id, status=InboxStatus.UNMATCHED
        ).update(
            status=InboxStatus.PROCESSED,
            match_key=candidate.callback.checkout_request_id,
            processed_at=self._clock(),
        )
        if not won:
            return None
        log.info(
            "stk.linked payment=%s checkout=%s inbox=%s",
            payment.id,
            mask_id(candidate.callback.checkout_request_id),
            candidate.inbox_id,
        )
        return await self._settler.link(payment, candidate.callback)
