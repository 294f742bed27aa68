"""What Daraja posts to our URLs, and what we answer: every asynchronous field name lives here.

The parsers in ``mpesa/callbacks/`` walk the nesting named below and validate into these models;
Name/Value items (STK) and Key/Value parameters (results) are read by the ``*Items`` models,
whose aliases are Daraja's item names, then copied into the flat result a caller sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from typing import Final

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import model_validator

from mpesa.models.base import DarajaNamed
from mpesa.models.values import Cents
from mpesa.models.values import DarajaTime
from mpesa.models.values import FreeText
from mpesa.models.values import OptionalInt
from mpesa.models.values import OptionalShillings
from mpesa.models.values import OptionalText
from mpesa.models.values import RequiredText
from mpesa.models.values import ResultCode
from mpesa.models.values import Shillings
from mpesa.models.values import YesNo
from mpesa.models.values import loose_key

# ---- where Daraja nests things ------------------------------------------------------------------

STK_ENVELOPE: Final = ("Body", "stkCallback")  # {"Body": {"stkCallback": {...}}}
STK_ITEMS: Final = ("CallbackMetadata", "Item")  # {"CallbackMetadata": {"Item": [...]}}
RESULT_ENVELOPE: Final = "Result"  # {"Result": {...}} for B2C, status, balance, reversal
RESULT_ITEMS: Final = ("ResultParameters", "ResultParameter")
ITEM_NAME_KEYS: Final = ("Name", "Key")  # STK items say Name, result parameters Key
ITEM_VALUE_KEY: Final = "Value"
# where a queue time-out notice (shape undocumented) may carry our ids, in any nesting
TIMEOUT_ID_KEYS: Final = {
    "OriginatorConversationID": "originator_conversation_id",
    "OriginalConversationID": "originator_conversation_id",  # Transaction Status spelling
    "ConversationID": "conversation_id",
}

# ---- what we answer (callback_ack.json, c2b_*_response.json); treat them as read-only ----------

ACK: Final = {"ResultCode": 0, "ResultDesc": "Accepted"}
C2B_CONFIRMATION_ACK: Final = {"ResultCode": 0, "ResultDesc": "Success"}
C2B_ACCEPT: Final = {"ResultCode": "0", "ResultDesc": "Accepted"}
C2B_THIRD_PARTY_ID: Final = "ThirdPartyTransID"  # echoed back in the confirmation


def c2b_rejection(code: str) -> dict[str, str]:
    """The body rejecting a C2B validation with ``code`` (C2B00011-16)."""
    return {"ResultCode": code, "ResultDesc": "Rejected"}


# ---- base -----------------------------------------------------------------------------------

# each model's aliases by loose key ("resultcode" -> "ResultCode"), filled on first use
_LOOSE_ALIASES: dict[type[BaseModel], dict[str, str]] = {}


class Incoming(DarajaNamed):
    """Base of callback models: frozen, unknown fields ignored, Daraja keys matched loosely."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _match_daraja_keys(cls, data: Any) -> Any:
        """Rename keys that differ from an alias only by spaces or case ("Result Code")."""
        if not isinstance(data, Mapping):
            return data
        aliases = _LOOSE_ALIASES.get(cls)
        if aliases is None:  # once per model class: every callback asks it again
            aliases = {loose_key(f.alias): f.alias for f in cls.model_fields.values() if f.alias}
            _LOOSE_ALIASES[cls] = aliases
        for key in data:
            if isinstance(key, str) and aliases.get(loose_key(key), key) != key:
                break
        else:
            return dict(data)  # every key of ours is spelt as Daraja documents it
        matched: dict[str, Any] = {}
        rest: dict[Any, Any] = {}
        for key, value in data.items():
            alias = aliases.get(loose_key(key)) if isinstance(key, str) else None
            if alias is None:
                rest[key] = value
            elif key == alias or alias not in matched:  # the exact spelling wins
                matched[alias] = value
        return {**rest, **matched}


# ---- STK Push --------------------------------------------------------------------------------


class StkItems(Incoming):
    """``CallbackMetadata.Item`` of a successful STK callback, looked up by Name."""

    amount: OptionalShillings = Field(default=None, alias="Amount")
    receipt: OptionalText = Field(default=None, alias="MpesaReceiptNumber")
    transaction_date: DarajaTime = Field(default=None, alias="TransactionDate")
    phone: OptionalText = Field(default=None, alias="PhoneNumber")
    balance: OptionalText = Field(default=None, alias="Balance")


class StkCallback(Incoming):
    """The STK Push result posted to our CallBackURL (Body.stkCallback)."""

    merchant_request_id: FreeText = Field(default="", alias="MerchantRequestID")
    checkout_request_id: RequiredText = Field(alias="CheckoutRequestID")
    result_code: ResultCode = Field(alias="ResultCode")
    result_desc: FreeText = Field(default="", alias="ResultDesc")
    # from StkItems
    amount: int | None = None
    receipt: str | None = None
    transaction_date: datetime | None = None
    phone: str | None = None  # as reported: digits, masked, or None
    balance: str | None = None

    @property
    def succeeded(self) -> bool:
        """True when M-Pesa reports the customer paid (result code "0")."""
        return self.result_code == "0"


# ---- Result envelopes: B2C, Transaction Status, Account Balance, Reversal -------------------


class ResultEnvelope(Incoming):
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


