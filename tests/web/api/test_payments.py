"""Initiate, status and retry: the bot's payment rules, answered as JSON with precise codes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from mpesa.errors import DarajaUnreachable
from mpesa.errors import InvalidRequest
from mpesa.models import StkPushResponse
from tests.helpers.stk import stk_callback
from tests.web.api.conftest import SQLITE_ONLY
from tests.web.api.conftest import create_order
from tests.web.api.conftest import initiate

STATUS = "/api/v1/payments/status/{}"
RETRY = "/api/v1/payments/retry/{}"


async def settle(api: Any, payment_id: int, result_code: int = 0, amount: int = 1500) -> None:
    """Apply an STK callback for a payment, as M-Pesa would send it."""
    payment = await Payment.get(id=payment_id)
    await api.services.payments.apply_stk_callback(
        stk_callback(payment.checkout_request_id, result_code=result_code, amount=amount)
    )


async def test_initiate_sends_an_stk_push_for_the_order_amount(api) -> None:
    order = await create_order(api, 1500)

    response = await initiate(api, order["orderId"], phone="+254708374149")

    assert response.status == 201
    payment = await response.json()
    assert {k: payment[k] for k in ("orderId", "status", "amount", "phoneNumber", "attempt")} == {
        "orderId": order["orderId"],
        "status": "pending",
        "amount": 1500,
        "phoneNumber": "2547****149",
        "attempt": 1,
    }
    [push] = api.daraja.called("stk_push")
    assert (push["msisdn"], push["amount"], push["reference"]) == (
        "254708374149",
        1500,
        order["orderId"],
    )
    stored = await Payment.get(id=payment["paymentId"])
    assert stored.initiated_via == "api:shop"


async def test_the_order_code_is_read_like_the_bot_reads_it(api) -> None:
    order = await create_order(api)

    response = await initiate(api, order["orderId"].lower())

    assert response.status == 201


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phoneNumber": "0712 34"}, "phoneNumber"),
        ({"phoneNumber": "hello"}, "phoneNumber"),
        ({"phoneNumber": 708374149}, "phoneNumber"),
        ({"phoneNumber": None}, "phoneNumber"),
        ({"paymentMethod": "CARD"}, "paymentMethod"),
        ({"paymentMethod": None}, "paymentMethod"),
        ({"orderId": None}, "orderId"),
        ({"orderId": 12}, "orderId"),
        ({"orderId": "   "}, "orderId"),
        ({"orderId": "X" * 33}, "orderId"),
    ],
)
async def test_invalid_initiate_fields_are_400(api, change, field) -> None:
    order = await create_order(api)
    body = {"orderId": order["orderId"], "paymentMethod": "MPESA", "phoneNumber": "0708374149"}

    response = await api.client.post(
        "/api/v1/payments/initiate", json={**body, **change}, headers=api.headers
    )

    assert response.status == 400
    assert (await response.json())["error"]["field"] == field
    assert api.daraja.called("stk_push") == []


async def test_the_phone_refusal_says_why(api) -> None:
    order = await create_order(api)

    response = await initiate(api, order["orderId"], phone="0712 34")

    assert (await response.json())["error"]["message"] == (
        "0712 34 is too short for a Kenyan mobile number"
    )


@pytest.mark.parametrize("phone", ["0708374149", "708374149", "254708374149", "+254708374149"])
async def test_the_four_documented_phone_forms_are_taken(api, phone) -> None:
    order = await create_order(api)

    response = await initiate(api, order["orderId"], phone=phone)

    assert response.status == 201
    assert api.daraja.called("stk_push")[0]["msisdn"] == "254708374149"


@pytest.mark.parametrize("phone", ["+254 708 374 149", "0708-374-149", "00254708374149"])
async def test_a_phone_with_signs_is_400_showing_the_forms_taken(api, phone) -> None:
    order = await create_order(api)

    response = await initiate(api, order["orderId"], phone=phone)

    error = (await response.json())["error"]
    assert (response.status, error["field"]) == (400, "phoneNumber")
    assert error["message"] == (
        "Write phoneNumber as digits only: 0708374149, 708374149, 254708374149 or +254708374149."
    )
    assert api.daraja.called("stk_push") == []


async def test_an_unknown_order_is_404(api) -> None:
    response = await initiate(api, "HPNOSUCH22")

    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_one_payment_at_a_time_per_order(api) -> None:
    order = await create_order(api)
    await initiate(api, order["orderId"])

    again = await initiate(api, order["orderId"], phone="0711111111")

    assert again.status == 409
    assert (await again.json())["error"]["code"] == "payment_in_progress"
    assert len(api.daraja.called("stk_push")) == 1


async def test_a_losing_concurrent_initiate_is_409_payment_in_progress_with_its_id(api) -> None:
    order = await create_order(api)
    pushed = asyncio.Event()
    release = asyncio.Event()
    answer_push = api.daraja.stk_push

    async def slow_push(**kwargs: Any) -> Any:
        pushed.set()
        await release.wait()  # the winner is between its insert and M-Pesa's answer
        return await answer_push(**kwargs)

    api.daraja.stk_push = slow_push
    winner = asyncio.ensure_future(initiate(api, order["orderId"]))
    await pushed.wait()

    loser = await initiate(api, order["orderId"], phone="0711111111")
    release.set()
    won = await winner

    error = (await loser.json())["error"]
    paid_for = await won.json()
    assert (won.status, loser.status) == (201, 409)
    assert (error["code"], error["paymentId"]) == ("payment_in_progress", paid_for["paymentId"])
    assert f"#{paid_for['paymentId']}" in error["message"]
    assert len(api.daraja.called("stk_push")) == 1


async def test_one_prompt_at_a_time_per_phone(api) -> None:
    first = await create_order(api)
    second = await create_order(api, 900)
    await initiate(api, first["orderId"])

    response = await initiate(api, second["orderId"], phone="+254708374149")

    error = (await response.json())["error"]
    assert (response.status, error["code"], error["field"]) == (
        409,
        "payment_in_progress",
        "phoneNumber",
    )
    assert len(api.daraja.called("stk_push")) == 1


async def test_a_paid_order_is_never_charged_again(api) -> None:
    order = await create_order(api)
    first = await (await initiate(api, order["orderId"])).json()
    await settle(api, first["paymentId"])

    again = await initiate(api, order["orderId"])
    retry = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    assert (again.status, (await again.json())["error"]["code"]) == (409, "already_paid")
    assert (retry.status, (await retry.json())["error"]["code"]) == (409, "already_paid")
    assert len(api.daraja.called("stk_push")) == 1


async def test_a_cancelled_order_is_409(api) -> None:
    order = await create_order(api)
    await Order.filter(code=order["orderId"]).update(status=OrderStatus.CANCELLED)

    response = await initiate(api, order["orderId"])

    assert (response.status, (await response.json())["error"]["code"]) == (409, "order_cancelled")


@pytest.mark.parametrize(
    "answer",
    [
        InvalidRequest("Bad Request - Invalid PhoneNumber", code="400.002.02"),
        DarajaUnreachable("connection refused"),
        StkPushResponse(
            MerchantRequestID="m",
            CheckoutRequestID="c",
            ResponseCode="1",
            ResponseDescription="Rejected",
            CustomerMessage="Rejected",
        ),
    ],
)
async def test_a_push_m_pesa_refuses_is_502_and_can_be_retried(api, answer) -> None:
    order = await create_order(api)
    api.daraja.queue("stk_push", answer)

    refused = await initiate(api, order["orderId"])
    retried = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    assert refused.status == 502
    assert (await refused.json())["error"]["code"] == "upstream_refused"
    assert retried.status == 201
    payments = await Payment.filter(order__code=order["orderId"]).order_by("id")
    assert [(p.status, p.attempt) for p in payments] == [
        (PaymentStatus.FAILED, 1),
        (PaymentStatus.PENDING, 2),
    ]


async def test_status_shows_the_order_and_its_latest_attempt(api) -> None:
    order = await create_order(api)
    payment = await (await initiate(api, order["orderId"])).json()

    pending = await api.client.get(STATUS.format(order["orderId"]), headers=api.headers)
    await settle(api, payment["paymentId"])
    paid = await (await api.client.get(STATUS.format(order["orderId"]), headers=api.headers)).json()

    assert pending.status == 200
    assert (await pending.json())["payment"]["status"] == "pending"
    assert (paid["status"], paid["paid"], paid["payment"]["status"]) == ("paid", True, "paid")
    assert paid["receipt"] == paid["payment"]["receipt"] == "UKK4Q7M2XB"


async def test_status_of_an_unknown_order_is_404(api) -> None:
    response = await api.client.get(STATUS.format("HPNOSUCH22"), headers=api.headers)

    assert response.status == 404


async def test_retry_sends_a_new_attempt_after_a_failure(api) -> None:
    order = await create_order(api)
    first = await (await initiate(api, order["orderId"])).json()
    await settle(api, first["paymentId"], result_code=1032)

    response = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    assert response.status == 201
    retry = await response.json()
    assert (retry["attempt"], retry["status"]) == (2, "pending")
    assert retry["phoneNumber"] == "2547****149"
    assert len(api.daraja.called("stk_push")) == 2


async def test_retry_while_a_payment_waits_is_409(api) -> None:
    order = await create_order(api)
    await initiate(api, order["orderId"])

    response = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    error = (await response.json())["error"]
    waiting = await Payment.get(order__code=order["orderId"])
    assert (response.status, error["code"], error["paymentId"]) == (
        409,
        "payment_in_progress",
        waiting.id,
    )


async def test_retry_without_a_first_attempt_is_409(api) -> None:
    order = await create_order(api)

    response = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    assert (response.status, (await response.json())["error"]["code"]) == (409, "nothing_to_retry")


async def test_retry_of_a_payment_under_review_is_409(api) -> None:
    order = await create_order(api)
    first = await (await initiate(api, order["orderId"])).json()
    await settle(api, first["paymentId"], amount=10)  # paid the wrong amount: review

    response = await api.client.post(RETRY.format(order["orderId"]), headers=api.headers)

    assert (await Payment.get(id=first["paymentId"])).status == PaymentStatus.REVIEW
    assert (response.status, (await response.json())["error"]["code"]) == (409, "conflict")


async def test_retry_of_an_unknown_order_is_404(api) -> None:
    response = await api.client.post(RETRY.format("HPNOSUCH22"), headers=api.headers)

    assert response.status == 404


async def test_initiate_keeps_the_email_the_receipt_goes_to(api) -> None:
    order = await create_order(api, 1500)
    body = {
        "orderId": order["orderId"],
        "paymentMethod": "MPESA",
        "phoneNumber": "0708374149",
        "email": "wanjiku@example.co.ke",
    }

    response = await api.client.post("/api/v1/payments/initiate", json=body, headers=api.headers)

    assert response.status == 201
    assert (await Order.get(code=order["orderId"])).email == "wanjiku@example.co.ke"


@pytest.mark.parametrize("email", ["not-an-address", "a b@example.co.ke", 12, "x@y.z" + "a" * 250])
async def test_initiate_refuses_a_bad_email_before_any_prompt(api, email) -> None:
    order = await create_order(api, 1500)
    body = {
        "orderId": order["orderId"],
        "paymentMethod": "MPESA",
        "phoneNumber": "0708374149",
        "email": email,
    }

    response = await api.client.post("/api/v1/payments/initiate", json=body, headers=api.headers)

    assert response.status == 400
    assert (await response.json())["error"]["field"] == "email"
    assert api.daraja.called("stk_push") == []
    assert (await Order.get(code=order["orderId"])).email is None
