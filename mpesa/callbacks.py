"""Daraja's asynchronous callbacks parsed into typed, frozen models, tolerant as daraja.md §12 asks.

Daraja's callback field names live here (and in ``mpesa/models.py``) only. Every parser accepts
bytes, str or an already-decoded mapping and raises ``CallbackParseError`` naming what is missing.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mpesa.amounts import whole_shillings
from mpesa.codes import normalize_result_code
from mpesa.errors import CallbackParseError
from mpesa.security import NAIROBI, parse_daraja_timestamp

# answers we send back (callback_ack.json, c2b_*_response.json); treat them as read-only
ACK: Final = {"ResultCode": 0, "ResultDesc": "Accepted"}
C2B_CONFIRMATION_ACK: Final = {"ResultCode": 0, "ResultDesc": "Success"}

C2B_INVALID_MSISDN = "C2B00011"
C2B_INVALID_ACCOUNT = "C2B00012"
C2B_INVALID_AMOUNT = "C2B00013"
C2B_INVALID_KYC = "C2B00014"
C2B_INVALID_SHORTCODE = "C2B00015"
C2B_OTHER_ERROR = "C2B00016"
C2B_REJECT_CODES = frozenset(
    {
        C2B_INVALID_MSISDN,
        C2B_INVALID_ACCOUNT,
        C2B_INVALID_AMOUNT,
        C2B_INVALID_KYC,
        C2B_INVALID_SHORTCODE,
        C2B_OTHER_ERROR,
    }
)

_DARAJA_STAMP = re.compile(r"[0-9]{14}(?:\.0*)?")
_DOTTED_TIME = "%d.%m.%Y %H:%M:%S"  # B2C TransactionCompletedDateTime, "20.11.2026 14:31:07"
_MONEY = re.compile(
    r"(?P<sign>[-+])?\s*(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
)
_PHONE_PART = re.compile(r"\+?[0-9*][0-9* ]*")
_PARTY = re.compile(r"(?P<phone>\+?[0-9*][0-9* ]*?)\s*-\s*(?P<name>.*)")
_SEARCH_LIMIT = 10_000  # nodes visited when hunting ids in an arbitrary time-out body


def c2b_accept(third_party_trans_id: str | None = None) -> dict[str, str]:
    """Our answer accepting a C2B validation; the optional reference comes back on confirmation."""
    answer = {"ResultCode": "0", "ResultDesc": "Accepted"}
    if third_party_trans_id:
        answer["ThirdPartyTransID"] = third_party_trans_id
    return answer


def c2b_reject(code: str = C2B_INVALID_ACCOUNT) -> dict[str, str]:
    """Our answer rejecting a C2B validation; the code (C2B00011-16) picks the customer's SMS."""
    if code not in C2B_REJECT_CODES:
        raise ValueError(f"{code!r} is not a C2B rejection code (C2B00011-C2B00016)")
    return {"ResultCode": code, "ResultDesc": "Rejected"}


# ---- lenient value conversions ------------------------------------------------------------


def _norm(key: str) -> str:
    """A key for loose comparison: "Originator Conversation ID" -> "originatorconversationid"."""
    return "".join(key.split()).casefold()


def _compact(key: str) -> str:
    """Drop whitespace from a key but keep its case: "Conversation ID" -> "ConversationID"."""
    return "".join(key.split())