class B2CItems(Incoming):
    """``ResultParameters`` of a B2C payout result, looked up by Key."""

    amount: OptionalShillings = Field(default=None, alias="TransactionAmount")
    receipt: OptionalText = Field(default=None, alias="TransactionReceipt")
    receiver: OptionalText = Field(default=None, alias="ReceiverPartyPublicName")
    completed_at: DarajaTime = Field(default=None, alias="TransactionCompletedDateTime")
    utility_balance_cents: Cents = Field(default=None, alias="B2CUtilityAccountAvailableFunds")
    recipient_registered: YesNo = Field(default=None, alias="B2CRecipientIsRegisteredCustomer")


class B2CResult(ResultEnvelope):
    """A B2C payout result posted to our ResultURL."""

    # on failure TransactionID can be a placeholder like "UKK0000000": never a receipt
    transaction_id: OptionalText = Field(default=None, alias="TransactionID")
    # from B2CItems ("254708374149 - John Doe" split in two)
    amount: int | None = None
    receipt: str | None = None
    receiver_name: str | None = None
    receiver_msisdn: str | None = None
    completed_at: datetime | None = None
    utility_balance_cents: int | None = None
    recipient_registered: bool | None = None


class QueueTimeout(Incoming):
    """A B2C (or other) queue time-out notice: outcome unknown, reconcile by status query."""

    originator_conversation_id: str | None = None
    conversation_id: str | None = None
    raw: dict[str, object]


class TransactionStatusItems(Incoming):
    """``ResultParameters`` of a Transaction Status result: the queried transaction."""

    queried_originator_conversation_id: OptionalText = Field(
        default=None, alias="OriginatorConversationID"
    )
    queried_conversation_id: OptionalText = Field(default=None, alias="ConversationID")
    receipt: OptionalText = Field(default=None, alias="ReceiptNo")
    transaction_status: OptionalText = Field(default=None, alias="TransactionStatus")
    amount: OptionalShillings = Field(default=None, alias="Amount")
    debit_party_name: OptionalText = Field(default=None, alias="DebitPartyName")
    credit_party_name: OptionalText = Field(default=None, alias="CreditPartyName")
    initiated_at: DarajaTime = Field(default=None, alias="InitiatedTime")
    finalised_at: DarajaTime = Field(default=None, alias="FinalisedTime")


class TransactionStatusResult(ResultEnvelope):
    """A Transaction Status result; the queried transaction's details come from its parameters."""

    # from TransactionStatusItems; the envelope's own TransactionID is a dummy
    queried_originator_conversation_id: str | None = None
    queried_conversation_id: str | None = None
    receipt: str | None = None
    transaction_status: str | None = None  # "Completed", ...
    amount: int | None = None
    debit_party_name: str | None = None
    credit_party_name: str | None = None
    initiated_at: datetime | None = None
    finalised_at: datetime | None = None


class BalanceAccount(Incoming):
    """One account of an Account Balance answer; balances in integer cents (None if not given)."""

    name: str
    currency: str = ""
    current_cents: int | None = None
    available_cents: int | None = None
    reserved_cents: int | None = None
    uncleared_cents: int | None = None


class AccountBalanceItems(Incoming):
    """``ResultParameters`` of an Account Balance result."""

    # "Working Account|KES|25000.00|25000.00|0.00|0.00&Utility Account|..."
    account_balance: object = Field(default=None, alias="AccountBalance")
    completed_at: DarajaTime = Field(default=None, alias="BOCompletedTime")


class AccountBalanceResult(ResultEnvelope):
    """An Account Balance result: one entry per account of the shortcode."""

    accounts: list[BalanceAccount] = Field(default_factory=list)
    completed_at: datetime | None = None

    def account(self, name: str) -> BalanceAccount | None:
        """The account whose name matches ("utility account" finds "Utility Account"), or None."""
        wanted = loose_key(name)
        return next((a for a in self.accounts if loose_key(a.name) == wanted), None)


class ReversalItems(Incoming):
    """``ResultParameters`` of a Reversal result."""

    original_transaction_id: OptionalText = Field(default=None, alias="OriginalTransactionID")
    amount: OptionalShillings = Field(default=None, alias="Amount")
    credit_party_name: OptionalText = Field(default=None, alias="CreditPartyPublicName")
    debit_party_name: OptionalText = Field(default=None, alias="DebitPartyPublicName")
    completed_at: DarajaTime = Field(default=None, alias="TransCompletedTime")


class ReversalResult(ResultEnvelope):
    """A Reversal result posted to our ResultURL."""

    transaction_id: OptionalText = Field(default=None, alias="TransactionID")
    # from ReversalItems
    original_transaction_id: str | None = None
    amount: int | None = None
    credit_party_name: str | None = None
    debit_party_name: str | None = None
    completed_at: datetime | None = None


# ---- C2B ------------------------------------------------------------------------------------


class C2BPayment(Incoming):
    """A C2B validation or confirmation request (both share this flat body)."""

    trans_id: RequiredText = Field(alias="TransID")
    transaction_type: FreeText = Field(default="", alias="TransactionType")
    trans_time: DarajaTime = Field(default=None, alias="TransTime")
    amount: Shillings = Field(alias="TransAmount")
    shortcode: FreeText = Field(default="", alias="BusinessShortCode")
    bill_ref_number: FreeText = Field(default="", alias="BillRefNumber")
    invoice_number: FreeText = Field(default="", alias="InvoiceNumber")
    org_account_balance: FreeText = Field(default="", alias="OrgAccountBalance")
    third_party_trans_id: FreeText = Field(default="", alias=C2B_THIRD_PARTY_ID)
    # masked ("2547 ***** 149"), hashed (v1) or plain: never proof of who paid
    msisdn: FreeText = Field(default="", alias="MSISDN")
    first_name: FreeText = Field(default="", alias="FirstName")
    middle_name: FreeText = Field(default="", alias="MiddleName")
    last_name: FreeText = Field(default="", alias="LastName")
