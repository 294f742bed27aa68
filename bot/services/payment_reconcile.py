"""Reconciling STK payments M-Pesa has gone quiet about: paced queries, links, escalation.

Every row is taken with a lease (intents.py), so two processes running this at once never query
or settle the same row, and a row another worker holds is never touched. Time only asks: it
schedules a query or an alert, and never moves a push into a state from which money moves again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import timedelta

from tortoise.expressions import F
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.daraja import Daraja
from bot.services.intents import Intents
from bot.services.intents import Lease
from bot.services.outcome import Clock
from bot.services.payment_callbacks import PaymentSettler
from bot.services.payment_callbacks import subject
from bot.services.stk_links import StkLinker
from bot.services.stk_links import is_success
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import Payment
from models import PaymentStatus
from models import Provider
from mpesa.amounts import format_kes
from mpesa.callbacks import parse_stk_callback
from mpesa.errors import CallbackParseError
from mpesa.errors import DarajaError
from mpesa.errors import RateLimited
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

ALERTED = "unmatched: the admins were alerted"


class PaymentReconciler:
    """One reconciliation pass over STK payments and unmatched STK callbacks."""

    def __init__(
        self,
        *,
        daraja: Daraja,
        notifier: Notifier,
        settings: Settings,
        settler: PaymentSettler,
        links: StkLinker,
        intents: Intents,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._daraja = daraja
        self._notifier = notifier
        self._settings = settings
        self._settler = settler
        self._links = links
        self._intents = intents
        self._clock = clock
        self._sleep = sleep

    async def reconcile(self, *, limit: int = 50) -> list[Payment]:
        """Query due pending payments, look after unknown pushes; return the payments touched."""
        touched = await self._query_due(limit)
        touched += await self._unknown_due(limit)
        await self._alert_unmatched(limit)
        return touched

    async def due(self) -> int:
        """Payments a pass would work on now: due queries and due unknown pushes (held or not)."""
        now = self._clock()
        pending = await Payment.filter(
            status=PaymentStatus.PENDING, checkout_request_id__isnull=False, next_query_at__lte=now
        ).count()
        unknown = await Payment.filter(
            status=PaymentStatus.UNKNOWN, provider=Provider.MPESA, next_query_at__lte=now
        ).count()
        crashed = await Payment.filter(status=PaymentStatus.CREATED, claimed_until__lt=now).count()
        return pending + unknown + crashed

    # -- pending payments: STK query ------------------------------------------------------------

    async def _query_due(self, limit: int) -> list[Payment]:
        now = self._clock()
        due = Q(checkout_request_id__isnull=False) & Q(next_query_at__lte=now)
        taken = await self._intents.take(
            Payment,
            statuses=[PaymentStatus.PENDING],
            where=due,
            limit=limit,
            order_by=("next_query_at", "id"),
        )
        touched: list[Payment] = []
        gap = 1.0 / self._settings.stk_query_rate_per_s
        for number, (lease, payment) in enumerate(taken):
            if number:
                # Daraja's query rate limit is unpublished: stay well under it
                await self._sleep(gap)
            slowed = await self._query_one(lease, payment)
            touched.append(await Payment.get(id=payment.id))
            if slowed:
                for rest, _ in taken[number + 1 :]:
                    await self._intents.release(rest)
                break
        return touched

    async def _query_one(self, lease: Lease, payment: Payment) -> bool:
        """Query one held payment; True when Daraja asked us to slow down."""
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
        else:
            await self._intents.release(lease)
        return False

    async def _reschedule(self, payment: Payment, delay_s: float, why: str) -> None:
        """Push the next query back, release the lease, alert admins once when it drags on."""
        now = self._clock()
        async with in_transaction():
            # not Intents.asked: only a payment still pending is pushed back (the answer may have
            # settled it meanwhile), and the lease always ends
            await Payment.filter(id=payment.id, status=PaymentStatus.PENDING).update(
                query_count=F("query_count") + 1,
                next_query_at=now + timedelta(seconds=delay_s),
                **self._intents.released(),
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
                    f"queries (last answer: {why}). Check it in the M-Pesa portal, then "
                    f"/resolve #{payment.id}.",
                )

    # -- pushes whose answer was lost ------------------------------------------------------------

    async def _unknown_due(self, limit: int) -> list[Payment]:
        now = self._clock()
        taken = await self._intents.take(
            Payment,
            statuses=[PaymentStatus.UNKNOWN],
            # Airtel's unknown pushes have their own id to enquire by (airtel_payments.py)
            where=Q(next_query_at__lte=now, provider=Provider.MPESA),
            limit=limit,
            order_by=("next_query_at", "id"),
        )
        touched: list[Payment] = []
        for lease, payment in taken:
            await self._links.on_unknown(payment)
            fresh = await Payment.get(id=payment.id)
            if fresh.status == PaymentStatus.UNKNOWN:
                await self._wait_or_escalate(lease, fresh)
            else:
                await self._intents.release(lease)
            touched.append(await Payment.get(id=payment.id))
        return touched

    async def _wait_or_escalate(self, lease: Lease, payment: Payment) -> None:
        """Look again soon while the prompt may still be answered; then hand it to the admins."""
        now = self._clock()
        window = timedelta(seconds=self._settings.stk_prompt_window_s)
        # counted from the end of the POST (its answer, or our giving up on it): hole 10
        ends = (payment.answered_at or payment.sent_at or payment.created_at) + window
        if now < ends:
            every = timedelta(seconds=self._settings.stk_query_every_s)
            await Payment.filter(id=payment.id, claimed_by=lease.holder).update(
                next_query_at=min(now + every, ends), **self._intents.released()
            )
            return
        async with in_transaction():
            # the prompt is gone from the handset, so the phone may be asked again; the order
            # stays held: the customer may have paid it
            won = await Payment.filter(
                id=payment.id, status=PaymentStatus.UNKNOWN, claimed_by=lease.holder
            ).update(in_flight_msisdn=None, next_query_at=None, **self._intents.released())
            if not won:
                return
            await audit(
                "system",
                "payment.unresolved",
                subject=subject(payment),
                outcome="unknown",
                window_s=self._settings.stk_prompt_window_s,
            )
            await self._notifier.admin_alert(
                f"payment:{payment.id}:unknown",
                f"Payment #{payment.id} ({format_kes(payment.amount)} from "
                f"{mask_msisdn(payment.msisdn)}): M-Pesa never answered the request and no "
                "matching payment has arrived. The customer may still have paid: check their "
                f"M-Pesa message or the portal, then /resolve #{payment.id} paid or failed. "
                "Until then it cannot be sent again.",
            )
        log.warning("payment.unresolved payment=%s", payment.id)

    # -- callbacks nobody asked for ----------------------------------------------------------------

    async def _alert_unmatched(self, limit: int) -> int:
        """Tell the admins about success callbacks still unmatched after a few minutes (once)."""
        before = self._clock() - timedelta(seconds=self._settings.unmatched_callback_alert_s)
        rows = (
            await CallbackInbox.filter(
                kind=CallbackKind.STK,
                status=InboxStatus.UNMATCHED,
                received_at__lt=before,
                error__isnull=True,
            )
            .order_by("id")
            .limit(limit)
        )
        alerted = 0
        for row in rows:
            try:
                cb = parse_stk_callback(row.body)
            except CallbackParseError:
                continue
            # only money received matters; a lone failure callback is just noted
            won = await CallbackInbox.filter(id=row.id, error__isnull=True).update(error=ALERTED)
            if not won or not is_success(cb):
                continue
            await self._notifier.admin_alert(
                f"callback:{row.id}:unmatched",
                f"M-Pesa reported a payment that matches no request: "
                f"{format_kes(cb.amount or 0)} from {cb.phone or 'an unknown phone'}, receipt "
                f"{cb.receipt or '-'} ({cb.checkout_request_id}). If it is a request whose "
                "answer was lost, /resolve that request; otherwise check it in the M-Pesa portal "
                "and refund it if it is not ours.",
            )
            await audit(
                "system",
                "callback.unmatched",
                subject=f"inbox:{row.id}",
                outcome="alerted",
                receipt=cb.receipt,
            )
            alerted += 1
        return alerted
