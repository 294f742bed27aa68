"""Airtel Money's status and response codes: outcome, meaning and next step for a cashier.

Airtel reports a result in up to four places (airtel.md §8): ``data.transaction.status`` (TS, TF,
TA, TIP, TE), ``status.response_code`` (DP...), ``status.result_code`` (ESB..., deprecated) and a
gateway ``status_code`` (ROUTER...). ``describe`` decides on the transaction status when there is
one and falls back to the codes in that order, because the same status comes with different
response codes (§11.3) and one country's table contradicts the others (§8.2).

``Outcome.UNKNOWN`` is its own class: the money may or may not have moved, so the only way out is
an enquiry by our transaction id, never a resend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What a result means for the money, whatever the code that said it."""

    SUCCESS = "success"  # the money moved (or a non-money request succeeded)
    PENDING = "pending"  # accepted and in process: wait for the callback, or enquire later
    UNKNOWN = "unknown"  # may or may not have happened: enquire later, never resend
    FAILED = "failed"  # final: the money did not move
    REFUSED = "refused"  # our request or set-up was refused before anything happened
    NOT_FOUND = "not_found"  # Airtel has no transaction with this id (perhaps not yet)

    @property
    def enquire(self) -> bool:
        """True when only an enquiry can tell how it ended (pending or unknown)."""
        return self in (Outcome.PENDING, Outcome.UNKNOWN)


class ResultCategory(StrEnum):
    """Why a result came out as it did, in the words a cashier needs."""

    SUCCESS = "success"
    PENDING = "pending"
    AMBIGUOUS = "ambiguous"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WRONG_PIN = "wrong_pin"
    TIMED_OUT = "timed_out"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_REGISTERED = "not_registered"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    FAILED = "failed"


class Api(StrEnum):
    """The Airtel product a result came from; DP codes are numbered per product."""

    COLLECTION = "collection"  # USSD push, its enquiry and callback
    REFUND = "refund"
    DISBURSEMENT = "disbursement"
    KYC = "kyc"
    BALANCE = "balance"
    KEYS = "keys"

    @property
    def moves_money(self) -> bool:
        """True for the APIs whose unexplained failure must be treated as an unknown outcome."""
        return self in (Api.COLLECTION, Api.REFUND, Api.DISBURSEMENT)


class TransactionStatus(StrEnum):
    """``data.transaction.status`` / the callback's ``status_code`` (airtel.md §5.3)."""

    SUCCESS = "TS"
    FAILED = "TF"
    AMBIGUOUS = "TA"
    IN_PROGRESS = "TIP"
    EXPIRED = "TE"

    @property
    def final(self) -> bool:
        """True for TS, TF and TE; TA and TIP must be enquired again later."""
        return self in (
            TransactionStatus.SUCCESS,
            TransactionStatus.FAILED,
            TransactionStatus.EXPIRED,
        )


@dataclass(frozen=True)
class ResultInfo:
    """A result explained: outcome, category, meaning and next step; Airtel's raw text kept."""

    code: str  # the status or code that decided ("TS", "DP00900001007", "ESB000041", "HTTP 503")
    outcome: Outcome
    category: ResultCategory
    meaning: str
    next_step: str
    retryable: bool = False  # a new request (new transaction id) makes sense
    alert_admin: bool = False  # our configuration is wrong; a cashier cannot fix it
    description: str = ""  # Airtel's message as received

    @property
    def duplicate(self) -> bool:
        """True when Airtel says our transaction id was already used: enquire the original."""
        return self.category is ResultCategory.DUPLICATE


@dataclass(frozen=True)
class _Entry:
    outcome: Outcome
    category: ResultCategory
    meaning: str
    next_step: str
    retryable: bool = False
    alert_admin: bool = False


_O = Outcome
_C = ResultCategory
_ADMIN = "Tell an administrator: "
_ENQUIRE = "Wait, then check the status with Airtel; do not send the request again."


def _config(meaning: str, fix: str) -> _Entry:
    """A row for a refusal only an administrator can fix (nothing happened)."""
    return _Entry(_O.REFUSED, _C.REFUSED, meaning, _ADMIN + fix, alert_admin=True)


