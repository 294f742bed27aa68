"""Airtel Money's request and response bodies: the only home of Airtel's field names.

Requests are strict (what we send is exactly what the models allow); answers are tolerant
(airtel.md §2: ``"180"`` and ``180``, ``"id": false``, missing ``data`` on errors).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated
from typing import Any
from typing import ClassVar
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

from airtel.codes import Api
from airtel.codes import ResultInfo
from airtel.codes import TransactionStatus
from airtel.codes import describe
from airtel.codes import parse_status
from airtel.phone import airtel_msisdn
from airtel.phone import international_msisdn

# our transaction ids: no documented limit; <= 32 alphanumerics is the reference's safe choice
TransactionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")]
# "alphanumeric, 4-64 characters" (airtel.md §2, an SDK's comment)
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{4,64}$")]
# strict: 1.5, "150" and True are refused here instead of being coerced into a payment
Shillings = Annotated[int, Field(strict=True, ge=1)]
# callers pass the project's "2547XXXXXXXX"; Airtel gets the 9-digit subscriber number
AirtelMsisdn = Annotated[str, BeforeValidator(airtel_msisdn)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

_ID_CHARS = string.ascii_uppercase + string.digits
_BALANCE_IN_MESSAGE = re.compile(r"\bbal(?:ance)?\b[^0-9]{0,12}([0-9][0-9,]*(?:\.[0-9]+)?)", re.I)
_MONEY = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<fraction>[0-9]{0,2}))?")
_PLACEHOLDER_NAMES = frozenset({"FN", "LN", "FIRSTNAME", "LASTNAME", "NA", "N/A", "NULL"})


def new_transaction_id(prefix: str = "") -> str:
    """A fresh transaction id: ``prefix`` + random upper-case letters and digits, 20 in all."""
    if not re.fullmatch(r"[A-Za-z0-9]{0,8}", prefix):
        raise ValueError("a transaction id prefix is at most 8 letters or digits")
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(20 - len(prefix)))


# ---- requests -------------------------------------------------------------------------------


class AirtelRequest(BaseModel):
    """Base of every request body: strict, sent as Airtel's snake_case JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    def to_body(self) -> dict[str, Any]:
        """The JSON body Airtel expects (optional fields left out when unset)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class TokenRequest(AirtelRequest):
    """Body of ``POST /auth/oauth2/token``."""

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    grant_type: Literal["client_credentials"] = "client_credentials"


class Subscriber(AirtelRequest):
    """The payer of a USSD push."""

    country: Country | None = None
    currency: Currency | None = None
    msisdn: AirtelMsisdn


class CollectionTransaction(AirtelRequest):
    """The ``transaction`` of a USSD push: our id and the amount in shillings."""

    amount: Shillings
    country: Country | None = None
    currency: Currency | None = None
    id: TransactionId


class UssdPushRequest(AirtelRequest):
    """Body of ``POST /merchant/v1/payments/`` (v2 has the same body)."""

    reference: Reference
    subscriber: Subscriber
    transaction: CollectionTransaction


class RefundTransaction(AirtelRequest):
    """The collection to refund, by Airtel's receipt."""

    airtel_money_id: str = Field(min_length=1, max_length=64)


class RefundRequest(AirtelRequest):
    """Body of ``POST /standard/v1/payments/refund``: full refunds only, no amount."""

    transaction: RefundTransaction


class Payee(AirtelRequest):
    """The recipient of a disbursement; v2 adds the currency."""

    msisdn: AirtelMsisdn
    currency: Currency | None = None


class DisbursementTransaction(AirtelRequest):
    """A disbursement's ``transaction``; v2 adds ``type`` (B2C to a person, B2B to a business)."""

    amount: Shillings
    id: TransactionId
    type: Literal["B2C", "B2B"] | None = None


class DisbursementRequest(AirtelRequest):
    """Body of ``POST /standard/v1/disbursements/`` (or v2) with the RSA-encrypted PIN."""

    payee: Payee
    reference: Reference
    pin: str = Field(min_length=1, repr=False)
    transaction: DisbursementTransaction


# ---- answers --------------------------------------------------------------------------------


def scalar_text(value: object) -> str | None:
    """A scalar as text ("id": false, objects, lists and empty strings are None); no ".0"."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _flag(value: object) -> bool | None:
    """A JSON boolean, or "true"/"false" as text."""
    if isinstance(value, bool):
        return value
    text = (scalar_text(value) or "").lower()
    return {"true": True, "false": False}.get(text)


def _object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


Text = Annotated[str | None, BeforeValidator(scalar_text)]
Flag = Annotated[bool | None, BeforeValidator(_flag)]
Object = Annotated[dict[str, Any] | None, BeforeValidator(_object)]


class AirtelResponse(BaseModel):
    """Base of every answer: frozen, unknown fields ignored, loose types coerced."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)


class Status(AirtelResponse):
    """The ``status`` object of the standard envelope."""

    code: Text = None  # "200", "400", "404" as a string
    message: Text = None
    result_code: Text = None  # ESB..., deprecated but still sent
    response_code: Text = None  # DP..., the one to branch on
    success: Flag = None


