"""C2B: customers paying the paybill or till directly, validated by rules and recorded once."""

from __future__ import annotations

import logging
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.services.audit import audit
from bot.services.orders import CODE_MAX_LENGTH
from bot.services.orders import normalize_code
from bot.services.orders import settle_order
from bot.services.outcome import ApplyOutcome
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import C2BTransaction
from models import Order
from models import OrderStatus
from models import Payment
from mpesa.amounts import format_kes
from mpesa.callbacks import C2B_INVALID_ACCOUNT
from mpesa.callbacks import C2B_INVALID_AMOUNT
from mpesa.callbacks import C2BPayment
from mpesa.callbacks import c2b_accept
from mpesa.callbacks import c2b_reject

log = logging.getLogger(__name__)


class C2BService:
    """Answers C2B validation and records C2B confirmations, settling the order they pay."""

    # the same wiring as the other services, kept explicit: each says what it is given
    def __init__(
        self,
        *,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        self._notifier = notifier
        self._settings = settings
        self._clock = clock

    def _is_free_reference(self, bill_ref: str) -> bool:
        """True for payments not tied to an order: an empty account (tills) or our own reference."""
        ref = normalize_code(bill_ref)
        return not ref or ref == normalize_code(self._settings.mpesa_account_reference)

    async def _order_for(self, bill_ref: str) -> Order | None:
        code = normalize_code(bill_ref)
        if not code or len(code) > CODE_MAX_LENGTH:
            return None
        return await Order.get_or_none(code=code)

    async def validate(self, p: C2BPayment) -> dict[str, Any]:
        """Accept or reject a C2B payment before it completes; return Daraja's answer body."""
        reason, code, order = await self._judge(p)
        await audit(
            "daraja",
            "c2b.validate",
            subject=f"c2b:{p.trans_id}",
            outcome="accepted" if code is None else "rejected",
            amount=p.amount,
            bill_ref=p.bill_ref_number[:64],
            reason=reason,
        )
        log.info("c2b.validate trans=%s outcome=%s reason=%s", p.trans_id, code or "0", reason)
        if code is not None:
            return c2b_reject(code)
        return c2b_accept(order.code if order is not None else None)

    async def _judge(self, p: C2BPayment) -> tuple[str, str | None, Order | None]:
        """(reason, rejection code or None to accept, the order it pays)."""
        if self._is_free_reference(p.bill_ref_number):
            return "free payment", None, None
        order = await self._order_for(p.bill_ref_number)
        if order is None:
            return "unknown account", C2B_INVALID_ACCOUNT, None
        if order.status != OrderStatus.OPEN:
            # a paid or cancelled order is no longer an account anyone can pay into
            return f"order {OrderStatus(order.status).value}", C2B_INVALID_ACCOUNT, order
        if p.amount != order.amount:
            return (
                f"amount {p.amount} is not the order's {order.amount}",
                C2B_INVALID_AMOUNT,
                order,
            )
        return "order matches", None, order

    async def confirm(self, p: C2BPayment) -> ApplyOutcome:
        """Record a completed C2B payment once (by TransID) and settle the order it pays."""
        if await C2BTransaction.exists(trans_id=p.trans_id):
            return ApplyOutcome.DUPLICATE
        stk = await Payment.get_or_none(receipt=p.trans_id)
        order = None if stk is not None else await self._order_for(p.bill_ref_number)
        name = " ".join(part for part in (p.first_name, p.middle_name, p.last_name) if part)
        try:
            async with in_transaction():
                row = await C2BTransaction.create(
                    trans_id=p.trans_id,
                    transaction_type=p.transaction_type[:32],
                    amount=p.amount,
                    shortcode=p.shortcode[:16],
                    bill_ref_number=p.bill_ref_number[:64],
                    msisdn=p.msisdn[:80],
                    payer_name=name[:128],
                    org_account_balance=p.org_account_balance[:32],
                    order_id=stk.order_id if stk is not None else (order.id if order else None),
                    trans_time=p.trans_time,
                )
                if stk is not None:
                    # the C2B echo of an STK payment we already recorded: the same money, once
                    await audit(
                        "daraja",
                        "c2b.confirm",
                        subject=f"c2b:{row.trans_id}",
                        outcome="duplicate",
                        payment=stk.id,
                    )
                    return ApplyOutcome.DUPLICATE
                outcome, reason = await self._settle(p, order)
                await audit(
                    "daraja",
                    "c2b.confirm",
                    subject=f"c2b:{row.trans_id}",
                    outcome=outcome.value,
                    amount=p.amount,
                    order=order.code if order else None,
                    reason=reason,
                )
        except IntegrityError:
            # two deliveries of the same confirmation raced: the other one recorded it
            return ApplyOutcome.DUPLICATE
        log.info("c2b.confirmed trans=%s amount=%s outcome=%s", p.trans_id, p.amount, outcome)
        return outcome

    async def _settle(self, p: C2BPayment, order: Order | None) -> tuple[ApplyOutcome, str]:
        """Settle the order this payment is for, or tell the admins why it could not."""
        what = f"C2B payment {p.trans_id} of {format_kes(p.amount)}"
        if order is None:
            await self._notifier.webhook_event(
                f"c2b:{p.trans_id}",
                "c2b.received",
                {"transId": p.trans_id, "amount": p.amount, "account": p.bill_ref_number},
            )
            if self._is_free_reference(p.bill_ref_number):
                return ApplyOutcome.APPLIED, "free payment"
            await self._notifier.admin_alert(
                f"c2b:{p.trans_id}:unknown_account",
                f"{what} came with the account {p.bill_ref_number!r}, which matches no order. "
                "Find out what it pays for.",
            )
            return ApplyOutcome.REVIEW, "unknown account"
        if p.amount != order.amount:
            await self._notifier.admin_alert(
                f"c2b:{p.trans_id}:amount",
                f"{what} was for order {order.code}, which is {format_kes(order.amount)}; "
                "the order was not marked paid.",
            )
            return ApplyOutcome.REVIEW, "amount differs"
        paid_at = p.trans_time or self._clock()
        if not await settle_order(order.id, receipt=p.trans_id, paid_at=paid_at):
            order = await Order.get(id=order.id)
            await self._notifier.admin_alert(
                f"c2b:{p.trans_id}:order_not_open",
                f"{what} paid order {order.code}, which was already "
                f"{OrderStatus(order.status).value}. The customer may have paid twice: "
                "check and refund if so.",
            )
            return ApplyOutcome.REVIEW, "order not open"
        await self._notifier.order_paid(await Order.get(id=order.id))
        return ApplyOutcome.APPLIED, "order paid"