def _unknown(meaning: str) -> _Entry:
    return _Entry(_O.UNKNOWN, _C.AMBIGUOUS, meaning, _ENQUIRE)


def _duplicate(meaning: str) -> _Entry:
    return _Entry(_O.UNKNOWN, _C.DUPLICATE, meaning, _ENQUIRE)


_SUCCESS = _Entry(
    _O.SUCCESS, _C.SUCCESS, "Airtel Money completed the transaction.", "Nothing to do."
)
_NOT_FOUND = _Entry(
    _O.NOT_FOUND,
    _C.NOT_FOUND,
    "Airtel Money has no transaction with this id (yet).",
    "Check again in a few minutes; a new transaction can take a while to appear.",
)
_SIGNATURE = _config(
    "Airtel refused the request: its x-signature does not match the body.",
    "check AIRTEL_SIGNING and the Airtel public key.",
)

_COLLECTION: dict[str, _Entry] = {
    "DP00800001000": _unknown("Airtel Money is still processing this payment (ambiguous state)."),
    "DP00800001001": _Entry(_O.SUCCESS, _C.SUCCESS, "The customer paid.", "Nothing to do."),
    "DP00800001002": _Entry(
        _O.FAILED,
        _C.WRONG_PIN,
        "The customer entered a wrong Airtel Money PIN.",
        "Ask the customer to try again with the correct Airtel Money PIN.",
        retryable=True,
    ),
    "DP00800001003": _Entry(
        _O.FAILED,
        _C.LIMIT_EXCEEDED,
        "The payment would go over the customer's Airtel Money transaction limit.",
        "Ask the customer to pay a smaller amount or another way.",
    ),
    "DP00800001004": _Entry(
        _O.FAILED,
        _C.LIMIT_EXCEEDED,
        "The amount is outside what Airtel Money allows for this payment.",
        "Send a request for a different amount.",
    ),
    # UG: "User did not enter the pin"; ZM: "Msisdn not found" (airtel.md §8.2)
    "DP00800001005": _Entry(
        _O.FAILED,
        _C.CANCELLED,
        "The customer did not enter their Airtel Money PIN, or the number is not on Airtel Money.",
        "Check the number with the customer, then offer to send the request again.",
        retryable=True,
    ),
    "DP00800001006": _Entry(
        _O.PENDING,
        _C.PENDING,
        "Airtel Money is processing this payment.",
        "Wait for the customer to enter their PIN; do not send the request again.",
    ),
    "DP00800001007": _Entry(
        _O.FAILED,
        _C.INSUFFICIENT_FUNDS,
        "The customer does not have enough money on Airtel Money.",
        "Ask the customer to top up Airtel Money, then send the request again.",
        retryable=True,
    ),
    "DP00800001008": _Entry(
        _O.FAILED,
        _C.FAILED,
        "Airtel Money refused the payment.",
        "Ask the customer to pay another way.",
    ),
    "DP00800001009": _Entry(
        _O.FAILED,
        _C.FAILED,
        "Airtel Money declined the payment.",
        "Ask the customer to pay another way.",
    ),
    "DP00800001010": _Entry(
        _O.FAILED,
        _C.NOT_REGISTERED,
        "This number is barred or not registered on Airtel Money.",
        "Ask the customer to pay from a registered Airtel Money line or another way.",
    ),
    "DP00800001024": _Entry(
        _O.FAILED,
        _C.TIMED_OUT,
        "The prompt timed out before the customer answered it.",
        "Offer to send the request again.",
        retryable=True,
    ),
    "DP00800001025": _NOT_FOUND,
    "DP00800001026": _SIGNATURE,
    "DP00800001029": _Entry(
        _O.FAILED,
        _C.TIMED_OUT,
        "The payment request expired.",
        "Offer to send the request again.",
        retryable=True,
    ),
}

