"""Outcome tables of the simulator: which phone number produces which Daraja result."""

from __future__ import annotations

from dataclasses import dataclass

from mpesa.simulator.config import PhoneForm

SUCCESS_DESC = "The service request is processed successfully."
CUSTOMER_NAME = "John Doe"  # every simulated customer is registered under this name

NO_CALLBACK_MSISDN = "254722000000"
B2C_QUEUE_TIMEOUT_MSISDN = "254722000099"
B2C_UNREGISTERED_MSISDN = "254722002040"

INSUFFICIENT_DESC = "The balance is insufficient for the transaction."
UNREGISTERED_DESC = (
    "The Credit Party customer type (Unregistered or Registered Customer) "
    "can't be supported by the service."
)
INITIATOR_INVALID_DESC = "The initiator information is invalid."
QUEUE_TIMEOUT_DESC = "The service request has timed out."
STATUS_NOT_FOUND_CODE = 2032  # the simulator's choice: Daraja's own code for this is unconfirmed
STATUS_NOT_FOUND_DESC = "The transaction could not be found"
ALREADY_REVERSED_CODE = "R000001"
ALREADY_REVERSED_DESC = "The transaction has already been reversed."
INVALID_ORIGINAL_CODE = "R000002"
INVALID_ORIGINAL_DESC = "The OriginalTransactionID is invalid."
PENDING_CODE = "4999"
PENDING_DESC = "The transaction is still under processing"


@dataclass(frozen=True)
class StkOutcome:
    """How an STK prompt on a given phone ends: result code and text, and whether it calls back."""

    result_code: int
    result_desc: str
    label: str
    calls_back: bool = True


STK_SUCCESS = StkOutcome(0, SUCCESS_DESC, "success")

STK_OUTCOMES: dict[str, StkOutcome] = {
    "254708374149": STK_SUCCESS,
    "254711111111": StkOutcome(1, INSUFFICIENT_DESC, "insufficient funds"),
    "254722000032": StkOutcome(1032, "Request cancelled by user", "cancelled by the customer"),
    "254722000037": StkOutcome(1037, "DS timeout user cannot be reached", "phone unreachable"),
    "254722002001": StkOutcome(2001, INITIATOR_INVALID_DESC, "wrong PIN"),
    NO_CALLBACK_MSISDN: StkOutcome(
        0,
        SUCCESS_DESC,
        "no callback ever: queries 4999 for query_pending_s, then 0",
        calls_back=False,
    ),
}

# the customer cancels the first prompt, then pays when asked again (the demo's retry story)
CANCELS_FIRST_MSISDN = "254722100032"
STK_FIRST_THEN_SUCCESS: dict[str, StkOutcome] = {
    CANCELS_FIRST_MSISDN: StkOutcome(
        1032, "Request cancelled by user", "cancelled on the first prompt, paid on the next"
    ),
}

B2C_OUTCOMES: dict[str, str] = {
    B2C_QUEUE_TIMEOUT_MSISDN: "QueueTimeOut to QueueTimeOutURL; the payout completes silently",
    B2C_UNREGISTERED_MSISDN: "ResultCode 2040, recipient not registered on M-Pesa",
}


def masked_phone(msisdn: str) -> str:
    """Return a phone as masked callbacks carry it: "254708374149" -> "2547*****149"."""
    return f"{msisdn[:4]}*****{msisdn[-3:]}"


def public_name(msisdn: str, phone_form: PhoneForm) -> str:
    """Return a customer's public name in results: "254708374149 - John Doe" or a masked form."""
    if phone_form is PhoneForm.ABSENT:
        return CUSTOMER_NAME
    shown = msisdn if phone_form is PhoneForm.PLAIN else masked_phone(msisdn)
    return f"{shown} - {CUSTOMER_NAME}"


def stk_outcome(msisdn: str, *, earlier_prompts: int = 0) -> StkOutcome:
    """Return the scripted outcome of an STK prompt on ``msisdn`` (success when unlisted)."""
    first = STK_FIRST_THEN_SUCCESS.get(msisdn)
    if first is not None:
        return first if earlier_prompts == 0 else STK_SUCCESS
    return STK_OUTCOMES.get(msisdn, STK_SUCCESS)


def outcome_table() -> str:
    """Render both outcome tables as plain text (printed by ``python -m mpesa.simulator``)."""
    lines = ["STK Push (by PhoneNumber):"]
    for msisdn, outcome in {**STK_OUTCOMES, **STK_FIRST_THEN_SUCCESS}.items():
        lines.append(f"  {msisdn}  {outcome.result_code:>4}  {outcome.label}")
    lines.append(f"  {'any other':<12}  {0:>4}  success (credits the running balance)")
    lines.append("B2C (by PartyB):")
    for msisdn, label in B2C_OUTCOMES.items():
        lines.append(f"  {msisdn}  {label}")
    lines.append("  Amount over the utility balance: ResultCode 1, insufficient funds")
    lines.append("  any other: ResultCode 0, success (debits the utility balance)")
    return "\n".join(lines)
