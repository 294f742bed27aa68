"""Reconciling STK payments M-Pesa has gone quiet about: paced STK queries and expiry.

Rows are claimed with a conditional UPDATE on ``claimed_until`` (and still being due), so two
processes running this at once against the same database never query or settle a row twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.payment_callbacks import SETTLED, PaymentSettler, subject
from models import CallbackInbox, CallbackKind, InboxStatus, Payment, PaymentStatus
from mpesa.callbacks import StkCallback, parse_stk_callback
from mpesa.errors import CallbackParseError, DarajaError, RateLimited
from mpesa.phone import reported_phone_matches

log = logging.getLogger(__name__)

CLAIM_S = 120.0  # longer than one STK query can take, retries included
NEVER_CONFIRMED = "M-Pesa never confirmed the request"
# an unmatched callback may be stamped a little before our row (clocks, the race itself)
LINK_SLACK = timedelta(seconds=60)


class PaymentReconciler:
    """One reconciliation pass over STK payments."""

    def __init__(
        self,
        *,
        daraja: Any,
        notifier: Notifier,
        settings: Settings,
        settler: PaymentSettler,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._settler = settler
        self._clock = clock
        self._sleep = sleep

    async def reconcile(self, *, limit: int = 50) -> list[Payment]:
        """Query due PENDING payments, expire silent pushes; return the payments touched."""
        touched = await self._query_due(limit)
        touched += await self._expire_unknown(limit)
        return touched

    async def _claim(self, payment_id: int, statuses: list[PaymentStatus], now: datetime) -> bool:
        """Take a due row for this pass; False if another process has it or it is no longer due."""
        won = await (
            Payment.filter(id=payment_id, status__in=statuses, next_query_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + timedelta(seconds=CLAIM_S))
        )
        return bool(won)

    # -- pending payments: STK query ------------------------------------------------------------

    async def _query_due(self, limit: int) -> list[Payment]:
        now = self._clock()
        due = (
            await Payment.filter(
                status=PaymentStatus.PENDING,
                checkout_request_id__isnull=False,
                next_query_at__lte=now,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_query_at", "id")
            .limit(limit)
        )
        touched: list[Payment] = []
        gap = 1.0 / self._settings.stk_query_rate_per_s
        queried = 0
        for payment in due:
            if not await self._claim(payment.id, [PaymentStatus.PENDING], now):
                continue
            if queried:
                # Daraja's query rate limit is unpublished: stay well under it
                await self._sleep(gap)
            queried += 1
            stop = await self._query_one(payment)
            touched.append(await Payment.get(id=payment.id))
            if stop:
                break
        return touched

    async def _query_one(self, payment: Payment) -> bool:
        """Query one claimed payment; True when Daraja asked us to slow down."""
        every = self._settings.stk_query_every_s
        try:
            answer = await self._daraja.stk_query(payment.checkout_request_id)
        except RateLimited as exc:
            log.warning("stk.query_rate_limited payment=%s", payment.id)
            await self._reschedule(payment, max(every, exc.retry_after_s), "rate limited")
            return True
        except DarajaError as exc:
            log.warning("stk.query_failed payment=%s error=%s", payment.id, exc)
            await self._reschedule(payment, every, str(exc))
            return False
        outcome = await self._settler.apply_query_answer(payment, answer, actor="system")
        if outcome is None:
            # 4999 / "being processed": not final, ask again later; never a failure
            await self._reschedule(payment, every, answer.result_desc or "still processing")
        return False

    async def _reschedule(self, payment: Payment, delay_s: float, why: str) -> None:
        """Push the next query back, release the claim, alert admins once when it drags on."""
        now = self._clock()
        async with in_transaction():
            await Payment.filter(id=payment.id, status=PaymentStatus.PENDING).update(
                query_count=F("query_count") + 1,
                next_query_at=now + timedelta(seconds=delay_s),
                claimed_until=None,
            )
            fresh = await Payment.get(id=payment.id)
            if fresh.query_count == self._settings.stk_query_max_attempts:
                await audit(
                    "system",
                    "payment.stuck",
                    subject=subject(payment),
                    outcome="pending",
                    queries=fresh.query_count,
                    last_answer=why,
                )
                await self._notifier.admin_alert(
                    f"payment:{payment.id}:stuck",
                    f"Payment #{payment.id} is still pending after {fresh.query_count} status "
                    f"queries (last answer: {why}). Check it in the M-Pesa portal.",
                )

    # -- pushes M-Pesa never acknowledged ---------------------------------------------------------

    async def _expire_unknown(self, limit: int) -> list[Payment]:
        now = self._clock()
        statuses = [PaymentStatus.CREATED, PaymentStatus.UNKNOWN]
        due = (
            await Payment.filter(status__in=statuses, next_query_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_query_at", "id")
            .limit(limit)
        )
        touched: list[Payment] = []
        for payment in due:
            if not await self._claim(payment.id, statuses, now):
                continue
            # a CREATED row this old belongs to a process that died mid-call: the push may be out
            await Payment.filter(id=payment.id, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.UNKNOWN
            )
            payment = await Payment.get(id=payment.id)
            cb = await self._take_matching_callback(payment)
            if cb is not None:
                await self._settler.link_unknown(payment, cb)
            else:
                await self._fail_unknown(payment)
            touched.append(await Payment.get(id=payment.id))
        return touched

    async def _take_matching_callback(self, payment: Payment) -> StkCallback | None:
        """Claim an unmatched success callback with this payment's amount and phone digits."""
        rows = await CallbackInbox.filter(
            kind=CallbackKind.STK,
            status=InboxStatus.UNMATCHED,
            received_at__gte=payment.created_at - LINK_SLACK,
        ).order_by("id")
        for row in rows:
            try:
                cb = parse_stk_callback(row.body)
            except CallbackParseError:
                continue
            if not cb.succeeded or cb.amount != payment.amount:
                continue
            if not reported_phone_matches(payment.msisdn, cb.phone):
                continue
            if await Payment.filter(checkout_request_id=cb.checkout_request_id).exists():
                continue
            won = await CallbackInbox.filter(id=row.id, status=InboxStatus.UNMATCHED).update(
                status=InboxStatus.PROCESSED, processed_at=self._clock()
            )
            if won:
                return cb
        return None

    async def _fail_unknown(self, payment: Payment) -> None:
        async with in_transaction():
            won = await Payment.filter(id=payment.id, status=PaymentStatus.UNKNOWN).update(
                status=PaymentStatus.FAILED, result_desc=NEVER_CONFIRMED, **SETTLED
            )
            if won:
                payment = await Payment.get(id=payment.id)
                await audit("system", "payment.expired", subject=subject(payment), outcome="failed")
                await self._notifier.payment_changed(payment)
        log.info("payment.expired payment=%s", payment.id)
