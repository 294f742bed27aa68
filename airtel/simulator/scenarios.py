"""Outcome tables of the Airtel simulator: which phone number produces which Airtel result.

Numbers are in Airtel's 9-digit form; the project's form is 254 + these digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CUSTOMER_FIRST_NAME = "JOHN"
CUSTOMER_LAST_NAME = "DOE"

UNREGISTERED_MSISDN = "733999999"  # not an Airtel Money account: push refused, KYC not found
NO_CALLBACK_MSISDN = "733000000"
AMBIGUOUS_COLLECTION_MSISDN = "733000007"
DUPLICATE_CALLBACK_MSISDN = "733000008"
PLACEHOLDER_NAME_MSISDN = "733000009"
CANCELS_FIRST_MSISDN = "733100005"
PAYOUT_AMBIGUOUS_MSISDN = "734000001"
PAYOUT_IN_PROGRESS_MSISDN = "734000002"
PAYOUT_TIMEOUT_MSISDN = "734000003"
BARRED_MSISDN = "734000004"
BUSINESS_WALLET_MSISDN = "734000005"  # a business wallet: B2C payouts to it fail, B2B work

SUCCESS_MESSAGE = "Your transaction has been successfully processed"
PENDING_MESSAGE = "Transaction in pending state. Please check after sometime."
AMBIGUOUS_MESSAGE = (
    "The transaction is still processing and is in ambiguous state. Please do the transaction "
    "enquiry to fetch the transaction status."
)


class Settle(StrEnum):
    """How a collection reaches its final state."""

    CALLBACK = "callback"  # after callback_delay_s, with a callback
    CALLBACK_TWICE = "callback-twice"  # the same callback POSTed twice
    SILENT = "silent"  # after enquiry_pending_s, no callback ever (enquiries see TIP first)
    AMBIGUOUS = "ambiguous"  # like SILENT, but enquiries see TA first


@dataclass(frozen=True)
class CollectionOutcome:
    """How a USSD prompt on a given phone ends."""

    status: str  # TS or TF
    response_code: str
    message: str
    label: str
    settle: Settle = Settle.CALLBACK


PAID = CollectionOutcome("TS", "DP00800001001", SUCCESS_MESSAGE, "paid, by callback")

COLLECTION_OUTCOMES: dict[str, CollectionOutcome] = {
    "733123456": PAID,
    "733000001": CollectionOutcome(
        "TF", "DP00800001007", "Not enough balance", "insufficient funds"
    ),
    "733000002": CollectionOutcome("TF", "DP00800001002", "Incorrect Pin", "wrong PIN"),
    "733000003": CollectionOutcome(
        "TF", "DP00800001005", "User did not enter the pin", "cancelled: PIN not entered"
    ),
    "733000004": CollectionOutcome(
        "TF", "DP00800001024", "Transaction timed out", "prompt timed out"
    ),
    "733000005": CollectionOutcome(
        "TF",
        "DP00800001010",
        "Transaction not permitted to payee: barred or not registered on Airtel Money",
        "barred payer",
    ),
    NO_CALLBACK_MSISDN: CollectionOutcome(
        "TS",
        "DP00800001001",
        SUCCESS_MESSAGE,
        "no callback ever: enquiries TIP for enquiry_pending_s, then TS",
        settle=Settle.SILENT,
    ),
    AMBIGUOUS_COLLECTION_MSISDN: CollectionOutcome(
        "TS",
        "DP00800001001",
        SUCCESS_MESSAGE,
        "ambiguous: enquiries TA for enquiry_pending_s, then TS; no callback",
        settle=Settle.AMBIGUOUS,
    ),
    DUPLICATE_CALLBACK_MSISDN: CollectionOutcome(
        "TS",
        "DP00800001001",
        SUCCESS_MESSAGE,
        "paid, the callback POSTed twice",
        settle=Settle.CALLBACK_TWICE,
    ),
}
CANCELLED_FIRST = CollectionOutcome(
    "TF",
    "DP00800001005",
    "User did not enter the pin",
    "cancelled on the first prompt, paid on the next",
)


@dataclass(frozen=True)
class PayoutOutcome:
    """How a disbursement to a given phone answers and ends."""

    label: str
    answer_status: str  # what the POST answers: TS, TF, TA, TIP, or "" (a code alone)
    answer_code: str
    final_status: str  # what enquiries report once settled
    final_code: str
    message: str = ""
    applies: bool = True  # whether the money moves (debits the disbursement wallet)


PAYOUT_SUCCESS = PayoutOutcome("paid", "TS", "DP00900001001", "TS", "DP00900001001")

PAYOUT_OUTCOMES: dict[str, PayoutOutcome] = {
    UNREGISTERED_MSISDN: PayoutOutcome(
        "not an Airtel Money account: TF DP00900001012",
        "TF",
        "DP00900001012",
        "TF",
        "DP00900001012",
        message="Invalid Mobile Number",
        applies=False,
    ),
    PAYOUT_AMBIGUOUS_MSISDN: PayoutOutcome(
        "answered TA (DP00900001000); the money moved: enquiries TS",
        "TA",
        "DP00900001000",
        "TS",
        "DP00900001001",
        message=AMBIGUOUS_MESSAGE,
    ),
    PAYOUT_IN_PROGRESS_MSISDN: PayoutOutcome(
        "answered TIP (DP00900001006); enquiries TIP for enquiry_pending_s, then TS",
        "TIP",
        "DP00900001006",
        "TS",
        "DP00900001001",
        message="Transaction is in process",
    ),
    PAYOUT_TIMEOUT_MSISDN: PayoutOutcome(
        "answered DP00900001014 (timed out); it did not happen: enquiries TF",
        "",
        "DP00900001014",
        "TF",
        "DP00900001005",
        message="Transaction timed out. It may be processed or failed; do the transaction enquiry",
        applies=False,
    ),
    BARRED_MSISDN: PayoutOutcome(
        "barred account: TF DP00900001013",
        "TF",
        "DP00900001013",
        "TF",
        "DP00900001013",
        message="Refused: the payee account is barred",
        applies=False,
    ),
}


def collection_outcome(msisdn: str, *, earlier_prompts: int = 0) -> CollectionOutcome:
    """The scripted outcome of a USSD prompt on ``msisdn`` (paid when unlisted)."""
    if msisdn == CANCELS_FIRST_MSISDN:
        return CANCELLED_FIRST if earlier_prompts == 0 else PAID
    return COLLECTION_OUTCOMES.get(msisdn, PAID)


def payout_outcome(msisdn: str) -> PayoutOutcome:
    """The scripted outcome of a disbursement to ``msisdn`` (paid when unlisted)."""
    return PAYOUT_OUTCOMES.get(msisdn, PAYOUT_SUCCESS)


def outcome_table() -> str:
    """Render the outcome tables as plain text (printed by ``python -m airtel.simulator``)."""
    lines = ["USSD push (by subscriber.msisdn):"]
    for msisdn, outcome in COLLECTION_OUTCOMES.items():
        lines.append(f"  {msisdn}  {outcome.status} {outcome.response_code}  {outcome.label}")
    lines.append(f"  {CANCELS_FIRST_MSISDN}  {CANCELLED_FIRST.label}")
    lines.append(f"  {UNREGISTERED_MSISDN}  refused at once: DP00800001005 Msisdn Not Found")
    lines.append("  non-Airtel numbers (e.g. 708374149): refused at once, Msisdn Not Found")
    lines.append("  any other Airtel number: paid, by callback")
    lines.append("Disbursement (by payee.msisdn):")
    for msisdn, payout in PAYOUT_OUTCOMES.items():
        lines.append(f"  {msisdn}  {payout.label}")
    lines.append(f"  {BUSINESS_WALLET_MSISDN}  a business wallet: type B2C fails, B2B is paid")
    lines.append("  amount over the disbursement wallet: TF DP00900001007")
    lines.append("  any other Airtel number: TS, paid")
    lines.append("KYC (GET /standard/v1/users/{msisdn}):")
    lines.append(f"  {UNREGISTERED_MSISDN} and non-Airtel numbers  DP02200000002 User Not Found")
    lines.append(f"  {BARRED_MSISDN}  registered, is_barred true")
    lines.append(f"  {PLACEHOLDER_NAME_MSISDN}  registered, names FN / LN (placeholders)")
    lines.append(f"  any other Airtel number  {CUSTOMER_FIRST_NAME} {CUSTOMER_LAST_NAME}")
    return "\n".join(lines)