class Envelope(AirtelResponse):
    """Any Airtel answer: standard ``{data, status}``, OAuth-style ``error`` or router-style."""

    data: Object = None
    status: Annotated[
        Status | None, BeforeValidator(lambda v: v if isinstance(v, dict) else None)
    ] = None
    error: Text = None  # "invalid_client", "invalid_token"
    error_description: Text = None
    status_code: Text = None  # "ROUTER110"
    status_message: Text = None

    @property
    def transaction(self) -> dict[str, Any]:
        """``data.transaction``, or {} when absent."""
        return _object((self.data or {}).get("transaction")) or {}

    @property
    def message(self) -> str:
        """The most specific human text in the answer."""
        parts = (
            self.transaction.get("message"),
            self.status.message if self.status else None,
            self.error_description,
            self.status_message,
            self.error,
        )
        return next((text for text in map(scalar_text, parts) if text), "")

    def describe(self, api: Api, *, http_status: int | None = None) -> ResultInfo:
        """Explain the answer with the code tables (transaction status first)."""
        status = self.status or Status()
        return describe(
            api=api,
            status=self.transaction.get("status"),
            response_code=status.response_code,
            result_code=status.result_code,
            router_code=self.status_code,
            success=status.success,
            http_status=http_status,
            message=self.message,
        )


class TokenResponse(AirtelResponse):
    """``POST /auth/oauth2/token``'s answer; ``expires_in`` is "180" or 180."""

    access_token: str = Field(min_length=1)
    expires_in: Text = None
    token_type: Text = None


class PushAccepted(AirtelResponse):
    """Airtel sent the USSD prompt (DP00800001006 "in process"): the result comes later."""

    transaction_id: str
    status: str | None = None  # "SUCCESS": the push was sent, not paid
    response_code: str | None = None
    result_code: str | None = None
    message: str = ""


class _Enquiry(AirtelResponse):
    """An enquiry's answer: the transaction's status, or ``found=False``."""

    transaction_id: str
    found: bool = True
    status: TransactionStatus | None = None
    status_text: str | None = None  # as sent, even when not one of TS/TF/TA/TIP/TE
    airtel_money_id: str | None = None
    message: str = ""
    response_code: str | None = None
    result_code: str | None = None

    api: ClassVar[Api] = Api.COLLECTION

    @property
    def final(self) -> bool:
        """True when the transaction reached TS, TF or TE."""
        return self.status is not None and self.status.final

    @property
    def succeeded(self) -> bool:
        """True when Airtel reports the money moved (TS)."""
        return self.status is TransactionStatus.SUCCESS

    @property
    def info(self) -> ResultInfo:
        """The status explained for a cashier."""
        return describe(
            api=self.api,
            status=self.status_text,
            response_code=self.response_code,
            result_code=self.result_code,
            message=self.message,
        )


class CollectionStatus(_Enquiry):
    """``GET /standard/v1/payments/{id}``: how a USSD push payment stands."""


class DisbursementStatus(_Enquiry):
    """``GET /standard/v1/disbursements/{id}``: how a payout stands."""

    api: ClassVar[Api] = Api.DISBURSEMENT


class RefundResult(AirtelResponse):
    """Airtel's answer to a refund (full refunds only)."""

    airtel_money_id: str
    status: str | None = None
    response_code: str | None = None
    result_code: str | None = None
    message: str = ""


class DisbursementResult(AirtelResponse):
    """A disbursement that Airtel reports as done (TS)."""

    transaction_id: str
    airtel_money_id: str | None = None
    reference_id: str | None = None  # Airtel's own transaction reference ("TID")
    status: TransactionStatus = TransactionStatus.SUCCESS
    response_code: str | None = None
    result_code: str | None = None
    message: str = ""

    @property
    def balance_cents(self) -> int | None:
        """The disbursement wallet's balance quoted in Airtel's message ("Bal KES 19500.00")."""
        return balance_in_message(self.message)


class KycUser(AirtelResponse):
    """``GET /standard/v1/users/{msisdn}``: who holds an Airtel Money account."""

    msisdn: str  # the project's 2547XXXXXXXX form
    first_name: str | None = None
    last_name: str | None = None
    grade: str | None = None
    is_barred: bool | None = None
    is_pin_set: bool | None = None
    registration_status: str | None = None

    @property
    def name(self) -> str | None:
        """The holder's name as Airtel gives it, without placeholders like "FN"/"LN"; or None."""
        parts = [
            part.strip()
            for part in (self.first_name, self.last_name)
            if part and part.strip() and part.strip().upper() not in _PLACEHOLDER_NAMES
        ]
        return " ".join(parts) or None

    @property
    def can_receive(self) -> bool:
        """True unless Airtel reports the account as barred."""
        return self.is_barred is not True


class Balance(AirtelResponse):
    """``GET /standard/v1/users/balance``: the wallet's balance in cents (Airtel sends a string)."""

    balance_cents: int
    currency: str | None = None
    account_status: str | None = None


