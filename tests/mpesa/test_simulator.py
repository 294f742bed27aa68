"""The Daraja simulator answers, validates and calls back like Daraja (raw HTTP, loopback only)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import httpx
import pytest

import mpesa.simulator
from mpesa.security import daraja_timestamp
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SIM_DELIVERER
from mpesa.simulator import Faults
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator
from mpesa.simulator import outcome_table
from tests.helpers.clock import Clock
from tests.helpers.receiver import CallbackReceiver
from tests.helpers.sim_http import B2C
from tests.helpers.sim_http import BALANCE
from tests.helpers.sim_http import DROP
from tests.helpers.sim_http import RECEIPT
from tests.helpers.sim_http import REVERSAL
from tests.helpers.sim_http import START
from tests.helpers.sim_http import STATUS
from tests.helpers.sim_http import STK_PUSH
from tests.helpers.sim_http import STK_QUERY
from tests.helpers.sim_http import SUCCESS
from tests.helpers.sim_http import TS
from tests.helpers.sim_http import MakeSim
from tests.helpers.sim_http import Sim
from tests.helpers.sim_http import apply
from tests.helpers.sim_http import error
from tests.helpers.sim_http import fixture
from tests.helpers.sim_http import params
from tests.helpers.sim_http import receipt_of

# OAuth and the gateway


async def test_oauth_issues_a_token_like_daraja(sim: Sim) -> None:
    response = await sim.http.get(
        "/oauth/v1/generate?grant_type=client_credentials",
        auth=("simulator-key", "simulator-secret"),
    )
    body = response.json()
    assert response.status_code == 200
    assert sorted(body) == sorted(fixture("oauth_response.json"))
    assert body["expires_in"] == "3599"
    assert re.fullmatch(r"[A-Za-z0-9]{28}", body["access_token"])


@pytest.mark.parametrize(
    "auth",
    [("simulator-key", "wrong-secret"), ("wrong-key", "simulator-secret"), None],
    ids=["wrong-secret", "wrong-key", "missing"],
)
async def test_oauth_bad_credentials_get_an_empty_400(sim: Sim, auth: Any) -> None:
    response = await sim.http.get("/oauth/v1/generate?grant_type=client_credentials", auth=auth)
    assert (response.status_code, response.content) == (400, b"")


async def test_oauth_wrong_grant_type_is_400_008_02(sim: Sim) -> None:
    response = await sim.http.get(
        "/oauth/v1/generate?grant_type=password", auth=("simulator-key", "simulator-secret")
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.008.02"
    assert response.json()["requestId"]


@pytest.mark.parametrize("token", ["", "not-a-token"], ids=["missing", "unknown"])
async def test_product_call_without_a_valid_token_is_404_001_03(sim: Sim, token: str) -> None:
    response = await sim.post(STK_PUSH, sim.stk(), token=token)
    assert error(response) == (404, "404.001.03", "Invalid Access Token")


async def test_token_expires_after_its_ttl(make_sim: MakeSim, clock: Clock) -> None:
    sim = await make_sim(token_ttl_s=60)
    clock.advance(60)
    response = await sim.post(STK_PUSH, sim.stk())
    assert error(response) == (404, "404.001.03", "Invalid Access Token")


async def test_non_json_content_type_fails_on_the_first_field(sim: Sim) -> None:
    response = await sim.http.post(
        STK_PUSH,
        content=json.dumps(sim.stk()),
        headers={"Authorization": f"Bearer {sim.token}", "Content-Type": "text/plain"},
    )
    assert error(response) == (400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


async def test_malformed_json_is_400_002_05(sim: Sim) -> None:
    response = await sim.http.post(
        STK_PUSH,
        content=b'{"BusinessShortCode": ',
        headers={"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"},
    )
    assert error(response)[:2] == (400, "400.002.05")


# STK Push


async def test_stk_push_answers_like_the_fixture_with_fresh_ids(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk())
    body = response.json()
    expected = fixture("stk_push_response.json")
    assert response.status_code == 200
    assert sorted(body) == sorted(expected)
    # ws_CO_ + DDMMYYYYHHMMSS + milliseconds + last 9 digits: the fixture's own id at this time
    assert body["CheckoutRequestID"] == "ws_CO_20112026143005812708374149"
    assert re.fullmatch(
        r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{7}", body["MerchantRequestID"]
    )
    assert body["ResponseCode"] == "0"
    assert body["ResponseDescription"] == expected["ResponseDescription"]
    assert body["CustomerMessage"] == expected["CustomerMessage"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"Password": "d3Jvbmc="}, (500, "500.001.1001", "Wrong credentials")),
        ({"ts": "2026112014300"}, (400, "400.002.02", "Bad Request - Invalid Timestamp")),
        ({"ts": "20261340143005"}, (400, "400.002.02", "Bad Request - Invalid Timestamp")),
        ({"Amount": 1.5}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"Amount": 0}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"Amount": "1.5"}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"Amount": 250_001}, (400, "400.002.02", "Bad Request - Invalid Amount")),
        ({"PhoneNumber": "0708374149"}, (400, "400.002.02", "Bad Request - Invalid PhoneNumber")),
        ({"PartyA": "254808374149"}, (400, "400.002.02", "Bad Request - Invalid PartyA")),
        ({"TransactionDesc": DROP}, (400, "400.002.02", "Bad Request - Invalid Remarks")),
        ({"TransactionDesc": ""}, (400, "400.002.02", "Bad Request - Invalid Remarks")),
        (
            {"AccountReference": "X" * 13},
            (400, "400.002.02", "Bad Request - Invalid AccountReference"),
        ),
        ({"CallBackURL": "not a url"}, (400, "400.002.02", "Bad Request - Invalid CallBackURL")),
        ({"TransactionType": "Pay"}, (400, "400.002.02", "Bad Request - Invalid TransactionType")),
        ({"BusinessShortCode": "999999"}, (500, "500.001.1001", "Merchant does not exist")),
    ],
    ids=[
        "bad-password",
        "short-timestamp",
        "unreal-timestamp",
        "amount-1.5",
        "amount-0",
        "amount-string-1.5",
        "amount-over-max",
        "local-phone",
        "party-a",
        "missing-desc",
        "empty-desc",
        "long-reference",
        "callback-url",
        "transaction-type",
        "unknown-shortcode",
    ],
)
async def test_stk_push_refuses_invalid_requests(
    sim: Sim, overrides: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    ts = overrides.pop("ts", TS)
    response = await sim.post(STK_PUSH, sim.stk(ts=ts, **overrides))
    assert error(response) == expected
    assert (await sim.state())["prompts"] == []


@pytest.mark.parametrize(
    "overrides",
    [{"Amount": "150"}, {"AccountReference": "X" * 12}, {"BusinessShortCode": "247247"}],
    ids=["digit-string-amount", "12-char-reference", "second-shortcode"],
)
async def test_stk_push_accepts_what_daraja_accepts(sim: Sim, overrides: dict[str, Any]) -> None:
    response = await sim.post(STK_PUSH, sim.stk(**overrides))
    assert response.status_code == 200


async def test_stk_success_callback_is_shaped_like_the_fixture(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk())
    callback = await sim.receiver.next("/stk")
    stk = callback["Body"]["stkCallback"]
    items = stk["CallbackMetadata"]["Item"]
    receipt = receipt_of(callback)
    assert stk["MerchantRequestID"] == response.json()["MerchantRequestID"]
    assert stk["CheckoutRequestID"] == response.json()["CheckoutRequestID"]
    assert (stk["ResultCode"], stk["ResultDesc"]) == (0, SUCCESS)
    assert items == [
        {"Name": "Amount", "Value": 150.0},
        {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20261120143005},
        {"Name": "PhoneNumber", "Value": 254708374149},
    ]
    assert isinstance(items[0]["Value"], float)
    assert RECEIPT.fullmatch(receipt)
    assert receipt.startswith("UKK")  # U = 2026, K = November, K = the 20th
    assert (await sim.state())["balances"]["utility"] == 100_150


@pytest.mark.parametrize(
    ("phone", "code", "desc"),
    [
        ("254711111111", 1, "The balance is insufficient for the transaction."),
        ("254722000032", 1032, "Request cancelled by user"),
        ("254722000037", 1037, "DS timeout user cannot be reached"),
        ("254722002001", 2001, "The initiator information is invalid."),
    ],
    ids=["insufficient", "cancelled", "timeout", "wrong-pin"],
)
async def test_stk_failure_outcomes_by_phone(sim: Sim, phone: str, code: int, desc: str) -> None:
    answer = (await sim.post(STK_PUSH, sim.stk(phone))).json()
    callback = await sim.receiver.next("/stk")
    assert callback == {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": answer["MerchantRequestID"],
                "CheckoutRequestID": answer["CheckoutRequestID"],
                "ResultCode": code,
                "ResultDesc": desc,
            }
        }
    }
    assert (await sim.state())["balances"]["utility"] == 100_000


async def test_any_other_valid_number_succeeds(sim: Sim) -> None:
    callback = await sim.paid_stk("254113456789")
    assert callback["Body"]["stkCallback"]["ResultCode"] == 0


async def test_receipts_are_unique(sim: Sim) -> None:
    first = await sim.paid_stk("254700000001")
    second = await sim.paid_stk("254700000002")
    assert receipt_of(first) != receipt_of(second)


async def test_second_push_to_a_phone_with_an_open_prompt_cannot_lock_it(sim: Sim) -> None:
    first = await sim.post(STK_PUSH, sim.stk("254722000000"))
    second = await sim.post(STK_PUSH, sim.stk("254722000000"))
    assert first.status_code == 200
    assert error(second) == (
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    )


async def test_a_phone_can_be_prompted_again_once_the_prompt_is_answered(sim: Sim) -> None:
    await sim.paid_stk()
    response = await sim.post(STK_PUSH, sim.stk())
    assert response.status_code == 200


# STK Query


async def test_no_callback_number_queries_pending_then_success(
    make_sim: MakeSim, clock: Clock
) -> None:
    sim = await make_sim(query_pending_s=60)
    cid = (await sim.post(STK_PUSH, sim.stk("254722000000"))).json()["CheckoutRequestID"]

    pending = await sim.post(STK_QUERY, sim.stk_query(cid))
    clock.advance(60)
    settled = await sim.post(STK_QUERY, sim.stk_query(cid))
    state = await sim.drain()

    assert pending.status_code == 200
    assert (pending.json()["ResultCode"], pending.json()["ResultDesc"]) == (
        "4999",
        "The transaction is still under processing",
    )
    assert sorted(pending.json()) == sorted(fixture("stk_query_response_pending_4999.json"))
    assert settled.status_code == 200
    assert (settled.json()["ResultCode"], settled.json()["ResultDesc"]) == ("0", SUCCESS)
    assert state["deliveries"] == []
    assert state["balances"]["utility"] == 100_150


async def test_query_pending_as_error_fault_gives_the_http_500_form(make_sim: MakeSim) -> None:
    sim = await make_sim(faults=Faults(query_pending_as_error=True))
    cid = (await sim.post(STK_PUSH, sim.stk("254722000000"))).json()["CheckoutRequestID"]
    response = await sim.post(STK_QUERY, sim.stk_query(cid))
    assert response.status_code == 500
    assert response.json() == {
        "requestId": cid,
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }


async def test_query_reports_a_settled_result_code_as_a_string(sim: Sim) -> None:
    answer = (await sim.post(STK_PUSH, sim.stk("254722000032"))).json()
    await sim.receiver.next("/stk")
    response = await sim.post(STK_QUERY, sim.stk_query(answer["CheckoutRequestID"]))
    expected = fixture("stk_query_response_cancelled.json") | {
        "MerchantRequestID": answer["MerchantRequestID"],
        "CheckoutRequestID": answer["CheckoutRequestID"],
    }
    assert response.json() == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"CheckoutRequestID": "ws_CO_unknown"},
            (400, "400.002.02", "Bad Request - Invalid CheckoutRequestID"),
        ),
        ({"Password": "d3Jvbmc="}, (500, "500.001.1001", "Wrong credentials")),
        ({"Timestamp": "2026"}, (400, "400.002.02", "Bad Request - Invalid Timestamp")),
    ],
    ids=["unknown-checkout", "bad-password", "bad-timestamp"],
)
async def test_query_refusals(
    sim: Sim, overrides: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    cid = (await sim.post(STK_PUSH, sim.stk())).json()["CheckoutRequestID"]
    response = await sim.post(STK_QUERY, sim.stk_query(cid, **overrides))
    assert error(response) == expected


# B2C


async def test_b2c_success_answers_then_posts_the_result(sim: Sim) -> None:
    response = await sim.post(B2C, sim.b2c("payout-1"))
    result = await sim.receiver.next("/b2c/result")
    answer = response.json()
    envelope = result["Result"]
    assert response.status_code == 200
    assert answer == {
        "ConversationID": answer["ConversationID"],
        "OriginatorConversationID": "payout-1",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    assert re.fullmatch(r"AG_20261120_2010[0-9a-f]{16}", answer["ConversationID"])
    assert (envelope["ResultType"], envelope["ResultCode"], envelope["ResultDesc"]) == (
        0,
        0,
        SUCCESS,
    )
    assert envelope["OriginatorConversationID"] == "payout-1"
    assert envelope["ConversationID"] == answer["ConversationID"]
    assert sorted(envelope) == sorted(fixture("b2c_result_success.json")["Result"])
    assert params(result) == {
        "TransactionAmount": 500,
        "TransactionReceipt": envelope["TransactionID"],
        "ReceiverPartyPublicName": "254708374149 - John Doe",
        "TransactionCompletedDateTime": "20.11.2026 14:30:05",
        "B2CUtilityAccountAvailableFunds": 99_500.0,
        "B2CWorkingAccountAvailableFunds": 0.0,
        "B2CRecipientIsRegisteredCustomer": "Y",
        "B2CChargesPaidAccountAvailableFunds": 0.0,
    }
    assert RECEIPT.fullmatch(envelope["TransactionID"])
    assert (await sim.state())["balances"]["utility"] == 99_500


async def test_b2c_queue_timeout_notice_and_the_payout_still_completes(sim: Sim) -> None:
    answer = (await sim.post(B2C, sim.b2c("payout-qt", "254722000099"))).json()
    notice = await sim.receiver.next("/b2c/timeout")
    await sim.post(STATUS, sim.status(OriginalConversationID="payout-qt"))
    status = await sim.receiver.next("/status/result")
    await sim.drain()

    assert notice == {
        "Result": {
            "ResultType": 1,
            "ResultCode": 1,
            "ResultDesc": "The service request has timed out.",
            "OriginatorConversationID": "payout-qt",
            "ConversationID": answer["ConversationID"],
        }
    }
    assert sim.receiver.bodies("/b2c/result") == []
    assert params(status)["TransactionStatus"] == "Completed"
    assert params(status)["OriginatorConversationID"] == "payout-qt"
    assert (await sim.state())["balances"]["utility"] == 99_500


@pytest.mark.parametrize(
    ("phone", "utility", "code", "desc"),
    [
        (
            "254722002040",
            100_000,
            2040,
            "The Credit Party customer type (Unregistered or Registered Customer) "
            "can't be supported by the service.",
        ),
        ("254708374149", 499, 1, "The balance is insufficient for the transaction."),
    ],
    ids=["not-registered", "insufficient-utility"],
)
async def test_b2c_failures(
    make_sim: MakeSim, phone: str, utility: int, code: int, desc: str
) -> None:
    sim = await make_sim(initial_utility_balance=utility)
    answer = (await sim.post(B2C, sim.b2c("payout-f", phone))).json()
    result = await sim.receiver.next("/b2c/result")
    assert result == {
        "Result": {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": desc,
            "OriginatorConversationID": "payout-f",
            "ConversationID": answer["ConversationID"],
            "TransactionID": "UKK0000000",
            "ReferenceData": fixture("b2c_result_failure.json")["Result"]["ReferenceData"],
        }
    }
    assert (await sim.state())["balances"]["utility"] == utility


async def test_b2c_wrong_initiator_is_a_2001_result(sim: Sim) -> None:
    await sim.post(B2C, sim.b2c("payout-i", InitiatorName="someone"))
    result = await sim.receiver.next("/b2c/result")
    assert result["Result"]["ResultCode"] == 2001
    assert result["Result"]["ResultDesc"] == "The initiator information is invalid."


async def test_b2c_duplicate_originator_conversation_id_is_refused(sim: Sim) -> None:
    first = await sim.post(B2C, sim.b2c("payout-d"))
    second = await sim.post(B2C, sim.b2c("payout-d"))
    await sim.drain()
    assert first.status_code == 200
    assert error(second) == (500, "500.002.1001", "Duplicate OriginatorConversationID.")
    assert len((await sim.state())["payouts"]) == 1
    assert len(sim.receiver.bodies("/b2c/result")) == 1


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"Amount": 9}, "Amount"),
        ({"Amount": 10.5}, "Amount"),
        ({"CommandID": "Payment"}, "CommandID"),
        ({"PartyB": "25470837414"}, "PartyB"),
        ({"Remarks": "x"}, "Remarks"),
        ({"SecurityCredential": ""}, "SecurityCredential"),
        ({"InitiatorName": DROP}, "InitiatorName"),
        ({"ResultURL": "ftp://x"}, "ResultURL"),
        ({"PartyA": "12"}, "PartyA"),
    ],
)
async def test_b2c_refuses_invalid_requests(
    sim: Sim, overrides: dict[str, Any], field_name: str
) -> None:
    response = await sim.post(B2C, sim.b2c("payout-v", **overrides))
    assert error(response) == (400, "400.002.02", f"Bad Request - Invalid {field_name}")
    assert (await sim.state())["payouts"] == []


# Transaction status, balance, reversal


async def test_status_of_an_unknown_transaction(sim: Sim) -> None:
    response = await sim.post(STATUS, sim.status(TransactionID="UKK0NOSUCH"))
    result = await sim.receiver.next("/status/result")
    assert sorted(response.json()) == sorted(fixture("transaction_status_response.json"))
    assert result["Result"]["ResultCode"] == 2032
    assert result["Result"]["ResultDesc"] == "The transaction could not be found"
    assert (
        result["Result"]["OriginatorConversationID"] == response.json()["OriginatorConversationID"]
    )


async def test_status_of_a_b2c_payout_by_originator_id(sim: Sim) -> None:
    await sim.post(B2C, sim.b2c("payout-s"))
    payout = await sim.receiver.next("/b2c/result")
    await sim.post(STATUS, sim.status(OriginalConversationID="payout-s"))
    result = await sim.receiver.next("/status/result")
    expected_keys = params(fixture("transaction_status_result.json"))
    assert sorted(params(result)) == sorted(expected_keys)
    assert params(result) | {"InitiatedTime": 0, "FinalisedTime": 0} == {
        "DebitPartyName": "600996 - Safaricom Daraja 996",
        "CreditPartyName": "254708374149 - John Doe",
        "OriginatorConversationID": "payout-s",
        "InitiatedTime": 0,
        "DebitAccountType": "Utility Account",
        "DebitPartyCharges": "Fee For B2C Payment|KES|0.00",
        "TransactionReason": None,
        "ReasonType": "Business Payment to Customer via API",
        "TransactionStatus": "Completed",
        "FinalisedTime": 0,
        "Amount": 500,
        "ConversationID": payout["Result"]["ConversationID"],
        "ReceiptNo": payout["Result"]["TransactionID"],
    }
    assert result["Result"]["ReferenceData"] == {
        "ReferenceItem": {"Key": "Occasion", "Value": "Reconcile"}
    }


async def test_status_of_a_failed_payout_reports_failed(sim: Sim) -> None:
    await sim.post(B2C, sim.b2c("payout-x", "254722002040"))
    await sim.receiver.next("/b2c/result")
    await sim.post(STATUS, sim.status(OriginalConversationID="payout-x"))
    result = await sim.receiver.next("/status/result")
    assert params(result)["TransactionStatus"] == "Failed"
    assert params(result)["ReceiptNo"] is None


async def test_status_of_an_stk_payment_by_receipt(sim: Sim) -> None:
    receipt = receipt_of(await sim.paid_stk())
    await sim.post(STATUS, sim.status(TransactionID=receipt))
    result = await sim.receiver.next("/status/result")
    assert (params(result)["ReceiptNo"], params(result)["Amount"]) == (receipt, 150)
    assert params(result)["TransactionStatus"] == "Completed"


async def test_status_needs_an_id_or_a_receipt(sim: Sim) -> None:
    response = await sim.post(STATUS, sim.status())
    assert error(response) == (400, "400.002.02", "Bad Request - Invalid TransactionID")


async def test_account_balance_reports_the_running_balances(sim: Sim) -> None:
    await sim.paid_stk()
    await sim.post(B2C, sim.b2c("payout-b", Amount=1_000))
    await sim.receiver.next("/b2c/result")
    response = await sim.post(BALANCE, sim.balance())
    result = await sim.receiver.next("/balance/result")
    assert response.status_code == 200
    assert result["Result"]["ResultCode"] == 0
    assert params(result) == {
        "AccountBalance": "Working Account|KES|0.00|0.00|0.00|0.00"
        "&Utility Account|KES|99150.00|99150.00|0.00|0.00"
        "&Charges Paid Account|KES|0.00|0.00|0.00|0.00"
        "&Organization Settlement Account|KES|0.00|0.00|0.00|0.00",
        "BOCompletedTime": 20261120143005,
    }


async def test_reversal_of_a_received_payment_then_again(sim: Sim) -> None:
    receipt = receipt_of(await sim.paid_stk())
    await sim.post(REVERSAL, sim.reversal(receipt))
    first = await sim.receiver.next("/reversal/result")
    await sim.post(REVERSAL, sim.reversal(receipt))
    second = await sim.receiver.next("/reversal/result")

    assert first["Result"]["ResultCode"] == 0
    assert RECEIPT.fullmatch(first["Result"]["TransactionID"])
    assert params(first) == {
        "DebitAccountBalance": "Utility Account|KES|100000.00|100000.00|0.00|0.00",
        "Amount": 150.0,
        "TransCompletedTime": 20261120143005,
        "OriginalTransactionID": receipt,
        "Charge": 0.0,
        "CreditPartyPublicName": "254708374149 - John Doe",
        "DebitPartyPublicName": "174379 - Safaricom Daraja 379",
    }
    assert (second["Result"]["ResultCode"], second["Result"]["ResultDesc"]) == (
        "R000001",
        "The transaction has already been reversed.",
    )
    assert (await sim.state())["balances"]["utility"] == 100_000


async def test_reversal_of_an_unknown_receipt_is_r000002(sim: Sim) -> None:
    await sim.post(REVERSAL, sim.reversal("UKK0NOSUCH"))
    result = await sim.receiver.next("/reversal/result")
    assert result["Result"]["ResultCode"] == "R000002"
    assert result["Result"]["ResultParameters"] == {
        "ResultParameter": {"Key": "BOCompletedTime", "Value": 20261120143005}
    }


async def test_reversal_with_the_correct_spelling_is_refused(sim: Sim) -> None:
    body = sim.reversal("UKK2M8P4RS", RecieverIdentifierType=DROP, ReceiverIdentifierType="11")
    response = await sim.post(REVERSAL, body)
    assert error(response) == (400, "400.002.02", "Bad Request - Invalid RecieverIdentifierType")
    assert await sim.warnings() == [
        (
            REVERSAL,
            "ReceiverIdentifierType",
            'unknown field "ReceiverIdentifierType": did you mean "RecieverIdentifierType"?',
        )
    ]


# C2B


def c2b_register(sim: Sim, **overrides: Any) -> dict[str, Any]:
    body = {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": sim.receiver.url("/c2b/confirm"),
        "ValidationURL": sim.receiver.url("/c2b/validate"),
    }
    return apply(body, overrides)


def c2b_simulate(**overrides: Any) -> dict[str, Any]:
    body = fixture("c2b_simulate_request.json")
    return apply(body, overrides)


@pytest.mark.parametrize(
    ("field_name", "path"),
    [
        ("ConfirmationURL", "/mpesa/confirm"),
        ("ConfirmationURL", "/M-PESA/confirm"),
        ("ValidationURL", "/Safaricom/validate"),
        ("ValidationURL", "/hook.exe"),
        ("ValidationURL", "/cmd/validate"),
        ("ValidationURL", "/EXEC/validate"),
        ("ConfirmationURL", "/sql/confirm"),
        ("ConfirmationURL", "/confirm?Query=1"),
    ],
)
async def test_c2b_register_refuses_forbidden_words(sim: Sim, field_name: str, path: str) -> None:
    body = c2b_register(sim, **{field_name: sim.receiver.url(path)})
    response = await sim.post("/mpesa/c2b/v2/registerurl", body)
    assert error(response) == (400, "400.002.02", f"Bad Request - Invalid {field_name}")


async def test_c2b_register_answers_with_safaricoms_spelling(sim: Sim) -> None:
    response = await sim.post("/mpesa/c2b/v2/registerurl", c2b_register(sim))
    assert response.status_code == 200
    assert sorted(response.json()) == sorted(fixture("c2b_register_response.json"))
    assert response.json()["ResponseCode"] == "0"


async def test_c2b_simulate_validation_accepted_then_confirmation(sim: Sim) -> None:
    await sim.post("/mpesa/c2b/v2/registerurl", c2b_register(sim))
    sim.receiver.answer(
        "/c2b/validate",
        {"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "ours-1"},
    )
    response = await sim.post("/mpesa/c2b/v2/simulate", c2b_simulate())
    validation = await sim.receiver.next("/c2b/validate")
    confirmation = await sim.receiver.next("/c2b/confirm")

    assert response.json()["ResponseDescription"] == "Accept the service request successfully."
    assert "OriginatorCoversationID" in response.json()
    assert validation == fixture("c2b_validation.json") | {
        "TransID": validation["TransID"],
        "TransTime": TS,
    }
    assert RECEIPT.fullmatch(validation["TransID"])
    assert confirmation == validation | {
        "OrgAccountBalance": "100150.00",
        "ThirdPartyTransID": "ours-1",
    }
    assert (await sim.state())["balances"]["utility"] == 100_150


@pytest.mark.parametrize(
    ("answer", "status", "response_type", "confirmed"),
    [
        ({"ResultCode": "C2B00012", "ResultDesc": "Rejected"}, 200, "Completed", False),
        ({"ResultCode": 0, "ResultDesc": "Accepted"}, 200, "Cancelled", True),
        ({"error": "boom"}, 500, "Completed", True),
        ({"error": "boom"}, 500, "Cancelled", False),
    ],
    ids=["rejected", "accepted-int-code", "down-completed", "down-cancelled"],
)
async def test_c2b_validation_decides_the_confirmation(
    sim: Sim, answer: dict[str, Any], status: int, response_type: str, confirmed: bool
) -> None:
    await sim.post("/mpesa/c2b/v2/registerurl", c2b_register(sim, ResponseType=response_type))
    sim.receiver.answer("/c2b/validate", answer, status=status)
    await sim.post("/mpesa/c2b/v2/simulate", c2b_simulate())
    await sim.receiver.next("/c2b/validate")
    await sim.drain()
    assert len(sim.receiver.bodies("/c2b/confirm")) == (1 if confirmed else 0)
    assert (await sim.state())["balances"]["utility"] == (100_150 if confirmed else 100_000)


async def test_c2b_v1_hashes_the_msisdn(sim: Sim) -> None:
    await sim.post("/mpesa/c2b/v1/registerurl", c2b_register(sim))
    await sim.post("/mpesa/c2b/v1/simulate", c2b_simulate())
    validation = await sim.receiver.next("/c2b/validate")
    assert validation["MSISDN"] == hashlib.sha256(b"254708374149").hexdigest()


async def test_c2b_payment_can_be_reversed(sim: Sim) -> None:
    await sim.post("/mpesa/c2b/v2/registerurl", c2b_register(sim))
    await sim.post("/mpesa/c2b/v2/simulate", c2b_simulate())
    confirmation = await sim.receiver.next("/c2b/confirm")
    body = sim.reversal(confirmation["TransID"], ReceiverParty="600984")
    await sim.post(REVERSAL, body)
    result = await sim.receiver.next("/reversal/result")
    assert result["Result"]["ResultCode"] == 0
    assert params(result)["DebitPartyPublicName"] == "600984 - Safaricom Daraja 984"


async def test_c2b_simulate_needs_registered_urls(sim: Sim) -> None:
    response = await sim.post("/mpesa/c2b/v2/simulate", c2b_simulate())
    assert error(response) == (400, "400.002.02", "Bad Request - Invalid ShortCode")


# Faults


async def test_duplicate_callbacks_delivers_every_callback_twice(make_sim: MakeSim) -> None:
    sim = await make_sim(faults=Faults(duplicate_callbacks=True))
    await sim.post(STK_PUSH, sim.stk())
    first = await sim.receiver.next("/stk")
    second = await sim.receiver.next("/stk")
    assert first == second


async def test_callback_before_response_delivers_before_answering(sim: Sim) -> None:
    await sim.faults(callback_before_response=True)
    push = await sim.post(STK_PUSH, sim.stk())
    payout = await sim.post(B2C, sim.b2c("payout-early"))
    # already there when the HTTP answers came back: nothing to wait for
    assert (sim.receiver.pending("/stk"), sim.receiver.pending("/b2c/result")) == (1, 1)
    assert (push.status_code, payout.status_code) == (200, 200)


async def test_fail_next_n_answers_500_and_applies_nothing(sim: Sim) -> None:
    await sim.faults(fail_next_n=1)
    failed = await sim.post(B2C, sim.b2c("payout-fail"))
    assert error(failed) == (500, "500.003.1001", "Internal Server Error")
    assert (await sim.state())["payouts"] == []
    retried = await sim.post(B2C, sim.b2c("payout-fail"))
    assert retried.status_code == 200


async def test_rate_limit_next_n_is_a_spike_arrest_500(sim: Sim) -> None:
    await sim.faults(rate_limit_next_n=2)
    first = await sim.post(STK_PUSH, sim.stk())
    second = await sim.post(STK_PUSH, sim.stk())
    third = await sim.post(STK_PUSH, sim.stk())
    assert error(first) == (500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    assert error(second)[:2] == (500, "500.003.02")
    assert third.status_code == 200
    assert len((await sim.state())["prompts"]) == 1


async def test_rate_limit_can_be_a_429_with_retry_after(sim: Sim) -> None:
    await sim.faults(rate_limit_next_n=1, rate_limit_status=429, rate_limit_retry_after_s=7)
    response = await sim.post(STK_PUSH, sim.stk())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["errorCode"] == "500.003.02"


async def test_slow_response_still_applies_the_request(sim: Sim) -> None:
    await sim.faults(slow_response_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        await sim.http.post(
            STK_PUSH,
            json=sim.stk(),
            headers={"Authorization": f"Bearer {sim.token}"},
            timeout=httpx.Timeout(5.0, read=0.05),
        )
    callback = await sim.receiver.next("/stk")
    assert callback["Body"]["stkCallback"]["ResultCode"] == 0


async def test_drop_callbacks_sends_nothing_but_the_outcome_happens(sim: Sim) -> None:
    await sim.faults(drop_callbacks=True)
    cid = (await sim.post(STK_PUSH, sim.stk())).json()["CheckoutRequestID"]
    state = await sim.drain()
    query = await sim.post(STK_QUERY, sim.stk_query(cid))
    assert sim.receiver.received == []
    assert [(d["kind"], d["dropped"], d["status"]) for d in state["deliveries"]] == [
        ("stk", True, None)
    ]
    assert query.json()["ResultCode"] == "0"


@pytest.mark.parametrize(
    "changes",
    [{"nonsense": 1}, {"fail_next_n": -1}, {"drop_callbacks": "yes"}, {"slow_response_s": "1"}],
)
async def test_faults_endpoint_refuses_bad_changes(sim: Sim, changes: dict[str, Any]) -> None:
    response = await sim.http.post("/simulator/faults", json=changes)
    assert response.status_code == 400
    assert (await sim.state())["faults"] == Faults().snapshot()


async def test_deliveries_record_the_receivers_answer_and_failures(sim: Sim) -> None:
    sim.receiver.answer("/stk", {"oops": True}, status=503)
    await sim.paid_stk()
    await sim.post(STK_PUSH, sim.stk("254700000003", CallBackURL="http://127.0.0.1:9/stk"))
    state = await sim.drain()
    answered, failed = state["deliveries"]
    assert (answered["url"], answered["status"], answered["error"]) == (
        sim.receiver.url("/stk"),
        503,
        None,
    )
    assert answered["body"]["Body"]["stkCallback"]["ResultCode"] == 0
    assert failed["status"] is None
    assert failed["error"]


async def test_reset_forgets_transactions_but_keeps_tokens(sim: Sim) -> None:
    await sim.paid_stk()
    await sim.faults(drop_callbacks=True)
    await sim.http.post("/simulator/reset")
    state = await sim.state()
    response = await sim.post(STK_PUSH, sim.stk())
    assert (state["prompts"], state["deliveries"]) == ([], [])
    assert state["balances"]["utility"] == 100_000
    assert state["faults"]["drop_callbacks"] is False
    assert response.status_code == 200


async def test_shutdown_cancels_pending_callbacks(aiohttp_server: Any, clock: Clock) -> None:
    app = create_simulator(SimulatorConfig(clock=clock, callback_delay_s=3600))
    server = await aiohttp_server(app)
    async with (
        CallbackReceiver() as receiver,
        httpx.AsyncClient(base_url=str(server.make_url("")).rstrip("/")) as http,
    ):
        token = (
            await http.get(
                "/oauth/v1/generate?grant_type=client_credentials",
                auth=("simulator-key", "simulator-secret"),
            )
        ).json()["access_token"]
        body = Sim(http=http, app=app, receiver=receiver).stk()
        await http.post(STK_PUSH, json=body, headers={"Authorization": f"Bearer {token}"})
        assert app[SIM_DELIVERER].busy == 1
        await server.close()
        assert app[SIM_DELIVERER].busy == 0
        assert receiver.received == []


# Documentation


def test_module_docstring_carries_the_outcome_table() -> None:
    doc = mpesa.simulator.__doc__ or ""
    for line in outcome_table().splitlines():
        assert line.strip() in doc


def test_password_helper_matches_the_fixture() -> None:
    # guards the test builder itself: same formula as the fixture's real sandbox Password
    request = fixture("stk_push_request.json")
    expected = base64.b64encode(f"174379{SANDBOX_PASSKEY}{request['Timestamp']}".encode()).decode()
    assert request["Password"] == expected
    assert daraja_timestamp(START) == TS


async def test_cancels_first_number_pays_on_the_second_prompt(sim: Sim) -> None:
    from mpesa.simulator.scenarios import CANCELS_FIRST_MSISDN

    codes = []
    for _ in range(2):
        answer = await sim.post(STK_PUSH, sim.stk(CANCELS_FIRST_MSISDN))
        assert answer.status_code == 200
        callback = await sim.receiver.next("/stk")
        codes.append(callback["Body"]["stkCallback"]["ResultCode"])

    assert codes == [1032, 0]
