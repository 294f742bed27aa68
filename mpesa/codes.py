"""Daraja result codes: what each means for a cashier, what to do next, whether to alert admins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mpesa.amounts import B2C_MINIMUM
from mpesa.amounts import STK_MINIMUM
from mpesa.amounts import format_kes

STILL_PROCESSING_ERROR = "500.001.1001"  # STK Query's HTTP-500 "The transaction is being processed"
_INTEGRAL = re.compile(r"[-+]?[0-9]+(?:\.0*)?")
# the API's own error codes (HTTP answers, e.g. 500.003.02 spike arrest, 429.001.01), as opposed
# to a transaction's result code (0, 1032, SFC_IC0003) in a callback or query
_API_ERROR = re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]+")


class ResultCategory(StrEnum):
    """What a result means for the payment, independent of the API that reported it."""

    SUCCESS = "success"
    CANCELLED = "cancelled"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WRONG_PIN = "wrong_pin"
    TIMED_OUT = "timed_out"
    PENDING = "pending"
    FAILED = "failed"


class Api(StrEnum):
    """The Daraja API a result came from; a few codes mean different things per API."""

    STK = "stk"
    B2C = "b2c"
    STATUS = "status"
    BALANCE = "balance"
    REVERSAL = "reversal"
    C2B = "c2b"


@dataclass(frozen=True)
class ResultInfo:
    """A result code explained: category, meaning and next step in cashier words, raw text kept."""

    code: str
    category: ResultCategory
    meaning: str
    next_step: str
    retryable: bool = False  # offering the same request again makes sense
    alert_admin: bool = False  # our configuration is wrong; a cashier cannot fix it
    description: str = ""  # Daraja's ResultDesc as received
    recognised: bool = True  # False: no table knows the code (the meaning says so)


@dataclass(frozen=True)
class _Entry:
    """One row of a result table."""

    category: ResultCategory
    meaning: str
    next_step: str
    retryable: bool = False
    alert_admin: bool = False


_F = ResultCategory.FAILED
_ADMIN = "Tell an administrator: "


def _config(meaning: str, fix: str) -> _Entry:
    """A row for a configuration problem only an administrator can fix."""
    return _Entry(_F, meaning, _ADMIN + fix, alert_admin=True)


_PENDING = _Entry(
    ResultCategory.PENDING,
    "M-Pesa is still processing this transaction.",
    "Wait for the result; do not send the request again.",
)
_BUSY = _Entry(
    _F,
    "M-Pesa was too busy to process the request.",
    "Wait a few minutes, check the status, then send the request again.",
    retryable=True,
)

# codes that mean the same for every API (daraja.md §16)
_COMMON: dict[str, _Entry] = {
    "4999": _PENDING,
    "17": _Entry(
        _F,
        "M-Pesa blocked a repeat of the same request within 2 minutes.",
        "Wait 2 minutes, check the status, then send the request again.",
        retryable=True,
    ),
    "26": _BUSY,
    "9999": _BUSY,
    "1019": _Entry(
        ResultCategory.TIMED_OUT,
        "The request expired before it was completed.",
        "Offer to send the request again.",
        retryable=True,
    ),
    "1037": _Entry(
        ResultCategory.TIMED_OUT,
        "The customer's phone could not be reached.",
        "Ask the customer to check the phone is on, has signal and the SIM is up to date "
        "(dial *234*1*6#), then resend.",
        retryable=True,
    ),
    "11": _config(
        "Our M-Pesa account is not in a state that allows this transaction.",
        "check the shortcode is active for this product.",
    ),
    "15": _Entry(
        _F,
        "M-Pesa detected a duplicate of this request.",
        "Check the transaction status before doing anything else.",
    ),
    "18": _config(
        "M-Pesa rejected our initiator password.",
        "check the initiator password and certificate in the settings.",
    ),
    "19": _BUSY,
    "20": _config(
        "M-Pesa does not know our initiator username.",
        "check the initiator name in the settings.",
    ),
    "21": _config(
        "Our M-Pesa initiator is not allowed to use this API.",
        "give the API initiator the missing role on the M-Pesa portal.",
    ),
    "22": _config(
        "M-Pesa refused the request for lack of permission.",
        "check the initiator's roles on the M-Pesa portal.",
    ),
    "24": _config(
        "M-Pesa says the request was missing required fields.",
        "this is a bug or a setting left empty; check the logs.",
    ),
    "25": _config(
        "M-Pesa says the request had invalid parameters.",
        "this is a bug or a wrong setting; check the logs.",
    ),
    "29": _config(
        "M-Pesa does not accept this command for our account.",
        "check the command and product set-up for the shortcode.",
    ),
    "2006": _config(
        "The account status does not allow this transaction.",
        "check the shortcode's status with Safaricom.",
    ),
    "2028": _config(
        "M-Pesa refused the request: this shortcode is not set up for this kind of transaction.",
        "check the transaction type and the till or paybill number in the settings.",
    ),
}

_STK: dict[str, _Entry] = {
    "0": _Entry(ResultCategory.SUCCESS, "The customer paid.", "Nothing to do."),
    "1": _Entry(
        ResultCategory.INSUFFICIENT_FUNDS,
        "The customer does not have enough money on M-Pesa.",
        "Ask the customer to top up M-Pesa, then send the request again.",
        retryable=True,
    ),
    "2": _Entry(
        _F,
        "The amount is below the M-Pesa minimum.",
        f"Send a new request for at least {format_kes(STK_MINIMUM)}.",
    ),
    "3": _Entry(
        _F,
        "The amount is above the M-Pesa limit per transaction.",
        "Split the payment into smaller requests.",
    ),
    "4": _Entry(
        _F,
        "The payment would go over the customer's daily M-Pesa limit.",
        "Ask the customer to pay the rest tomorrow or from another M-Pesa line.",
    ),
    "8": _Entry(
        _F,
        "The payment would go over an M-Pesa account's maximum balance.",
        "Ask the customer to pay a smaller amount or from another M-Pesa line.",
    ),
    "1001": _Entry(
        _F,
        "Another M-Pesa prompt is open on the customer's phone.",
        "Wait a minute for the other prompt to close, then send the request again.",
        retryable=True,
    ),
    "1019": _Entry(
        ResultCategory.TIMED_OUT,
        "The prompt expired before the customer answered it.",
        "Offer to send the request again.",
        retryable=True,
    ),
    "1025": _Entry(
        _F,
        "M-Pesa could not send the prompt to the phone.",
        "Send the request again; if it keeps failing, use a shorter reference.",
        retryable=True,
    ),
    "9999": _Entry(
        _F,
        "M-Pesa could not send the prompt to the phone.",
        "Wait a minute, then send the request again.",
        retryable=True,
    ),
    "1032": _Entry(
        ResultCategory.CANCELLED,
        "The customer cancelled the prompt.",
        "Offer to send the request again.",
        retryable=True,
    ),
    "2001": _Entry(
        ResultCategory.WRONG_PIN,
        "The customer entered a wrong M-Pesa PIN.",
        "Ask the customer to try again with the correct M-Pesa PIN.",
        retryable=True,
    ),
    "8006": _Entry(
        _F,
        "The customer's M-Pesa PIN is locked.",
        "Ask the customer to call Safaricom on 100 to unlock M-Pesa, then send the request again.",
    ),
    "SFC_IC0003": _config(
        "M-Pesa does not recognise our till or paybill for this kind of payment.",
        "check the transaction type and the till or paybill number in the settings.",
    ),
    "E3008": _Entry(
        _F,
        "M-Pesa refused this customer's line (in the sandbox, only the test phone works).",
        "Ask the customer to pay another way; in the sandbox use the test phone.",
    ),
}

# B2C, Transaction Status, Account Balance and Reversal all run as our API initiator
_INITIATOR: dict[str, _Entry] = {
    "1": _Entry(
        ResultCategory.INSUFFICIENT_FUNDS,
        "Our M-Pesa account does not have enough money for this.",
        _ADMIN + "top up the shortcode's account, then try again.",
        alert_admin=True,
    ),
    "2": _Entry(
        _F,
        "The amount is below the M-Pesa minimum.",
        f"Send at least {format_kes(B2C_MINIMUM)}.",
    ),
    "3": _Entry(
        _F,
        "The amount is above the M-Pesa limit per transaction.",
        "Split it into smaller amounts.",
    ),
    "4": _Entry(
        _F,
        "This would go over the recipient's daily M-Pesa limit.",
        "Send the rest tomorrow.",
    ),
    "8": _Entry(
        _F,
        "This would take the recipient's M-Pesa over its maximum balance.",
        "Ask the recipient to make room on M-Pesa, or send a smaller amount.",
    ),
    "2001": _config(
        "M-Pesa rejected our initiator credentials (name, password or certificate).",
        "check the initiator name, password and certificate in the settings.",
    ),
    "2040": _Entry(
        _F,
        "The recipient is not registered on M-Pesa.",
        "Ask the recipient to register for M-Pesa, or pay another way.",
    ),
    "8006": _config(
        "Our M-Pesa API user is locked after failed credential checks.",
        "unlock the API initiator on the M-Pesa portal and fix its password.",
    ),
    "SFC_IC0003": _Entry(
        _F,
        "M-Pesa says the phone number is invalid or not on M-Pesa.",
        "Check the phone number with the recipient.",
    ),
}

_B2C: dict[str, _Entry] = {
    # payouts are paid from the utility account only; money in the working account does not count
    "1": _Entry(
        ResultCategory.INSUFFICIENT_FUNDS,
        "Our B2C utility account does not have enough money for this payout.",
        _ADMIN + "top up the B2C utility account, then send the payout again.",
        alert_admin=True,
    ),
}

_SUCCESS_MEANING = {
    Api.STK: "The customer paid.",
    Api.B2C: "The money reached the recipient.",
    Api.STATUS: "M-Pesa answered the status query.",
    Api.BALANCE: "M-Pesa reported the balance.",
    Api.REVERSAL: "The payment was reversed.",
    Api.C2B: "The payment was received.",
}

_REVERSAL: dict[str, _Entry] = {
    "R000001": _Entry(
        _F,
        "This payment was already reversed.",
        "Nothing to do: check the earlier reversal.",
    ),
    "R000002": _Entry(
        _F,
        "M-Pesa does not recognise the receipt to reverse.",
        "Check the M-Pesa receipt number, then try again.",
    ),
}

# our own answers to C2B validation; they choose the SMS the customer gets
_C2B: dict[str, _Entry] = {
    "C2B00011": _Entry(_F, "The payment was refused: invalid phone number.", "Nothing to do."),
    "C2B00012": _Entry(_F, "The payment was refused: invalid account number.", "Nothing to do."),
    "C2B00013": _Entry(_F, "The payment was refused: invalid amount.", "Nothing to do."),
    "C2B00014": _Entry(_F, "The payment was refused: invalid KYC details.", "Nothing to do."),
    "C2B00015": _Entry(_F, "The payment was refused: invalid shortcode.", "Nothing to do."),
    "C2B00016": _Entry(_F, "The payment was refused.", "Nothing to do."),
}

_TABLES: dict[Api, dict[str, _Entry]] = {
    Api.STK: {**_COMMON, **_STK},
    Api.B2C: {**_COMMON, **_INITIATOR, **_B2C},
    Api.STATUS: {**_COMMON, **_INITIATOR},
    Api.BALANCE: {**_COMMON, **_INITIATOR},
    Api.REVERSAL: {**_COMMON, **_INITIATOR, **_REVERSAL},
    Api.C2B: {**_COMMON, **_C2B},
}


def normalize_result_code(code: object) -> str:
    """Bring a result code to one string form: 0, "0", 0.0, " 0 " -> "0"; "SFC_IC0003" unchanged."""
    if code is None or isinstance(code, bool):
        return ""
    if isinstance(code, int):
        return str(code)
    if isinstance(code, float):
        return str(int(code)) if code.is_integer() else repr(code)
    text = str(code).strip()
    if _INTEGRAL.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def is_api_error_code(code: object) -> bool:
    """True for an API error code such as 500.003.02 (the request was answered with an error)."""
    return bool(_API_ERROR.fullmatch(normalize_result_code(code)))


def is_still_processing(code: object, description: str = "") -> bool:
    """True if "not final yet": 4999, or STK Query's 500.001.1001 "being processed"."""
    normalised = normalize_result_code(code)
    if normalised == "4999":
        return True
    text = (description or "").lower()
    return normalised == STILL_PROCESSING_ERROR and (
        "being processed" in text or "under processing" in text
    )