class EncryptionKey(AirtelResponse):
    """``GET /v1/rsa/encryption-keys``: Airtel's RSA public key (Base64 DER) and its validity."""

    key_id: str | None = None
    key: str = Field(min_length=1, repr=False)
    valid_upto: datetime | None = None


def read_envelope(body: dict[str, Any]) -> Envelope:
    """Read any answer body into an ``Envelope`` (never fails on a JSON object)."""
    return Envelope.model_validate(body)


def _codes(envelope: Envelope) -> dict[str, Any]:
    """What every transaction answer carries besides its ids: Airtel's two codes and its text."""
    status = envelope.status or Status()
    return {
        "response_code": status.response_code,
        "result_code": status.result_code,
        "message": envelope.message,
    }


def push_accepted(envelope: Envelope, transaction_id: str) -> PushAccepted:
    """The USSD push answer; ``data.transaction.id`` may be ``false`` (airtel.md §2)."""
    transaction = envelope.transaction
    return PushAccepted(
        transaction_id=scalar_text(transaction.get("id")) or transaction_id,
        status=scalar_text(transaction.get("status")),
        **_codes(envelope),
    )


def enquiry(model: type[_Enquiry], envelope: Envelope, transaction_id: str, *, found: bool) -> Any:
    """An enquiry answer as ``model`` (CollectionStatus or DisbursementStatus)."""
    transaction = envelope.transaction
    text = scalar_text(transaction.get("status"))
    return model(
        transaction_id=scalar_text(transaction.get("id")) or transaction_id,
        found=found,
        status=parse_status(text),
        status_text=text,
        airtel_money_id=scalar_text(transaction.get("airtel_money_id")),
        **_codes(envelope),
    )


def refund_result(envelope: Envelope, airtel_money_id: str) -> RefundResult:
    """The refund answer (the doc's own sample has ``success: false`` beside "SUCCESS")."""
    transaction = envelope.transaction
    return RefundResult(
        airtel_money_id=scalar_text(transaction.get("airtel_money_id")) or airtel_money_id,
        status=scalar_text(transaction.get("status")),
        **_codes(envelope),
    )


def disbursement_result(envelope: Envelope, transaction_id: str) -> DisbursementResult:
    """A successful disbursement answer."""
    transaction = envelope.transaction
    return DisbursementResult(
        transaction_id=scalar_text(transaction.get("id")) or transaction_id,
        airtel_money_id=scalar_text(transaction.get("airtel_money_id")),
        reference_id=scalar_text(transaction.get("reference_id")),
        **_codes(envelope),
    )


def kyc_user(envelope: Envelope, msisdn: str) -> KycUser:
    """A KYC answer's ``data`` (``registration.status`` or the Go model's ``reg_status``)."""
    data = envelope.data or {}
    registration = _object(data.get("registration")) or {}
    reported = scalar_text(data.get("msisdn"))
    try:
        number = international_msisdn(reported) if reported else msisdn
    except ValueError:
        number = msisdn
    return KycUser(
        msisdn=number,
        first_name=scalar_text(data.get("first_name")),
        last_name=scalar_text(data.get("last_name")),
        grade=scalar_text(data.get("grade")),
        is_barred=_flag(data.get("is_barred")),
        is_pin_set=_flag(data.get("is_pin_set")),
        registration_status=scalar_text(registration.get("status"))
        or scalar_text(data.get("reg_status")),
    )


def balance(envelope: Envelope) -> Balance | None:
    """The balance answer, or None when ``data.balance`` is not an amount."""
    data = envelope.data or {}
    cents = cents_from_text(scalar_text(data.get("balance")))
    if cents is None:
        return None
    return Balance(
        balance_cents=cents,
        currency=scalar_text(data.get("currency")),
        account_status=scalar_text(data.get("account_status")),
    )


def encryption_key(envelope: Envelope) -> EncryptionKey | None:
    """The encryption-keys answer, or None when it carries no key."""
    data = envelope.data or {}
    key = scalar_text(data.get("key"))
    if key is None:
        return None
    return EncryptionKey(
        key_id=scalar_text(data.get("key_id")),
        key=key,
        valid_upto=_valid_upto(data.get("valid_upto")),
    )


def cents_from_text(text: str | None) -> int | None:
    """ "230486.65" or "1,234.5" -> int cents; None when it is not an amount."""
    if text is None:
        return None
    match = _MONEY.fullmatch(text.strip())
    if match is None:
        return None
    whole = int(match.group("whole").replace(",", ""))
    fraction = (match.group("fraction") or "").ljust(2, "0")
    return whole * 100 + int(fraction)


def balance_in_message(message: str) -> int | None:
    """The balance quoted in a disbursement message ("Bal KES 19500.00"), in cents."""
    match = _BALANCE_IN_MESSAGE.search(message or "")
    return cents_from_text(match.group(1)) if match else None


def _valid_upto(value: object) -> datetime | None:
    """ "12-08-2024 21:29:26" (day first, airtel.md §4) or ISO; None when unreadable."""
    text = scalar_text(value)
    if text is None:
        return None
    for pattern in ("%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