def _text(value: object) -> str | None:
    """A scalar as text (numbers without a spurious ".0"), stripped; None when absent or empty."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value).strip()
    return text or None


def _raw_text(value: object) -> str:
    """A free-text field (names, account numbers) as sent, "" when absent."""
    if value is None or isinstance(value, bool | Mapping | list):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _required_text(value: object) -> str:
    """An identifier that must be present and non-empty."""
    text = _text(value)
    if text is None:
        raise ValueError("is empty")
    return text


def _result_code(value: object) -> str:
    """A result code normalised to a string (0, "0", 0.0 -> "0"); empty is an error."""
    code = normalize_result_code(value)
    if not code:
        raise ValueError("is empty")
    return code


def _optional_int(value: object) -> int | None:
    """An informational integer (ResultType) or None when it is not one."""
    text = _text(value)
    if text is None or not re.fullmatch(r"[-+]?[0-9]+(?:\.0*)?", text):
        return None
    return int(text.split(".")[0])


def _when(value: object) -> datetime | None:
    """A Daraja time (YYYYMMDDHHMMSS as number/string, "DD.MM.YYYY HH:MM:SS", ISO) in Nairobi time.

    An unreadable time is None, not an error: a payment must not be lost over its timestamp.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=NAIROBI) if value.tzinfo is None else value.astimezone(NAIROBI)
    text = _text(value)
    if text is None:
        return None
    try:
        if _DARAJA_STAMP.fullmatch(text):
            return parse_daraja_timestamp(text[:14])
        if re.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4} [0-9:]+", text):
            return datetime.strptime(text, _DOTTED_TIME).replace(tzinfo=NAIROBI)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=NAIROBI) if moment.tzinfo is None else moment.astimezone(NAIROBI)


def _cents(value: object) -> int | None:
    """A balance ("25000.00", 94520.0, "-213.00", "1,234.5") in int cents; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 100
    # a float's repr is the shortest decimal that round-trips, i.e. what Daraja wrote
    text = repr(value) if isinstance(value, float) else _text(value)
    match = _MONEY.fullmatch(text.strip()) if text else None
    if match is None:
        return None
    whole = match.group("whole").replace(",", "")
    fraction = match.group("fraction") or ""
    if not whole and not fraction:
        return None
    if fraction[2:].strip("0"):
        return None  # sub-cent digits: not a balance we can hold exactly
    cents = int(whole or "0") * 100 + int((fraction[:2] or "0").ljust(2, "0"))
    return -cents if match.group("sign") == "-" else cents


def _yes_no(value: object) -> bool | None:
    """Daraja's "Y"/"N" flags as bool; None when absent or unrecognised."""
    if isinstance(value, bool):
        return value
    text = (_text(value) or "").casefold()
    if text in ("y", "yes", "true", "1"):
        return True
    if text in ("n", "no", "false", "0"):
        return False
    return None


Shillings = Annotated[int, BeforeValidator(whole_shillings)]
ResultCode = Annotated[str, BeforeValidator(_result_code)]
RequiredText = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[str | None, BeforeValidator(_text)]
FreeText = Annotated[str, BeforeValidator(_raw_text)]
DarajaTime = Annotated[datetime | None, BeforeValidator(_when)]
OptionalInt = Annotated[int | None, BeforeValidator(_optional_int)]


# ---- models -----------------------------------------------------------------------------------


