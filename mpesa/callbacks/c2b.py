"""C2B validation and confirmation requests, and our answers to them."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import load
from mpesa.models.callbacks import C2B_ACCEPT
from mpesa.models.callbacks import C2B_THIRD_PARTY_ID
from mpesa.models.callbacks import C2BPayment
from mpesa.models.callbacks import c2b_rejection

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


def parse_c2b(body: Body) -> C2BPayment:
    """Parse a C2B validation or confirmation request (amount in whole shillings)."""
    return build(C2BPayment, load(body), "")


def c2b_accept(third_party_trans_id: str | None = None) -> dict[str, str]:
    """Our answer accepting a C2B validation; the optional reference comes back on confirmation."""
    answer = dict(C2B_ACCEPT)
    if third_party_trans_id:
        answer[C2B_THIRD_PARTY_ID] = third_party_trans_id
    return answer


def c2b_reject(code: str = C2B_INVALID_ACCOUNT) -> dict[str, str]:
    """Our answer rejecting a C2B validation; the code (C2B00011-16) picks the customer's SMS."""
    if code not in C2B_REJECT_CODES:
        raise ValueError(f"{code!r} is not a C2B rejection code (C2B00011-C2B00016)")
    return c2b_rejection(code)
