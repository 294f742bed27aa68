"""Idempotency-Key: the same key and body answer the first response; reuse or overlap is 409."""

from __future__ import annotations

import json

import pytest

from bot.services.idempotency import request_hash
from models import ApiKey
from models import AuditEvent
from models import IdempotencyRecord
from models import Order
from models import Payment
from tests.web.api.conftest import create_order
from tests.web.api.conftest import initiate

ORDERS = "/api/v1/orders"
BODY = {"amount": 1500, "description": "2 x cooking oil"}


async def post(api, body, key: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token or api.token}", "Idempotency-Key": key}
    return await api.client.post(ORDERS, json=body, headers=headers)


async def test_the_same_key_and_body_answer_the_first_response(api) -> None:
    first = await post(api, BODY, "order-1043")
    second = await post(api, BODY, "order-1043")

    assert (first.status, second.status) == (201, 201)
    assert await second.json() == await first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await Order.all().count() == 1


async def test_the_same_key_with_another_body_is_409(api) -> None:
    await post(api, BODY, "order-1043")

    other = await post(api, {**BODY, "amount": 900}, "order-1043")

    assert other.status == 409
    error = (await other.json())["error"]
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert await Order.all().count() == 1
    audited = await AuditEvent.filter(action="api.orders.create").values_list("outcome", flat=True)
    assert audited == ["ok", "http_409"]


async def test_a_request_still_running_under_the_key_is_409(api) -> None:
    raw = json.dumps(BODY).encode()
    await IdempotencyRecord.create(
        api_key_id=api.key.id, key="busy", request_hash=request_hash("POST", ORDERS, raw)
    )

    response = await post(api, BODY, "busy")

    assert response.status == 409
    assert (await response.json())["error"]["code"] == "idempotency_in_progress"
    assert await Order.all().count() == 0


async def test_a_refusal_is_replayed_too(api) -> None:
    bad = {"amount": "1500", "description": "x"}

    first = await post(api, bad, "bad-1")
    second = await post(api, bad, "bad-1")

    assert (first.status, second.status) == (400, 400)
    assert await second.json() == await first.json()


async def test_keys_belong_to_one_api_key(api) -> None:
    _, other_token = await api.services.api_keys.create("pos")

    await post(api, BODY, "order-1043")
    other = await post(api, BODY, "order-1043", token=other_token)

    assert other.status == 201
    assert "Idempotent-Replayed" not in other.headers
    assert await Order.all().count() == 2
    assert await IdempotencyRecord.all().count() == 2
    assert {r.api_key_id for r in await IdempotencyRecord.all()} == {
        k.id for k in await ApiKey.all()
    }


async def test_an_initiate_sent_twice_pushes_once(api) -> None:
    order = await create_order(api)

    first = await initiate(api, order["orderId"], **{"Idempotency-Key": "pay-1043"})
    second = await initiate(api, order["orderId"], **{"Idempotency-Key": "pay-1043"})

    assert (first.status, second.status) == (201, 201)
    assert await second.json() == await first.json()
    assert len(api.daraja.called("stk_push")) == 1
    assert await Payment.all().count() == 1


async def test_an_overlong_key_is_400(api) -> None:
    response = await post(api, BODY, "k" * 129)

    assert response.status == 400
    assert (await response.json())["error"]["field"] == "Idempotency-Key"
    assert await Order.all().count() == 0


async def test_the_same_json_in_another_layout_is_the_same_request(api) -> None:
    headers = {**api.headers, "Idempotency-Key": "order-layout", "Content-Type": "application/json"}
    compact = b'{"amount":1500,"description":"2 x cooking oil"}'
    spread = b'{\n  "description" : "2 x cooking oil",\n  "amount" : 1500\n}'

    first = await api.client.post(ORDERS, data=compact, headers=headers)
    second = await api.client.post(ORDERS, data=spread, headers=headers)

    assert (first.status, second.status) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await second.json() == await first.json()
    assert await Order.all().count() == 1