_DISBURSEMENT: dict[str, _Entry] = {
    "DP00900001000": _unknown("Airtel Money is still processing this payout (ambiguous state)."),
    "DP00900001001": _Entry(
        _O.SUCCESS, _C.SUCCESS, "The money reached the recipient.", "Nothing to do."
    ),
    "DP00900001003": _Entry(
        _O.FAILED,
        _C.LIMIT_EXCEEDED,
        "The daily Airtel Money transaction limit is reached.",
        "Send the rest tomorrow.",
    ),
    "DP00900001004": _Entry(
        _O.FAILED,
        _C.LIMIT_EXCEEDED,
        "The amount is outside the Airtel Money limits for a payout.",
        "Send a different amount.",
    ),
    "DP00900001005": _Entry(
        _O.FAILED, _C.FAILED, "Airtel Money could not complete the payout.", "Try again later."
    ),
    "DP00900001006": _Entry(
        _O.PENDING, _C.PENDING, "Airtel Money is processing this payout.", _ENQUIRE
    ),
    "DP00900001007": _Entry(
        _O.FAILED,
        _C.INSUFFICIENT_FUNDS,
        "Our Airtel Money disbursement wallet does not have enough money for this payout.",
        _ADMIN + "top up the Airtel Money disbursement wallet, then send the payout again.",
        alert_admin=True,
    ),
    "DP00900001009": _config(
        "Airtel refused our account as the payer (invalid initiatee).",
        "check the Airtel Money merchant account set-up.",
    ),
    "DP00900001010": _config(
        "Airtel does not allow our account to make payouts.",
        "ask Airtel to enable disbursements for the app.",
    ),
    "DP00900001011": _duplicate("Airtel already has a payout with similar details."),
    "DP00900001012": _Entry(
        _O.FAILED,
        _C.NOT_REGISTERED,
        "The recipient's number is not a valid Airtel Money account.",
        "Check the phone number with the recipient.",
    ),
    # also Airtel's answer to header and body validation errors (airtel.md §6.1)
    "DP00900001013": _config(
        "Airtel refused the payout request.",
        "check the logs for Airtel's reason (PIN, phone number or set-up).",
    ),
    "DP00900001014": _unknown("The payout timed out at Airtel; it may or may not have been made."),
    "DP00900001015": _NOT_FOUND,
    "DP00900001016": _SIGNATURE,
    "DP00900001017": _duplicate("Airtel already has a payout with this transaction id."),
    "DP00900001018": _config(
        "Airtel refused the payout (forbidden).", "check the app's products and IP allow-list."
    ),
}

_ESB: dict[str, _Entry] = {
    "ESB000010": _Entry(_O.SUCCESS, _C.SUCCESS, "Airtel accepted the request.", "Nothing to do."),
    "ESB000001": _unknown("Something went wrong at Airtel; the transaction may have gone through."),
    "ESB000004": _unknown("Airtel had an error starting the payment; it may have gone through."),
    "ESB000008": _config(
        "Airtel refused the request: a field failed validation.",
        "this is a bug or a wrong setting; check the logs.",
    ),
    "ESB000011": _Entry(
        _O.FAILED, _C.FAILED, "Airtel Money reports the request failed.", "Try again later."
    ),
    "ESB000014": _unknown("Airtel could not fetch the transaction status right now."),
    "ESB000033": _config(
        "Airtel refused the phone number's length.", "this is a bug; check the logs."
    ),
    "ESB000034": _config("Airtel refused the country.", "check AIRTEL_COUNTRY (KE)."),
    "ESB000035": _config("Airtel refused the currency.", "check AIRTEL_CURRENCY (KES)."),
    "ESB000036": _config(
        "Airtel refused the phone number's format.", "this is a bug; check the logs."
    ),
    "ESB000039": _config(
        "Airtel has not set up our app for transactions in this country.",
        "ask Airtel to configure the app for Kenya.",
    ),
    "ESB000041": _duplicate("Airtel already has a transaction with this id."),
    "ESB000045": _NOT_FOUND,
}

_KYC: dict[str, _Entry] = {
    "DP02200000000": _Entry(
        _O.FAILED, _C.FAILED, "Airtel could not look up this number.", "Try again later."
    ),
    "DP02200000001": _Entry(
        _O.SUCCESS, _C.SUCCESS, "Airtel Money knows this number.", "Nothing to do."
    ),
    "DP02200000002": _Entry(
        _O.NOT_FOUND,
        _C.NOT_REGISTERED,
        "This number is not registered on Airtel Money.",
        "Check the number with the recipient, or pay another way.",
    ),
}

