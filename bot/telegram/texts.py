"""Shared chat texts (HTML): payment and payout cards, refusals. Every user string is escaped."""

from __future__ import annotations

from html import escape

from airtel.codes import Api as AirtelApi
from bot.i18n import staff_when as when
from bot.services.airtel_payments import result_of
from bot.services.errors import ServiceError
from bot.services.providers import provider_name
from models import Order
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Staff
from mpesa.amounts import format_kes
from mpesa.codes import Api
from mpesa.codes import describe_result
from mpesa.codes import is_api_error_code
from mpesa.phone import display_msisdn

# {provider} is "M-Pesa" or "Airtel Money"
PAYMENT_HEADLINE = {
    PaymentStatus.CREATED: "⏳ Sending the request to {provider}…",
    PaymentStatus.PENDING: "📲 Sent. Waiting for the customer to enter their {provider} PIN…",
    PaymentStatus.UNKNOWN: "❔ {provider} did not answer in time. Do not ask again yet: checking…",
    PaymentStatus.PAID: "✅ Paid",
    PaymentStatus.CANCELLED: "✖️ Cancelled by the customer",
    PaymentStatus.INSUFFICIENT_FUNDS: "✖️ Not enough money on {provider}",
    PaymentStatus.WRONG_PIN: "✖️ Wrong {provider} PIN",
    PaymentStatus.TIMED_OUT: "⌛ The customer did not respond in time",
    PaymentStatus.FAILED: "✖️ Failed",
    # never "paid": a KES 1 callback on a KES 150 request must not look like money to hand
    # goods over for
    PaymentStatus.REVIEW: "⚠️ Not confirmed: an admin must check this payment",
    PaymentStatus.REVERSED: "↩️ Reversed: the money went back to the payer",
}

PAYOUT_HEADLINE = {
    PayoutStatus.AWAITING_CONFIRMATION: "Please check and confirm.",
    PayoutStatus.AWAITING_APPROVAL: "⏳ Waiting for a second admin to approve…",
    PayoutStatus.SUBMITTING: "⏳ Sending to {provider}…",
    PayoutStatus.SUBMITTED: "📤 Sent. Waiting for {provider}'s result…",
    PayoutStatus.UNKNOWN: "❔ {provider} has not confirmed yet. Checking the transaction status…",
    PayoutStatus.COMPLETED: "✅ Sent",
    PayoutStatus.FAILED: "✖️ Failed",
    PayoutStatus.CANCELLED: "✖️ Cancelled",
    PayoutStatus.REJECTED: "✖️ Rejected",
}


def kes(amount: int) -> str:
    """KES 1,500."""
    return format_kes(amount)


def phone(msisdn: str) -> str:
    """A Kenyan number as people write it: 0708 374 149."""
    return display_msisdn(msisdn)


def payment_card(payment: Payment, order: Order | None = None) -> str:
    """The live status message of a payment request, as staff see it."""
    status = PaymentStatus(payment.status)
    name = provider_name(payment.provider)
    lines = [f"<b>{name} request #{payment.id}</b>"]
    lines.append(f"{kes(payment.amount)} from {phone(payment.msisdn)}")
    if order is not None:
        what = f"Order <code>{escape(order.code)}</code>"
        if order.description:
            what += f" — {escape(order.description)}"
        lines.append(what)
    elif payment.description:
        lines.append(f"For: {escape(payment.description)}")
    if payment.attempt > 1:
        lines.append(f"Attempt {payment.attempt}")
    lines.append("")
    lines.append(f"<b>{PAYMENT_HEADLINE[status].format(provider=name)}</b>")
    if status in (PaymentStatus.PAID, PaymentStatus.REVERSED):
        confirmed = "confirmed by an admin" if payment.resolved_by else "confirmed by query"
        lines.append(f"Receipt: <code>{escape(payment.receipt or confirmed)}</code>")
        lines.append(f"Amount: {kes(payment.paid_amount or payment.amount)}")
        lines.append(f"Paid at: {when(payment.paid_at)}")
        if payment.reversed_at is not None:
            lines.append(f"Reversed at: {when(payment.reversed_at)}")
    elif status is PaymentStatus.REVIEW:
        lines.append(escape(payment.review_reason or f"Check this payment against {name}."))
        lines.append("👉 Do not hand over goods until an admin resolves it.")
    elif status is PaymentStatus.UNKNOWN:
        lines.append(
            f"The customer may have paid. Do not send the request again until {name}'s answer "
            "arrives or an admin resolves it."
        )
    elif status.is_final and payment.provider == Provider.AIRTEL:
        info = result_of(payment.result_code, payment.result_desc, api=AirtelApi.COLLECTION)
        lines.append(escape(info.meaning if payment.result_code else (payment.result_desc or "")))
        if info.next_step and payment.result_code:
            lines.append(f"👉 {escape(info.next_step)}")
    elif status.is_final:
        lines.extend(mpesa_result_lines(payment.result_code, payment.result_desc, api=Api.STK))
    if payment.resolved_by is not None:
        lines.append(f"<i>Resolved by an admin at {when(payment.resolved_at)}</i>")
    if payment.superseded_by_id is not None:
        lines.append("")
        lines.append(superseded_line(payment))
    return "\n".join(line for line in lines if line is not None)