class _Incoming(BaseModel):
    """Base of callback models: frozen, unknown fields ignored, Daraja keys matched loosely."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _match_daraja_keys(cls, data: Any) -> Any:
        """Rename keys that differ from an alias only by spaces or case ("Result Code")."""
        if not isinstance(data, Mapping):
            return data
        aliases = {_norm(f.alias): f.alias for f in cls.model_fields.values() if f.alias}
        matched: dict[str, Any] = {}
        rest: dict[Any, Any] = {}
        for key, value in data.items():
            alias = aliases.get(_norm(key)) if isinstance(key, str) else None
            if alias is None:
                rest[key] = value
            elif key == alias or alias not in matched:  # the exact spelling wins
                matched[alias] = value
        return {**rest, **matched}


class StkCallback(_Incoming):
    """The STK Push result posted to our CallBackURL (Body.stkCallback)."""

    merchant_request_id: FreeText = Field(default="", alias="MerchantRequestID")
    checkout_request_id: RequiredText = Field(alias="CheckoutRequestID")
    result_code: ResultCode = Field(alias="ResultCode")
    result_desc: FreeText = Field(default="", alias="ResultDesc")
    amount: int | None = None
    receipt: str | None = None
    transaction_date: datetime | None = None
    phone: str | None = None  # as reported: digits, masked, or None
    balance: str | None = None

    @property
    def succeeded(self) -> bool:
        """True when M-Pesa reports the customer paid (result code "0")."""
        return self.result_code == "0"


class _ResultEnvelope(_Incoming):
    """The ``Result`` envelope shared by B2C, Transaction Status, Account Balance and Reversal."""

    result_type: OptionalInt = Field(default=None, alias="ResultType")
    result_code: ResultCode = Field(alias="ResultCode")
    result_desc: FreeText = Field(default="", alias="ResultDesc")
    originator_conversation_id: OptionalText = Field(default=None, alias="OriginatorConversationID")
    conversation_id: OptionalText = Field(default=None, alias="ConversationID")
    parameters: dict[str, object] = Field(default_factory=dict)  # keys without spaces, case kept

    @property
    def succeeded(self) -> bool:
        """True when the result code is "0"."""
        return self.result_code == "0"


class B2CResult(_ResultEnvelope):
    """A B2C payout result posted to our ResultURL."""

    # on failure TransactionID can be a placeholder like "UKK0000000": never a receipt
    transaction_id: OptionalText = Field(default=None, alias="TransactionID")
    amount: int | None = None
    receipt: str | None = None
    receiver_name: str | None = None
    receiver_msisdn: str | None = None
    completed_at: datetime | None = None
    utility_balance_cents: int | None = None
    recipient_registered: bool | None = None


class QueueTimeout(_Incoming):
    """A B2C (or other) queue time-out notice: outcome unknown, reconcile by status query."""

    originator_conversation_id: str | None = None
    conversation_id: str | None = None
    raw: dict[str, object]


class TransactionStatusResult(_ResultEnvelope):
    """A Transaction Status result; the queried transaction's details come from its parameters."""

    queried_originator_conversation_id: str | None = None
    queried_conversation_id: str | None = None
    receipt: str | None = None
    transaction_status: str | None = None  # "Completed", ...
    amount: int | None = None
    debit_party_name: str | None = None
    credit_party_name: str | None = None
    initiated_at: datetime | None = None
    finalised_at: datetime | None = None


class BalanceAccount(_Incoming):
    """One account of an Account Balance answer; balances in integer cents (None if not given)."""

    name: str
    currency: str = ""
    current_cents: int | None = None
    available_cents: int | None = None
    reserved_cents: int | None = None
    uncleared_cents: int | None = None


class AccountBalanceResult(_ResultEnvelope):
    """An Account Balance result: one entry per account of the shortcode."""

    accounts: list[BalanceAccount] = Field(default_factory=list)
    completed_at: datetime | None = None

    def account(self, name: str) -> BalanceAccount | None:
        """The account whose name matches ("utility account" finds "Utility Account"), or None."""
        wanted = _norm(name)
        return next((a for a in self.accounts if _norm(a.name) == wanted), None)


class ReversalResult(_ResultEnvelope):
    """A Reversal result posted to our ResultURL."""

    transaction_id: OptionalText = Field(default=None, alias="TransactionID")
    original_transaction_id: str | None = None
    amount: int | None = None
    credit_party_name: str | None = None
    debit_party_name: str | None = None
    completed_at: datetime | None = None


