"""Documents customers keep: a pay link's QR code (PNG) and a receipt (PDF), in their language."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from bot.i18n import kes
from bot.i18n import translator
from bot.i18n import when
from models import Order
from models import Payment
from models import Provider

QR_SCALE = 8  # pixels per module: about 300 px for a pay link, sharp when printed


def qr_png(url: str, *, scale: int = QR_SCALE) -> bytes:
    """A PNG QR code of ``url`` (error correction M, a quiet zone of 4 modules)."""
    import segno  # imported here, like fpdf below: only these documents need them

    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


@dataclass(frozen=True)
class ReceiptLines:
    """What a receipt says, whatever it is printed on (page, PDF, e-mail)."""

    business: str
    paybill: str
    order_code: str
    description: str
    amount: int
    receipt: str
    phone: str  # masked
    paid_at: datetime | None
    airtel: bool = False  # paid by Airtel Money (else M-Pesa)


def masked_local(msisdn: str) -> str:
    """A phone as receipts and the payment page show it: 0708 *** 149."""
    local = "0" + msisdn[3:]
    return f"{local[:4]} *** {local[-3:]}"


def receipt_lines(
    order: Order, payment: Payment | None, *, business: str, paybill: str, language: str
) -> ReceiptLines:
    """What the receipt of a paid ``order`` says (``payment``: the attempt that paid it)."""
    airtel = payment is not None and payment.provider == Provider.AIRTEL
    receipt = (payment.receipt if payment else None) or order.paid_receipt
    if not receipt:  # confirmed by a status query: the provider's own SMS has the number
        _ = translator(language)
        receipt = _("confirmed by Airtel Money") if airtel else _("confirmed by M-Pesa")
    return ReceiptLines(
        business=business,
        paybill=paybill,
        order_code=order.code,
        description=order.description,
        amount=(payment.paid_amount or payment.amount) if payment else order.amount,
        receipt=receipt,
        phone=masked_local(payment.msisdn) if payment else "-",
        paid_at=order.paid_at or (payment.paid_at if payment else None),
        airtel=airtel,
    )


def receipt_rows(lines: ReceiptLines, language: str) -> list[tuple[str, str]]:
    """(label, value) rows of a receipt in ``language``."""
    _ = translator(language)
    rows = [
        (_("Shop"), lines.business),
        (_("Paybill"), lines.paybill),
        (_("Order"), lines.order_code),
    ]
    if lines.description:
        rows.append((_("For"), lines.description))
    rows += [
        (_("Amount"), kes(lines.amount)),
        (_("Airtel Money receipt") if lines.airtel else _("M-Pesa receipt"), lines.receipt),
        (_("Paid from"), lines.phone),
        (_("Date (Nairobi time)"), when(lines.paid_at, language)),
    ]
    return rows


def receipt_pdf(lines: ReceiptLines, language: str) -> bytes:
    """A one-page A4 PDF receipt (core Helvetica: text outside Latin-1 is replaced by ?)."""
    from fpdf import FPDF  # with Pillow and fontTools about 0.2 s: not paid at every start-up

    _ = translator(language)
    pdf = FPDF(format="A4")
    pdf.set_title(_("Receipt {code}", code=lines.order_code))
    pdf.set_author(lines.business)
    pdf.set_creator("mpesa-bot")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(lines.business), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    title = _("Airtel Money payment receipt") if lines.airtel else _("M-Pesa payment receipt")
    pdf.cell(0, 8, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for label, value in receipt_rows(lines, language):
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(48, 8, _latin1(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 8, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 10)
    thanks = (
        _("Thank you for paying with Airtel Money.")
        if lines.airtel
        else _("Thank you for paying with M-Pesa.")
    )
    pdf.multi_cell(0, 6, _latin1(thanks))
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")