async def test_other_values_in_the_same_layout_are_another_request(api) -> None:
    headers = {**api.headers, "Idempotency-Key": "order-values", "Content-Type": "application/json"}
    await api.client.post(ORDERS, data=b'{"amount": 1500, "description": "a"}', headers=headers)

    same = await api.client.post(
        ORDERS, data=b'{"amount": 1500.0, "description": "a"}', headers=headers
    )
    other = await api.client.post(
        ORDERS, data=b'{"amount": 1500.5, "description": "a"}', headers=headers
    )

    assert same.headers["Idempotent-Replayed"] == "true"  # JSON's 1500.0 is the integer 1500
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"


def test_the_canonical_form_sorts_keys_and_drops_whitespace_only() -> None:
    assert request_hash("POST", ORDERS, b'{"b": [1, 2], "a": "x y"}') == request_hash(
        "post", ORDERS, b'{"a":"x y","b":[1,2]}'
    )
    assert request_hash("POST", ORDERS, b'{"a": "x y"}') != request_hash(
        "POST", ORDERS, b'{"a": "xy"}'
    )
    assert request_hash("POST", ORDERS, b"not json ") != request_hash("POST", ORDERS, b"not json")


@pytest.mark.parametrize("key", ["", " ", "caf\u00e9-1", "k" * 129])
async def test_a_key_outside_visible_ascii_or_too_long_is_400(api, key) -> None:
    response = await post(api, BODY, key)

    assert response.status == 400
    assert (await response.json())["error"]["field"] == "Idempotency-Key"
    assert await Order.all().count() == 0


# -- hole 11 of issue 11: a claim left by a crashed request lapses ---------------------------------

INITIATE = "/api/v1/payments/initiate"


async def crashed_initiate(api, key: str, *, post_state: str) -> tuple[dict, Payment]:
    """What kill -9 during POST /payments/initiate leaves: the claim, and its held payment."""
    order = await create_order(api)
    body = {"orderId": order["orderId"], "paymentMethod": "MPESA", "phoneNumber": "0708374149"}
    digest = request_hash("POST", INITIATE, json.dumps(body).encode())
    await api.services.idempotency.begin(api.key.id, key, digest)  # status_code stays NULL
    intents = api.services.payouts.intents
    payment = await Payment.create(
        msisdn="254708374149",
        amount=1500,
        account_reference=order["orderId"],
        order_id=(await Order.get(code=order["orderId"])).id,
        in_flight_msisdn="254708374149",
        in_flight_order_id=(await Order.get(code=order["orderId"])).id,
        post_state=post_state,
        created_at=api.clock.now,
        **intents.held_fields(intents.new_holder()),
    )
    return body, payment


async def retry(api, body: dict, key: str):
    headers = {**api.headers, "Idempotency-Key": key}
    return await api.client.post(INITIATE, json=body, headers=headers)


async def test_hole_11_a_crashed_claim_lapses_and_the_retry_gets_a_real_answer(api) -> None:
    body, payment = await crashed_initiate(api, "pay-crash", post_state="sending")

    early = await retry(api, body, "pay-crash")  # the first request may still be running
    assert (await early.json())["error"]["code"] == "idempotency_in_progress"

    api.clock.advance(api.services.settings.daraja_call_max_s + 1)
    await api.services.reconciler.run_once()  # the push may have left: unknown, never resent
    late = await retry(api, body, "pay-crash")

    error = (await late.json())["error"]
    assert (late.status, error["code"]) == (409, "conflict")
    assert f"/resolve #{payment.id}" in error["message"]
    assert (await Payment.get(id=payment.id)).status == "unknown"
    assert api.daraja.called("stk_push") == []  # nothing was sent again
    assert await IdempotencyRecord.filter(key="pay-crash").count() == 1


async def test_hole_11_a_crash_before_sending_lets_the_retry_push_once(api) -> None:
    body, payment = await crashed_initiate(api, "pay-early-crash", post_state="not_sent")
    api.clock.advance(api.services.settings.daraja_call_max_s + 1)
    await api.services.reconciler.run_once()  # never sent: failed, the order is free

    first = await retry(api, body, "pay-early-crash")
    again = await retry(api, body, "pay-early-crash")

    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await Payment.get(id=payment.id)).status == "failed"
    assert len(api.daraja.called("stk_push")) == 1