class C2BPayment(_Incoming):
    """A C2B validation or confirmation request (both share this flat body)."""

    trans_id: RequiredText = Field(alias="TransID")
    transaction_type: FreeText = Field(default="", alias="TransactionType")
    trans_time: DarajaTime = Field(default=None, alias="TransTime")
    amount: Shillings = Field(alias="TransAmount")
    shortcode: FreeText = Field(default="", alias="BusinessShortCode")
    bill_ref_number: FreeText = Field(default="", alias="BillRefNumber")
    invoice_number: FreeText = Field(default="", alias="InvoiceNumber")
    org_account_balance: FreeText = Field(default="", alias="OrgAccountBalance")
    third_party_trans_id: FreeText = Field(default="", alias="ThirdPartyTransID")
    # masked ("2547 ***** 149"), hashed (v1) or plain: never proof of who paid
    msisdn: FreeText = Field(default="", alias="MSISDN")
    first_name: FreeText = Field(default="", alias="FirstName")
    middle_name: FreeText = Field(default="", alias="MiddleName")
    last_name: FreeText = Field(default="", alias="LastName")


_M = TypeVar("_M", bound=_Incoming)


# ---- parsers -----------------------------------------------------------------------------------


def parse_stk_callback(body: bytes | str | Mapping[str, Any]) -> StkCallback:
    """Parse an STK Push callback; items are found by Name, never by position."""
    root = _load(body)
    outer = _object(_lookup(root, "Body"), "no Body")
    stk = _object(_lookup(outer, "stkCallback"), "no Body.stkCallback")
    items = _Params(_lookup(stk, "CallbackMetadata"), "Item")
    data = {
        **stk,
        "amount": items.amount("Amount"),
        "receipt": _text(items.get("MpesaReceiptNumber")),
        "transaction_date": _when(items.get("TransactionDate")),
        "phone": _text(items.get("PhoneNumber")),
        "balance": _text(items.get("Balance")),
    }
    return _build(StkCallback, data, "Body.stkCallback")


def parse_b2c_result(body: bytes | str | Mapping[str, Any]) -> B2CResult:
    """Parse a B2C payout result (Result envelope, ResultParameters looked up by Key)."""
    result, params = _result(body)
    msisdn, name = _split_party(params.get("ReceiverPartyPublicName"))
    data = {
        **result,
        "parameters": params.as_dict(),
        "amount": params.amount("TransactionAmount"),
        "receipt": _text(params.get("TransactionReceipt")),
        "receiver_name": name,
        "receiver_msisdn": msisdn,
        "completed_at": _when(params.get("TransactionCompletedDateTime")),
        "utility_balance_cents": _cents(params.get("B2CUtilityAccountAvailableFunds")),
        "recipient_registered": _yes_no(params.get("B2CRecipientIsRegisteredCustomer")),
    }
    return _build(B2CResult, data, "Result")


def parse_b2c_timeout(body: bytes | str | Mapping[str, Any]) -> QueueTimeout:
    """Parse a queue time-out notice: any JSON object, ids taken from wherever they appear."""
    root = _load(body)
    ids = _find_ids(root)
    return QueueTimeout(
        originator_conversation_id=ids.get("originatorconversationid"),
        conversation_id=ids.get("conversationid"),
        raw=root,
    )


def parse_transaction_status_result(
    body: bytes | str | Mapping[str, Any],
) -> TransactionStatusResult:
    """Parse a Transaction Status result; the receipt is ReceiptNo (TransactionID is a dummy)."""
    result, params = _result(body)
    debit_names = params.get_all("DebitPartyName")
    # Safaricom's own sample repeats DebitPartyName where the second one is the credit party
    credit = params.get("CreditPartyName")
    if credit is None and len(debit_names) > 1:
        credit = debit_names[1]
    data = {
        **result,
        "parameters": params.as_dict(),
        "queried_originator_conversation_id": _text(params.get("OriginatorConversationID")),
        "queried_conversation_id": _text(params.get("ConversationID")),
        "receipt": _text(params.get("ReceiptNo")),
        "transaction_status": _text(params.get("TransactionStatus")),
        "amount": params.amount("Amount"),
        "debit_party_name": _text(debit_names[0]) if debit_names else None,
        "credit_party_name": _text(credit),
        "initiated_at": _when(params.get("InitiatedTime")),
        "finalised_at": _when(params.get("FinalisedTime")),
    }
    return _build(TransactionStatusResult, data, "Result")