_BALANCE: dict[str, _Entry] = {
    "DP02100000001": _Entry(
        _O.SUCCESS, _C.SUCCESS, "Airtel reported the balance.", "Nothing to do."
    ),
}

_KEYS: dict[str, _Entry] = {
    "DP02010001000": _Entry(
        _O.FAILED, _C.FAILED, "Airtel could not hand out its encryption key.", "Try again later."
    ),
    "DP02010001001": _Entry(
        _O.SUCCESS, _C.SUCCESS, "Airtel handed out its encryption key.", "Nothing to do."
    ),
}

_ROUTER: dict[str, _Entry] = {
    "ROUTER001": _config(
        "Airtel has no wallet configured for our app.", "ask Airtel to configure it."
    ),
    "ROUTER003": _config(
        "Airtel says a header or body field is missing.", "this is a bug; check the logs."
    ),
    "ROUTER005": _config(
        "Airtel has no route for our country.", "check AIRTEL_COUNTRY and the base URL."
    ),
    "ROUTER006": _config("Airtel refused the country.", "check AIRTEL_COUNTRY (KE)."),
    "ROUTER007": _config(
        "Our app is not authorised for this country.", "ask Airtel to enable Kenya for the app."
    ),
    "ROUTER110": _config(
        "Airtel does not know our app for this country (X-Country).",
        "check AIRTEL_COUNTRY and that the app is approved.",
    ),
    "ROUTER112": _config("Airtel refused the currency.", "check AIRTEL_CURRENCY (KES)."),
    "ROUTER114": _config(
        "Airtel could not validate our disbursement PIN.", "check AIRTEL_DISBURSEMENT_PIN."
    ),
    "ROUTER115": _config("Airtel refused our disbursement PIN.", "check AIRTEL_DISBURSEMENT_PIN."),
    "ROUTER116": _config(
        "Airtel could not decrypt our disbursement PIN.",
        "check AIRTEL_PUBLIC_KEY_PATH and AIRTEL_PIN_PADDING.",
    ),
    "ROUTER117": _unknown("Airtel's gateway timed out; the request may have gone through."),
    "ROUTER119": _config("Airtel refused the currency.", "check AIRTEL_CURRENCY (KES)."),
}

_PRODUCT_TABLES: dict[Api, dict[str, _Entry]] = {
    Api.COLLECTION: _COLLECTION,
    Api.REFUND: _COLLECTION,
    Api.DISBURSEMENT: _DISBURSEMENT,
    Api.KYC: _KYC,
    Api.BALANCE: _BALANCE,
    Api.KEYS: _KEYS,
}

_FINAL_MEANING = {
    Api.COLLECTION: "The customer paid.",
    Api.REFUND: "The payment was refunded.",
    Api.DISBURSEMENT: "The money reached the recipient.",
}
_STATUS_ENTRIES: dict[TransactionStatus, _Entry] = {
    TransactionStatus.FAILED: _Entry(
        _O.FAILED, _C.FAILED, "Airtel Money reports the transaction failed.", "Offer to try again."
    ),
    TransactionStatus.EXPIRED: _Entry(
        _O.FAILED,
        _C.TIMED_OUT,
        "The transaction expired before it was completed.",
        "Offer to send the request again.",
        retryable=True,
    ),
    TransactionStatus.AMBIGUOUS: _unknown("Airtel Money reports the transaction as ambiguous."),
    TransactionStatus.IN_PROGRESS: _Entry(
        _O.PENDING, _C.PENDING, "Airtel Money is still processing the transaction.", _ENQUIRE
    ),
}
_HTTP_UNKNOWN = frozenset({408, 429})
_SPECIFIC = frozenset({Outcome.REFUSED, Outcome.UNKNOWN})
_CODE_SHAPE = re.compile(r"[A-Z]{2,}[0-9A-Z]+")


def all_codes(api: Api) -> dict[str, ResultInfo]:
    """Every code known for ``api`` (product, ESB and ROUTER tables), explained."""
    table = {**_ROUTER, **_ESB, **_PRODUCT_TABLES[api]}
    return {code: _info(code, entry, "") for code, entry in table.items()}


