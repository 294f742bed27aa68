"""STK callback, query and C2B bodies shaped like tests/fixtures/daraja/, for service tests."""

from __future__ import annotations

from typing import Any

from mpesa.callbacks import C2BPayment
from mpesa.callbacks import StkCallback
from mpesa.callbacks import parse_c2b
from mpesa.callbacks import parse_stk_callback
from mpesa.models import StkQueryResponse

RESULT_DESCS = {
    "0": "The service request is processed successfully.",
    "1": "The balance is insufficient for the transaction.",
    "1032": "Request cancelled by user",
    "1037": "DS timeout user cannot be reached",
    "2001": "The initiator information is invalid.",
    "4999": "The transaction is still under processing",
}


def stk_callback_body(
    checkout_request_id: str,
    *,
    result_code: int | str = 0,
    amount: float | int | None = 150,
    receipt: str | None = "UKK4Q7M2XB",
    phone: int | str | None = 254708374149,
) -> dict[str, Any]:
    """An STK callback body like stk_callback_*.json (metadata only on success)."""
    stk: dict[str, Any] = {
        "MerchantRequestID": "5f2c-4a7e-b91d-0c3e8a6f2d1b1532087",
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": result_code,
        "ResultDesc": RESULT_DESCS.get(str(result_code), "Failed"),
    }
    if str(result_code) == "0":
        items: list[dict[str, Any]] = [
            {"Name": "Amount", "Value": float(amount) if amount is not None else None},
            {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": 20261120143041},
        ]
        if phone is not None:
            items.append({"Name": "PhoneNumber", "Value": phone})
        stk["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": stk}}


def stk_callback(checkout_request_id: str, **kwargs: Any) -> StkCallback:
    """A parsed STK callback (see stk_callback_body for the keyword arguments)."""
    return parse_stk_callback(stk_callback_body(checkout_request_id, **kwargs))


def stk_query_answer(checkout_request_id: str, result_code: str) -> StkQueryResponse:
    """An STK query answer: final, or pending for 4999."""
    return StkQueryResponse(
        MerchantRequestID="5f2c-4a7e-b91d-0c3e8a6f2d1b1532087",
        CheckoutRequestID=checkout_request_id,
        ResultCode=result_code,
        ResultDesc=RESULT_DESCS.get(result_code, "Failed"),
        pending=result_code == "4999",
    )


def c2b_payment(
    *,
    trans_id: str = "UKK2M8P4RS",
    amount: int | str = "150.00",
    bill_ref: str = "HP-ORD-1043",
    msisdn: str = "2547 ***** 149",
) -> C2BPayment:
    """A parsed C2B validation/confirmation like c2b_confirmation.json."""
    return parse_c2b(
        {
            "TransactionType": "Pay Bill",
            "TransID": trans_id,
            "TransTime": "20261120170415",
            "TransAmount": amount,
            "BusinessShortCode": "600984",
            "BillRefNumber": bill_ref,
            "InvoiceNumber": "",
            "OrgAccountBalance": "38150.00",
            "ThirdPartyTransID": "",
            "MSISDN": msisdn,
            "FirstName": "JOHN",
            "MiddleName": "",
            "LastName": "",
        }
    )
