"""The bodies we send to Daraja, built from snake_case names and sent with Daraja's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

# Project convention (daraja.md §2): shortcodes, MSISDNs and identifier types are digit strings,
# amounts are JSON integers, so tests can compare request bodies field by field.
Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]
Msisdn = Annotated[str, StringConstraints(pattern=r"^254[0-9]{9}$")]
Timestamp = Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")]
# strict: 1.5, "150" and True are refused here instead of being coerced into a payment
Shillings = Annotated[int, Field(strict=True, ge=1)]
Remarks = Annotated[str, StringConstraints(min_length=2, max_length=100)]
Occasion = Annotated[str, StringConstraints(max_length=100)]


@dataclass(frozen=True)
class CallbackUrls:
    """The public URLs Daraja posts asynchronous results to, one per API and kind."""

    stk: str
    b2c_result: str
    b2c_timeout: str
    status_result: str
    status_timeout: str
    balance_result: str
    balance_timeout: str
    reversal_result: str
    reversal_timeout: str
    c2b_confirmation: str
    c2b_validation: str


class DarajaRequest(BaseModel):
    """Base of every request body: built from snake_case names, sent with Daraja's aliases."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    def to_body(self) -> dict[str, Any]:
        """Return the JSON body Daraja expects (aliases, optional fields left out when unset)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class StkPushRequest(DarajaRequest):
    """Body of ``POST /mpesa/stkpush/v1/processrequest`` (M-Pesa Express)."""

    business_short_code: Digits = Field(alias="BusinessShortCode")
    password: str = Field(alias="Password")
    timestamp: Timestamp = Field(alias="Timestamp")
    transaction_type: Literal["CustomerPayBillOnline", "CustomerBuyGoodsOnline"] = Field(
        alias="TransactionType"
    )
    amount: Shillings = Field(alias="Amount")
    party_a: Msisdn = Field(alias="PartyA")
    party_b: Digits = Field(alias="PartyB")
    phone_number: Msisdn = Field(alias="PhoneNumber")
    callback_url: str = Field(alias="CallBackURL")
    # shown in the prompt; docs say 12 at most, 15 was seen accepted: the operator's settings are
    # warned about at start-up and sent as configured, never truncated here
    account_reference: str = Field(alias="AccountReference", min_length=1, max_length=40)
    # documented as optional (1-13), yet omitting it was refused as "Invalid Remarks"
    transaction_desc: str = Field(alias="TransactionDesc", min_length=1, max_length=100)


class StkQueryRequest(DarajaRequest):
    """Body of ``POST /mpesa/stkpushquery/v1/query``."""

    business_short_code: Digits = Field(alias="BusinessShortCode")
    password: str = Field(alias="Password")
    timestamp: Timestamp = Field(alias="Timestamp")
    checkout_request_id: str = Field(alias="CheckoutRequestID", min_length=1)


class B2CRequest(DarajaRequest):
    """Body of ``POST /mpesa/b2c/v3/paymentrequest`` (payout to a customer)."""

    originator_conversation_id: str = Field(alias="OriginatorConversationID", min_length=1)
    initiator_name: str = Field(alias="InitiatorName", min_length=1)
    security_credential: str = Field(alias="SecurityCredential", min_length=1)
    command_id: Literal["BusinessPayment", "SalaryPayment", "PromotionPayment"] = Field(
        alias="CommandID"
    )
    amount: Shillings = Field(alias="Amount")
    party_a: Digits = Field(alias="PartyA")
    party_b: Msisdn = Field(alias="PartyB")
    remarks: Remarks = Field(alias="Remarks")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    result_url: str = Field(alias="ResultURL")
    # misspelled on purpose: v3 wants "Occassion"; the correct spelling is refused
    occasion: Occasion = Field(alias="Occassion", default="")


class InitiatorRequest(DarajaRequest):
    """Base of the bodies sent as our API initiator: transaction status, balance, reversal."""

    # B2C names it InitiatorName, so it is not one; the URL and remark fields stay in each body:
    # their order there is the order of its API's documentation

    initiator: str = Field(alias="Initiator", min_length=1)
    security_credential: str = Field(alias="SecurityCredential", min_length=1)


class TransactionStatusRequest(InitiatorRequest):
    """Body of ``POST /mpesa/transactionstatus/v1/query``; TransactionID omitted when unknown."""

    command_id: Literal["TransactionStatusQuery"] = Field(
        alias="CommandID", default="TransactionStatusQuery"
    )
    transaction_id: str | None = Field(alias="TransactionID", default=None)
    original_conversation_id: str | None = Field(alias="OriginalConversationID", default=None)
    party_a: Digits = Field(alias="PartyA")
    identifier_type: Digits = Field(alias="IdentifierType")
    result_url: str = Field(alias="ResultURL")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    remarks: Remarks = Field(alias="Remarks")
    occasion: Occasion = Field(alias="Occasion", default="")


class AccountBalanceRequest(InitiatorRequest):
    """Body of ``POST /mpesa/accountbalance/v1/query``."""

    command_id: Literal["AccountBalance"] = Field(alias="CommandID", default="AccountBalance")
    party_a: Digits = Field(alias="PartyA")
    identifier_type: Digits = Field(alias="IdentifierType", default="4")
    remarks: Remarks = Field(alias="Remarks")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    result_url: str = Field(alias="ResultURL")


class ReversalRequest(InitiatorRequest):
    """Body of ``POST /mpesa/reversal/v1/request`` (reverses a payment we received)."""

    command_id: Literal["TransactionReversal"] = Field(
        alias="CommandID", default="TransactionReversal"
    )
    transaction_id: str = Field(alias="TransactionID", min_length=1)
    amount: Shillings = Field(alias="Amount")
    receiver_party: Digits = Field(alias="ReceiverParty")
    # misspelled on purpose: "ReceiverIdentifierType" is refused with 400.002.02
    receiver_identifier_type: Digits = Field(alias="RecieverIdentifierType", default="11")
    result_url: str = Field(alias="ResultURL")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    remarks: Remarks = Field(alias="Remarks")
    occasion: Occasion = Field(alias="Occasion", default="")


class C2BRegisterRequest(DarajaRequest):
    """Body of ``POST /mpesa/c2b/v2/registerurl``."""

    short_code: Digits = Field(alias="ShortCode")
    # what M-Pesa does when our validation URL does not answer in time; sentence case only
    response_type: Literal["Completed", "Cancelled"] = Field(alias="ResponseType")
    confirmation_url: str = Field(alias="ConfirmationURL")
    validation_url: str = Field(alias="ValidationURL")


class C2BSimulateRequest(DarajaRequest):
    """Body of ``POST /mpesa/c2b/v2/simulate`` (sandbox only)."""

    short_code: Digits = Field(alias="ShortCode")
    command_id: Literal["CustomerPayBillOnline", "CustomerBuyGoodsOnline"] = Field(
        alias="CommandID"
    )
    amount: Shillings = Field(alias="Amount")
    msisdn: Msisdn = Field(alias="Msisdn")
    bill_ref_number: str = Field(alias="BillRefNumber", max_length=20)