def parse_status(value: object) -> TransactionStatus | None:
    """Read a transaction status ("TS", " tip ", "TF") or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return TransactionStatus(value.strip().upper())
    except ValueError:
        return None


def describe(
    *,
    api: Api,
    status: object = None,
    response_code: object = None,
    result_code: object = None,
    router_code: object = None,
    success: bool | None = None,
    http_status: int | None = None,
    message: str = "",
) -> ResultInfo:
    """Explain an Airtel result: the transaction status first, then DP, ESB, ROUTER, HTTP."""
    response = _code(response_code)
    result = _code(result_code)
    router = _code(router_code)
    product = _PRODUCT_TABLES[api]
    transaction = parse_status(status)
    if transaction is TransactionStatus.SUCCESS:
        entry = _Entry(
            _O.SUCCESS, _C.SUCCESS, _FINAL_MEANING.get(api, _SUCCESS.meaning), "Nothing to do."
        )
        return _info(transaction.value, entry, message)
    if transaction is TransactionStatus.FAILED:
        # the response code may say why; one that is not a failure does not override TF
        for code in (response, result):
            entry = product.get(code) or _ESB.get(code)
            if entry is not None and entry.outcome is Outcome.FAILED:
                return _info(code, entry, message)
        return _info(transaction.value, _STATUS_ENTRIES[transaction], message)
    if transaction is not None:
        return _info(transaction.value, _STATUS_ENTRIES[transaction], message)
    if response in product:
        entry = product[response]
        specific = _ESB.get(result)
        # "Refused" + ESB000008/ESB000041 says more than "Refused" alone
        if entry.category is _C.FAILED and specific and specific.outcome in _SPECIFIC:
            return _info(result, specific, message)
        return _info(response, entry, message)
    for code, table in ((result, _ESB), (router, _ROUTER)):
        if code and code in table:
            return _info(code, table[code], message)
    if response and response in _ESB:  # an ESB code sent in the response_code field
        return _info(response, _ESB[response], message)
    if http_status is not None and 400 <= http_status < 500 and http_status not in _HTTP_UNKNOWN:
        # a 4xx without an Airtel code: the gateway refused it (a wrong path, version or body)
        entry = _config(
            f"Airtel refused the request with HTTP {http_status}.",
            "check AIRTEL_BASE_URL and the API versions; the logs have Airtel's answer.",
        )
        return _info(f"HTTP {http_status}", entry, message)
    if http_status is not None and (http_status >= 500 or http_status in _HTTP_UNKNOWN):
        entry = _unknown(f"Airtel answered HTTP {http_status}.")
        if not api.moves_money:
            entry = _Entry(_O.FAILED, _C.FAILED, entry.meaning, "Try again later.")
        return _info(f"HTTP {http_status}", entry, message)
    if success is True:
        return _info(response or result or "success", _SUCCESS, message)
    return _info(
        response or result or router or "",
        _unrecognised(response or result or router, api),
        message,
    )


def _unrecognised(code: str, api: Api) -> _Entry:
    """A code we have no row for: unknown for money (enquire), failed otherwise."""
    meaning = (
        f"Airtel reported an unrecognised result (code {code})."
        if code
        else "Airtel sent no result code."
    )
    if api.moves_money:
        return _unknown(meaning)
    return _Entry(
        _O.FAILED,
        _C.FAILED,
        meaning,
        "Try again later; if it happens again, tell an administrator.",
    )


def _code(value: object) -> str:
    """A code as one string form: " dp00800001001 " -> "DP00800001001"; numbers kept as digits."""
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    return text.upper() if _CODE_SHAPE.fullmatch(text.upper()) else text


# Like mpesa/codes.py's result building, with Airtel's outcome; kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
def _info(code: str, entry: _Entry, message: str) -> ResultInfo:
    return ResultInfo(
        code=code,
        outcome=entry.outcome,
        category=entry.category,
        meaning=entry.meaning,
        next_step=entry.next_step,
        retryable=entry.retryable,
        alert_admin=entry.alert_admin,
        description=message or "",
    )
