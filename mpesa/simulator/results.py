"""Builders of the ``{"Result": {...}}`` bodies Daraja POSTs for B2C, status, balance, reversal."""

from __future__ import annotations

from datetime import datetime

from mpesa.security import daraja_timestamp

INTERNAL_URL = "https://internalsandbox.safaricom.co.ke/mpesa/{kind}/v1/submit"
_NO_VALUE = object()


def param(key: str, value: object = _NO_VALUE) -> dict[str, object]:
    """Return one ``{"Key", "Value"}`` item; without a value the item has no Value (as Daraja)."""
    return {"Key": key} if value is _NO_VALUE else {"Key": key, "Value": value}


def number_time(moment: datetime) -> int:
    """Return a YYYYMMDDHHMMSS timestamp as the JSON number Daraja sends in results."""
    return int(daraja_timestamp(moment))


def internal_reference(kind: str) -> dict[str, object]:
    """Return ReferenceData holding Daraja's internal queue URL (``kind`` like b2cresults)."""
    return {"ReferenceItem": param("QueueTimeoutURL", INTERNAL_URL.format(kind=kind))}


def org_name(shortcode: str) -> str:
    """Return a shortcode's public name in results: ``600984 - Safaricom Daraja 984``."""
    return f"{shortcode} - Safaricom Daraja {shortcode[-3:]}"


def result(
    *,
    code: int | str,
    desc: str,
    originator_conversation_id: str,
    conversation_id: str,
    transaction_id: str,
    parameters: list[dict[str, object]] | dict[str, object] | None = None,
    reference: dict[str, object] | None = None,
    result_type: int = 0,
) -> dict[str, object]:
    """Return a Result envelope; ``parameters`` may be one item (Daraja's failure samples do it)."""
    body: dict[str, object] = {
        "ResultType": result_type,
        "ResultCode": code,
        "ResultDesc": desc,
        "OriginatorConversationID": originator_conversation_id,
        "ConversationID": conversation_id,
        "TransactionID": transaction_id,
    }
    if parameters is not None:
        body["ResultParameters"] = {"ResultParameter": parameters}
    if reference is not None:
        body["ReferenceData"] = reference
    return {"Result": body}


def balance_line(name: str, amount: int) -> str:
    """Return one ``name|KES|current|available|reserved|uncleared`` account (two decimals)."""
    return f"{name}|KES|{amount}.00|{amount}.00|0.00|0.00"