def superseded_line(payment: Payment) -> str:
    """What an older attempt's card says once a newer attempt replaced it."""
    # attempts of one intent are numbered one after the other
    return (
        f"<i>Attempt {payment.attempt + 1} (#{payment.superseded_by_id}) replaced this request; "
        "use that one.</i>"
    )


def payout_card(
    payout: Payout,
    *,
    initiator: Staff | None = None,
    approver: Staff | None = None,
    rejecter: Staff | None = None,
) -> str:
    """The live status message of a payout (B2C, or an Airtel Money disbursement)."""
    status = PayoutStatus(payout.status)
    name = provider_name(payout.provider)
    airtel = payout.provider == Provider.AIRTEL
    lines = [
        f"<b>Airtel Money payout #{payout.id}</b>" if airtel else f"<b>Payout #{payout.id}</b>"
    ]
    lines.append(f"{kes(payout.amount)} to {phone(payout.msisdn)}")
    if airtel and payout.receiver_name and status is not PayoutStatus.COMPLETED:
        # Airtel's KYC named the account holder before anything was sent
        lines.append(f"Airtel Money account of: {escape(payout.receiver_name)}")
    lines.append(f"Reason: {escape(payout.remarks)}")
    if initiator is not None:
        lines.append(f"Requested by {staff_name(initiator)}")
    if approver is not None:
        lines.append(f"Approved by {staff_name(approver)}")
    if rejecter is not None:
        lines.append(f"Rejected by {staff_name(rejecter)}")
    lines.append("")
    lines.append(f"<b>{PAYOUT_HEADLINE[status].format(provider=name)}</b>")
    if status is PayoutStatus.COMPLETED:
        lines.append(f"Receipt: <code>{escape(payout.receipt or '-')}</code>")
        if payout.receiver_name:
            lines.append(f"Received by: {escape(payout.receiver_name)}")
        lines.append(f"Completed: {when(payout.completed_at)}")
    elif status is PayoutStatus.FAILED and airtel:
        info = result_of(payout.result_code, payout.result_desc, api=AirtelApi.DISBURSEMENT)
        lines.append(escape(info.meaning if payout.result_code else (payout.result_desc or "")))
        if payout.result_code and info.next_step:
            lines.append(f"👉 {escape(info.next_step)}")
    elif status is PayoutStatus.FAILED:
        # a failure has a non-zero code, or none (e.g. told by Transaction Status): never "0"
        code = payout.result_code if payout.result_code not in (None, "0") else None
        lines.extend(mpesa_result_lines(code, payout.result_desc, api=Api.B2C))
    elif status is PayoutStatus.UNKNOWN:
        lines.append(
            f"Do not send it again: the money may have gone. {name} is asked until it says; "
            "an admin can resolve it with /resolve P" + str(payout.id) + "."
        )
    return "\n".join(lines)


def mpesa_result_lines(code: str | None, desc: str | None, *, api: Api) -> list[str]:
    """What an M-Pesa result means and what to do next; the stored reason when no table knows
    the code (a spike arrest's "busy, nothing was sent", in our words, with the wait)."""
    if not code:
        return [escape(desc)] if desc else []
    info = describe_result(code, desc or "", api=api)
    if not info.recognised and desc:
        # the reason recorded with the code; a refusal of the API itself (500.003.02 spike
        # arrest, 429.001.01) was written in our words, with what to do
        lines = [escape(desc)]
        if not is_api_error_code(code):
            lines.append(f"👉 {escape(info.next_step)}")
        return lines
    lines = [escape(info.meaning)]
    if info.next_step:
        lines.append(f"👉 {escape(info.next_step)}")
    return lines


def staff_name(staff: Staff) -> str:
    """A staff member's name: as an admin gave it, else as Telegram shows it, else their id."""
    name = staff.display_name
    return escape(name) if name else f"user {staff.telegram_id}"


def refusal(exc: ServiceError | str, usage: str | None = None) -> str:
    """A refusal with its exact reason, and the command's usage when it helps."""
    text = f"⚠️ {escape(str(exc))}"
    if usage:
        text += f"\n\n{usage}"
    return text