def parse_account_balance_result(body: bytes | str | Mapping[str, Any]) -> AccountBalanceResult:
    """Parse an Account Balance result, splitting the "name|KES|current|available|..." string."""
    result, params = _result(body)
    balance = params.get("AccountBalance")
    data = {
        **result,
        "parameters": params.as_dict(),
        "accounts": parse_balance_string(balance) if isinstance(balance, str) else [],
        "completed_at": _when(params.get("BOCompletedTime")),
    }
    return _build(AccountBalanceResult, data, "Result")


def parse_reversal_result(body: bytes | str | Mapping[str, Any]) -> ReversalResult:
    """Parse a Reversal result posted to our ResultURL."""
    result, params = _result(body)
    data = {
        **result,
        "parameters": params.as_dict(),
        "original_transaction_id": _text(params.get("OriginalTransactionID")),
        "amount": params.amount("Amount"),
        "credit_party_name": _text(params.get("CreditPartyPublicName")),
        "debit_party_name": _text(params.get("DebitPartyPublicName")),
        "completed_at": _when(params.get("TransCompletedTime")),
    }
    return _build(ReversalResult, data, "Result")


def parse_c2b(body: bytes | str | Mapping[str, Any]) -> C2BPayment:
    """Parse a C2B validation or confirmation request (amount in whole shillings)."""
    return _build(C2BPayment, _load(body), "")


def parse_balance_string(text: str) -> list[BalanceAccount]:
    """Split "Working Account|KES|25000.00|25000.00|0.00|0.00&Utility Account|..." into accounts."""
    accounts = []
    for chunk in text.split("&"):
        fields = [part.strip() for part in chunk.split("|")]
        if not fields[0]:
            continue  # an empty segment, e.g. after a trailing "&"
        numbers = [_cents(part) for part in fields[2:6]]
        numbers += [None] * (4 - len(numbers))
        accounts.append(
            BalanceAccount(
                name=fields[0],
                currency=fields[1] if len(fields) > 1 else "",
                current_cents=numbers[0],
                available_cents=numbers[1],
                reserved_cents=numbers[2],
                uncleared_cents=numbers[3],
            )
        )
    return accounts


# ---- structure helpers -------------------------------------------------------------------------


class _Params:
    """Name/Value (STK) or Key/Value (Result) items, looked up by normalised name, first wins."""

    def __init__(self, container: object, list_key: str) -> None:
        self._pairs: list[tuple[str, object]] = []
        for item in _as_items(container, list_key):
            name = _lookup(item, "Name")
            if name is None:
                name = _lookup(item, "Key")
            if isinstance(name, str) and name.strip():
                self._pairs.append((name, _lookup(item, "Value")))

    def get(self, name: str) -> object:
        """The value of the first item with this name; None when absent or without Value."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[object]:
        """Every value of items with this name, in order."""
        wanted = _norm(name)
        return [value for key, value in self._pairs if _norm(key) == wanted]

    def amount(self, name: str) -> int | None:
        """A whole-shilling amount item; a fractional amount is a parse error naming the item."""
        value = self.get(name)
        if value is None:
            return None
        try:
            return whole_shillings(value)
        except ValueError as exc:
            raise CallbackParseError(f"{name}: {exc}") from exc

    def as_dict(self) -> dict[str, object]:
        """Every item as {key without spaces: value}, first occurrence wins."""
        result: dict[str, object] = {}
        for key, value in self._pairs:
            result.setdefault(_compact(key), value)
        return result


def _as_items(container: object, list_key: str) -> Iterator[Mapping[str, Any]]:
    """Yield item objects from {list_key: [..]}, {list_key: {..}} or a bare list of items."""
    if isinstance(container, Mapping):
        inner = _lookup(container, list_key)
        if inner is None and (_lookup(container, "Key") or _lookup(container, "Name")):
            inner = container  # the item itself where its wrapper was expected
        container = inner
    if isinstance(container, Mapping):
        yield container
    elif isinstance(container, list):
        yield from (item for item in container if isinstance(item, Mapping))


def _lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """mapping[name], or the value of a key equal to it up to spaces and case; None if absent."""
    if name in mapping:
        return mapping[name]
    wanted = _norm(name)
    for key, value in mapping.items():
        if isinstance(key, str) and _norm(key) == wanted:
            return value
    return None


def _object(value: object, missing: str) -> dict[str, Any]:
    """The value as a dict, or a CallbackParseError saying what is missing."""
    if not isinstance(value, Mapping):
        raise CallbackParseError(missing)
    return dict(value)


def _load(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Decode a callback body into a dict; anything but a JSON object is a CallbackParseError."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CallbackParseError("not JSON: the body is not UTF-8 text") from exc
    elif isinstance(body, str):
        text = body
    else:
        raise CallbackParseError(f"not JSON: cannot read a {type(body).__name__}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CallbackParseError(f"not JSON ({str(exc)[:80]})") from exc
    if not isinstance(data, Mapping):
        raise CallbackParseError(f"not a JSON object: the body is {_json_kind(data)}")
    return data


def _json_kind(value: object) -> str:
    """Name a decoded JSON value's kind for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _result(body: bytes | str | Mapping[str, Any]) -> tuple[dict[str, Any], _Params]:
    """The Result envelope and its ResultParameters of a Result-style callback."""
    result = _object(_lookup(_load(body), "Result"), "no Result")
    params = _Params(_lookup(result, "ResultParameters"), "ResultParameter")
    # parameters are ours to fill; an envelope key of that name must not shadow them
    result.pop("parameters", None)
    return result, params