def describe_result(
    code: str | int | float | None, description: str = "", *, api: Api = Api.STK
) -> ResultInfo:
    """Explain a Daraja result code for a cashier, in the context of the API that reported it."""
    normalised = normalize_result_code(code)
    desc = description or ""
    recognised = True
    if normalised == "0":
        entry = _Entry(ResultCategory.SUCCESS, _SUCCESS_MEANING[api], "Nothing to do.")
    elif is_still_processing(normalised, desc):
        entry = _PENDING
    elif normalised == STILL_PROCESSING_ERROR and "lock subscriber" in desc.lower():
        # the synchronous twin of 1001: a prompt is already open on that phone
        entry = _TABLES[Api.STK]["1001"]
    else:
        known = _TABLES[api].get(normalised)
        recognised = known is not None
        entry = known or _unknown(normalised)
    return ResultInfo(
        code=normalised,
        category=entry.category,
        meaning=entry.meaning,
        next_step=entry.next_step,
        retryable=entry.retryable,
        alert_admin=entry.alert_admin,
        description=desc,
        recognised=recognised,
    )


def _unknown(code: str) -> _Entry:
    """The row for a code we have no table entry for: failed, raw text kept by the caller."""
    if not code:
        meaning = "M-Pesa sent no result code."
    else:
        meaning = f"M-Pesa reported an unrecognised result (code {code})."
    return _Entry(
        _F,
        meaning,
        "Check the status before trying again; if it happens again, tell an administrator.",
    )