def _build(model: type[_M], data: Mapping[str, Any], where: str) -> _M:
    """Validate data into a model, turning pydantic's errors into one CallbackParseError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CallbackParseError(_explain(exc, where)) from exc


def _explain(exc: ValidationError, where: str) -> str:
    """Name each failing field: "no Result.ResultCode", "TransAmount: '1.5' is not a whole ..."."""
    prefix = f"{where}." if where else ""
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"no {prefix}{field}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{prefix}{field}: {message}")
    return "; ".join(problems)


def _split_party(value: object) -> tuple[str | None, str | None]:
    """Split "254708374149 - John Doe" into (msisdn, name); either part may be missing."""
    text = _text(value)
    if text is None:
        return None, None
    party = _PARTY.fullmatch(text)
    if party is not None:
        return "".join(party["phone"].split()), party["name"].strip() or None
    if _PHONE_PART.fullmatch(text):
        return "".join(text.split()), None
    return None, text


def _find_ids(root: Mapping[str, Any]) -> dict[str, str]:
    """Breadth-first search for conversation ids in any JSON, as keys or as Key/Value items."""
    aliases = {
        "originatorconversationid": "originatorconversationid",
        "originalconversationid": "originatorconversationid",  # Transaction Status spelling
        "conversationid": "conversationid",
    }
    found: dict[str, str] = {}
    queue: deque[object] = deque([root])
    visited = 0
    while queue and len(found) < 2 and visited < _SEARCH_LIMIT:
        node = queue.popleft()
        visited += 1
        if isinstance(node, Mapping):
            for key, value in _candidates(node):
                target = aliases.get(_norm(key))
                text = _text(value)
                if target and text and target not in found:
                    found[target] = text
            queue.extend(v for v in node.values() if isinstance(v, Mapping | list))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, Mapping | list))
    return found


def _candidates(node: Mapping[str, Any]) -> Iterable[tuple[str, object]]:
    """A mapping's own string keys, plus its Key/Value pair if it is an item."""
    pairs = [(key, value) for key, value in node.items() if isinstance(key, str)]
    name = _lookup(node, "Key") or _lookup(node, "Name")
    if isinstance(name, str):
        pairs.append((name, _lookup(node, "Value")))
    return pairs
