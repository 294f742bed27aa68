"""DarajaClient against a strict respx router: bodies field by field, one test per failure mode."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from mpesa.client import DEFAULT_TIMEOUT
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.errors import AuthFailed
from mpesa.errors import ConfigurationError
from mpesa.errors import DarajaUnreachable
from mpesa.errors import DuplicateRequest
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from mpesa.errors import RateLimited
from mpesa.errors import ServerError
from mpesa.models import AsyncAccepted
from mpesa.models import C2BRegisterResponse
from mpesa.models import CallbackUrls
from mpesa.models import StkPushResponse
from mpesa.models import StkQueryResponse
from mpesa.security import stk_password
from tests.helpers.clients import client_maker
from tests.helpers.clock import Clock
from tests.helpers.sim_http import B2C
from tests.helpers.sim_http import BALANCE
from tests.helpers.sim_http import REVERSAL
from tests.helpers.sim_http import STATUS
from tests.helpers.sim_http import STK_PUSH
from tests.helpers.sim_http import STK_QUERY

BASE = "https://daraja.test"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja"
HOOKS = "https://pay.example.co.ke/hooks/7f3c9a2e41d86b0c"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
CONSUMER_KEY = "consumer-key-test"
CONSUMER_SECRET = "consumer-secret-test"
TOKEN = "Gx8Yq2WbN4tLr7KpVd3ZsH6mJc1F"
NEW_TOKEN = "Hy9Zr3XcO5uMs8LqWe4AtI7nKd2G"
MSISDN = "254708374149"
# 14:30:05 in Nairobi: the Timestamp of stk_push_request.json
PUSH_TIME = datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC)
QUERY_TIME = datetime(2026, 11, 20, 11, 32, 10, tzinfo=UTC)

OAUTH = "/oauth/v1/generate"
C2B_REGISTER = "/mpesa/c2b/v2/registerurl"
C2B_SIMULATE = "/mpesa/c2b/v2/simulate"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


CALLBACKS = CallbackUrls(
    stk=f"{HOOKS}/stk",
    b2c_result=f"{HOOKS}/b2c/result",
    b2c_timeout=f"{HOOKS}/b2c/timeout",
    status_result=f"{HOOKS}/status/result",
    status_timeout=f"{HOOKS}/status/timeout",
    balance_result=f"{HOOKS}/balance/result",
    balance_timeout=f"{HOOKS}/balance/timeout",
    reversal_result=f"{HOOKS}/reversal/result",
    reversal_timeout=f"{HOOKS}/reversal/timeout",
    c2b_confirmation=f"{HOOKS}/c2b/confirm",
    c2b_validation=f"{HOOKS}/c2b/validate",
)
CONFIG = DarajaConfig(
    base_url=BASE,
    consumer_key=CONSUMER_KEY,
    consumer_secret=CONSUMER_SECRET,
    shortcode="174379",
    passkey=PASSKEY,
    callbacks=CALLBACKS,
    b2c_shortcode="600996",
    initiator_name="testapi",
    security_credential=fixture("b2c_request.json")["SecurityCredential"],
)
# reversals and C2B belong to the paybill of the C2B fixtures
C2B_CONFIG = replace(CONFIG, shortcode="600984")


class FakeClock(Clock):
    """A clock moved by hand that counts how often it is read."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now


class TickingClock(FakeClock):
    """Moves one second forward every time it is read: exposes a timestamp generated twice."""

    def __call__(self) -> datetime:
        moment = super().__call__()
        self.advance(1)
        return moment


def typed(body: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Key -> (type name, value): makes 150 vs 150.0 vs "150" differ in a dict comparison."""
    return {key: (type(value).__name__, value) for key, value in body.items()}


def sent_body(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


def daraja_error(status: int, name: str) -> httpx.Response:
    return httpx.Response(status, json=fixture(name))


def error_body(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"requestId": "4f6a-4d3c-8e2b-1a9f7c5e3d0b1551372", "errorCode": code}
    return httpx.Response(status, json={**body, "errorMessage": message}, headers=headers)


def apigee_fault(status: int, errorcode: str, faultstring: str) -> httpx.Response:
    """A refusal by Safaricom's Apigee gateway, in its own shape (not Daraja's)."""
    fault = {"faultstring": faultstring, "detail": {"errorcode": errorcode}}
    return httpx.Response(status, json={"fault": fault})


def two_tokens(router: respx.MockRouter, *, expires_in: Any = "3599") -> respx.Route:
    """The OAuth route answering TOKEN, then NEW_TOKEN."""
    answers = [{"access_token": token, "expires_in": expires_in} for token in (TOKEN, NEW_TOKEN)]
    return router.get(OAUTH).mock(side_effect=[httpx.Response(200, json=a) for a in answers])


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def oauth(router: respx.MockRouter) -> respx.Route:
    return router.get(OAUTH, params={"grant_type": "client_credentials"}).respond(
        json=fixture("oauth_response.json")
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(PUSH_TIME)


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
async def make_daraja(
    clock: FakeClock, delays: list[float]
) -> AsyncIterator[Callable[..., DarajaClient]]:
    async with client_maker(DarajaClient, CONFIG, clock, delays) as make:
        yield make


@pytest.fixture
def daraja(make_daraja: Callable[..., DarajaClient]) -> DarajaClient:
    return make_daraja()


async def push(daraja: DarajaClient) -> StkPushResponse:
    return await daraja.stk_push(
        msisdn=MSISDN, amount=150, reference="HP-ORD-1042", description="Order 1042"
    )


async def payout(daraja: DarajaClient) -> AsyncAccepted:
    return await daraja.b2c_payment(
        originator_conversation_id="3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
        msisdn=MSISDN,
        amount=500,
        remarks="Refund order 1042",
        occasion="Refund",
    )


async def reverse(daraja: DarajaClient) -> AsyncAccepted:
    return await daraja.reversal(
        transaction_id="UKK2M8P4RS", amount=150, remarks="Paid wrong account", occasion="Order 1043"
    )


async def register(daraja: DarajaClient) -> C2BRegisterResponse:
    return await daraja.c2b_register_urls()


async def simulate(daraja: DarajaClient) -> C2BRegisterResponse:
    return await daraja.c2b_simulate(msisdn=MSISDN, amount=150, bill_ref_number="HP-ORD-1043")


async def query(daraja: DarajaClient) -> StkQueryResponse:
    return await daraja.stk_query("ws_CO_20112026143005812708374149")


async def status(daraja: DarajaClient) -> AsyncAccepted:
    return await daraja.transaction_status(
        originator_conversation_id="3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
        remarks="Reconcile payout",
        occasion="Reconcile",
    )


async def balance(daraja: DarajaClient) -> AsyncAccepted:
    return await daraja.account_balance(remarks="Daily balance")


# (path, call, config) for the requests that must never be sent twice
MONEY_POSTS = [
    pytest.param(STK_PUSH, push, CONFIG, id="stk_push"),
    pytest.param(B2C, payout, CONFIG, id="b2c_payment"),
    pytest.param(REVERSAL, reverse, C2B_CONFIG, id="reversal"),
    pytest.param(C2B_REGISTER, register, C2B_CONFIG, id="c2b_register_urls"),
    pytest.param(C2B_SIMULATE, simulate, C2B_CONFIG, id="c2b_simulate"),
]
IDEMPOTENT = [
    pytest.param(
        STK_QUERY, query, StkQueryResponse, "stk_query_response_success.json", id="stk_query"
    ),
    pytest.param(
        STATUS, status, AsyncAccepted, "transaction_status_response.json", id="transaction_status"
    ),
    pytest.param(BALANCE, balance, AsyncAccepted, "b2c_response.json", id="account_balance"),
]


# -- successful calls: bodies compared with the fixture files ----------------------------------


async def test_oauth_sends_basic_credentials_and_grant_type(daraja, oauth):
    token = await daraja.access_token()

    request = oauth.calls.last.request
    assert (token, request.method, request.url.params["grant_type"]) == (
        TOKEN,
        "GET",
        "client_credentials",
    )
    credentials = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"


async def test_stk_push_sends_fixture_body(daraja, router, oauth):
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))

    result = await push(daraja)

    sent = sent_body(route)
    assert typed(sent) == typed(fixture("stk_push_request.json"))
    assert sent["Password"] == stk_password("174379", PASSKEY, sent["Timestamp"])
    headers = route.calls.last.request.headers
    assert (headers["Authorization"], headers["Content-Type"]) == (
        f"Bearer {TOKEN}",
        "application/json",
    )
    assert result == StkPushResponse(
        merchant_request_id="5f2c-4a7e-b91d-0c3e8a6f2d1b1532087",
        checkout_request_id="ws_CO_20112026143005812708374149",
        response_code="0",
        response_description="Success. Request accepted for processing",
        customer_message="Success. Request accepted for processing",
    )


async def test_stk_push_timestamp_is_generated_once(make_daraja, router, oauth):
    daraja = make_daraja(clock=TickingClock(PUSH_TIME))
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))

    await push(daraja)

    sent = sent_body(route)
    assert sent["Password"] == stk_password("174379", PASSKEY, sent["Timestamp"])


async def test_stk_push_till_uses_buy_goods_and_till_number(make_daraja, router, oauth):
    till = replace(CONFIG, transaction_type="CustomerBuyGoodsOnline", party_b="5123456")
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))

    await push(make_daraja(till))

    sent = sent_body(route)
    assert (sent["TransactionType"], sent["BusinessShortCode"], sent["PartyB"]) == (
        "CustomerBuyGoodsOnline",
        "174379",
        "5123456",
    )


async def test_requests_carry_explicit_default_timeout(daraja, router, oauth):
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))

    await push(daraja)

    expected = {"connect": 5.0, "read": 30.0, "write": 10.0, "pool": 5.0}
    assert route.calls.last.request.extensions["timeout"] == expected
    assert DEFAULT_TIMEOUT.as_dict() == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "stk_query_response_success.json",
            StkQueryResponse(
                merchant_request_id="5f2c-4a7e-b91d-0c3e8a6f2d1b1532087",
                checkout_request_id="ws_CO_20112026143005812708374149",
                result_code="0",
                result_desc="The service request is processed successfully.",
                pending=False,
            ),
        ),
        (
            "stk_query_response_cancelled.json",
            StkQueryResponse(
                merchant_request_id="a41d-4c2b-8e7f-3b9d0c6e5a2f1533904",
                checkout_request_id="ws_CO_20112026144512307708374149",
                result_code="1032",
                result_desc="Request cancelled by user",
                pending=False,
            ),
        ),
    ],
)
async def test_stk_query_sends_fixture_body_and_reads_result(
    daraja, router, oauth, clock, answer, expected
):
    clock.now = QUERY_TIME
    route = router.post(STK_QUERY).respond(json=fixture(answer))

    result = await query(daraja)

    assert typed(sent_body(route)) == typed(fixture("stk_query_request.json"))
    assert result == expected


async def test_b2c_payment_sends_fixture_body(daraja, router, oauth):
    route = router.post(B2C).respond(json=fixture("b2c_response.json"))

    result = await payout(daraja)

    assert typed(sent_body(route)) == typed(fixture("b2c_request.json"))
    assert result == AsyncAccepted(
        conversation_id="AG_20261120_20104f3c9e7a1b2d5c6e",
        originator_conversation_id="3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
        response_code="0",
        response_description="Accept the service request successfully.",
    )


async def test_transaction_status_sends_fixture_body_without_transaction_id(daraja, router, oauth):
    route = router.post(STATUS).respond(json=fixture("transaction_status_response.json"))

    result = await status(daraja)

    assert typed(sent_body(route)) == typed(fixture("transaction_status_request.json"))
    assert (result.conversation_id, result.response_code) == (
        "AG_20261120_2010c4e6a8b0d2f4a6c8",
        "0",
    )


async def test_transaction_status_by_receipt_sends_transaction_id_only(daraja, router, oauth):
    route = router.post(STATUS).respond(json=fixture("transaction_status_response.json"))

    await daraja.transaction_status(transaction_id="UKK7R3N9TD")

    sent = sent_body(route)
    expected = {
        key: value
        for key, value in fixture("transaction_status_request.json").items()
        if key != "OriginalConversationID"
    } | {"TransactionID": "UKK7R3N9TD", "Remarks": "Status check", "Occasion": ""}
    assert typed(sent) == typed(expected)


async def test_transaction_status_without_any_id_sends_nothing(daraja, router, oauth):
    with pytest.raises(ValueError, match="originator_conversation_id or transaction_id"):
        await daraja.transaction_status()

    assert oauth.call_count == 0


async def test_account_balance_sends_fixture_body(daraja, router, oauth):
    route = router.post(BALANCE).respond(json=fixture("transaction_status_response.json"))

    result = await balance(daraja)

    assert typed(sent_body(route)) == typed(fixture("account_balance_request.json"))
    assert result.originator_conversation_id == "7b1e-4f0a-9c3d-2e8b6a4f1d5c1541877"


async def test_reversal_sends_fixture_body(make_daraja, router, oauth):
    route = router.post(REVERSAL).respond(json=fixture("transaction_status_response.json"))

    result = await reverse(make_daraja(C2B_CONFIG))

    assert typed(sent_body(route)) == typed(fixture("reversal_request.json"))
    assert result.conversation_id == "AG_20261120_2010c4e6a8b0d2f4a6c8"


async def test_c2b_register_urls_sends_fixture_body(make_daraja, router, oauth):
    route = router.post(C2B_REGISTER).respond(json=fixture("c2b_register_response.json"))

    result = await register(make_daraja(C2B_CONFIG))

    assert typed(sent_body(route)) == typed(fixture("c2b_register_request.json"))
    assert result == C2BRegisterResponse(
        originator_conversation_id="0c7e-4b5a-9f31-e2d8c6a4b1f01546602",
        response_code="0",
        response_description="Success",
    )


async def test_c2b_simulate_sends_fixture_body(make_daraja, router, oauth):
    answer = {
        "OriginatorCoversationID": "9a2b-4c1d-8e3f-5a6b7c8d9e0f1546610",
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    route = router.post(C2B_SIMULATE).respond(json=answer)

    result = await simulate(make_daraja(C2B_CONFIG))

    assert typed(sent_body(route)) == typed(fixture("c2b_simulate_request.json"))
    assert result.originator_conversation_id == "9a2b-4c1d-8e3f-5a6b7c8d9e0f1546610"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": 1.5}, "amount"),
        ({"amount": "150"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": True}, "amount"),
        ({"msisdn": "0708374149"}, "party_a"),
        ({"reference": ""}, "account_reference"),
        ({"description": ""}, "transaction_desc"),
    ],
)
async def test_stk_push_refuses_bad_input_before_sending(daraja, router, oauth, kwargs, field):
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))
    arguments = {
        "msisdn": MSISDN,
        "amount": 150,
        "reference": "HP-ORD-1042",
        "description": "Order 1042",
    } | kwargs

    with pytest.raises(ValueError, match=field):
        await daraja.stk_push(**arguments)

    assert (oauth.call_count, route.call_count) == (0, 0)


async def test_b2c_without_initiator_is_configuration_error(make_daraja, router, oauth):
    daraja = make_daraja(replace(CONFIG, security_credential=""))

    with pytest.raises(ConfigurationError, match="initiator"):
        await payout(daraja)

    assert oauth.call_count == 0


# -- access token ------------------------------------------------------------------------------


@pytest.mark.parametrize("expires_in", ["3599", 3599, 3599.0])
async def test_token_is_cached_until_expiry_minus_margin(make_daraja, router, clock, expires_in):
    oauth = two_tokens(router, expires_in=expires_in)
    daraja = make_daraja(token_refresh_margin_s=120)

    first = await daraja.access_token()
    clock.advance(3599 - 120 - 1)
    cached = await daraja.access_token()
    clock.advance(1)
    renewed = await daraja.access_token()

    assert (first, cached, renewed, oauth.call_count) == (TOKEN, TOKEN, NEW_TOKEN, 2)


async def test_force_refresh_fetches_a_new_token(daraja, router):
    oauth = two_tokens(router)

    first = await daraja.access_token()
    forced = await daraja.access_token(force_refresh=True)

    assert (first, forced, oauth.call_count) == (TOKEN, NEW_TOKEN, 2)


class HeldOAuth:
    """The OAuth route, holding every request until it is released."""

    def __init__(self, router: respx.MockRouter) -> None:
        self._reached = asyncio.Event()
        self._release = asyncio.Event()
        self.route = router.get(OAUTH).mock(side_effect=self._answer)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self._reached.set()
        await self._release.wait()
        return httpx.Response(200, json=fixture("oauth_response.json"))

    async def release_once_reached(self) -> None:
        """Wait for the first request to arrive, then let every held one be answered."""
        await self._reached.wait()
        self._release.set()


@pytest.mark.parametrize("callers", [100, 1000])
async def test_concurrent_first_callers_share_one_oauth_request(daraja, router, callers):
    oauth = HeldOAuth(router)
    tasks = [asyncio.create_task(daraja.access_token()) for _ in range(callers)]
    # every task was scheduled before the first one reached the OAuth route, so once it is
    # reached they have all run up to the point where they wait for a token
    await oauth.release_once_reached()
    tokens = await asyncio.gather(*tasks)

    assert (set(tokens), oauth.route.call_count) == ({TOKEN}, 1)


async def test_concurrent_first_product_calls_share_one_oauth_request(daraja, router):
    oauth = HeldOAuth(router)
    route = router.post(STK_QUERY).respond(json=fixture("stk_query_response_success.json"))
    tasks = [asyncio.create_task(query(daraja)) for _ in range(100)]
    await oauth.release_once_reached()
    results = await asyncio.gather(*tasks)

    assert ({r.result_code for r in results}, oauth.route.call_count, route.call_count) == (
        {"0"},
        1,
        100,
    )


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(daraja_error(404, "error_invalid_token.json"), id="404.001.03"),
        pytest.param(
            error_body(401, "401.002.01", f"Error Occurred - Invalid Access Token - {TOKEN}"),
            id="401.002.01",
        ),
        pytest.param(error_body(400, "400.003.01", "Invalid Access Token"), id="400.003.01"),
        pytest.param(
            apigee_fault(401, "keymanagement.service.invalid_access_token", "Invalid Access Token"),
            id="apigee",
        ),
    ],
)
async def test_invalid_token_is_refreshed_once_and_call_retried_once(daraja, router, refusal):
    oauth = two_tokens(router)
    route = router.post(STK_PUSH).mock(
        side_effect=[refusal, httpx.Response(200, json=fixture("stk_push_response.json"))]
    )

    result = await push(daraja)

    authorizations = [call.request.headers["Authorization"] for call in route.calls]
    assert (oauth.call_count, route.call_count) == (2, 2)
    assert authorizations == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]
    assert result.checkout_request_id == "ws_CO_20112026143005812708374149"


async def test_invalid_token_twice_is_auth_failed_without_leaking_token(daraja, router, caplog):
    oauth = two_tokens(router)
    route = router.post(STK_QUERY).mock(
        side_effect=[
            error_body(401, "401.002.01", f"Error Occurred - Invalid Access Token - {TOKEN}"),
            error_body(401, "401.002.01", f"Error Occurred - Invalid Access Token - {NEW_TOKEN}"),
        ]
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AuthFailed) as caught:
        await query(daraja)

    assert (oauth.call_count, route.call_count) == (2, 2)
    assert (caught.value.code, caught.value.http_status) == ("401.002.01", 401)
    assert NEW_TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text
    assert NEW_TOKEN not in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.Response(400), id="400-empty-body"),
        pytest.param(httpx.Response(401), id="401-empty-body"),
        pytest.param(
            error_body(400, "400.008.01", "Invalid Authentication passed"), id="400.008.01"
        ),
    ],
)
async def test_oauth_refusal_is_auth_failed_and_not_retried(daraja, router, delays, answer):
    oauth = router.get(OAUTH).mock(return_value=answer)
    route = router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))

    with pytest.raises(AuthFailed) as caught:
        await push(daraja)

    assert (oauth.call_count, route.call_count, delays) == (1, 0, [])
    assert caught.value.http_status == answer.status_code
    assert CONSUMER_SECRET not in str(caught.value)


async def test_oauth_server_error_is_retried(daraja, router, delays):
    oauth = router.get(OAUTH).mock(
        side_effect=[
            httpx.Response(503, text="upstream down"),
            httpx.Response(200, json=fixture("oauth_response.json")),
        ]
    )

    token = await daraja.access_token()

    assert (token, oauth.call_count, len(delays)) == (TOKEN, 2, 1)


# -- refusals and failures ---------------------------------------------------------------------


async def test_bad_request_is_invalid_request_with_daraja_message(daraja, router, oauth, delays):
    route = router.post(STK_PUSH).mock(return_value=daraja_error(400, "error_bad_request.json"))

    with pytest.raises(InvalidRequest) as caught:
        await push(daraja)

    error = caught.value
    assert "Bad Request - Invalid PhoneNumber" in str(error)
    assert (error.code, error.request_id, error.http_status) == (
        "400.002.02",
        "b2e6-4f8d-9a31-c7d0e5f4a3b21549903",
        400,
    )
    assert (route.call_count, delays) == (1, [])


async def test_bad_request_on_idempotent_call_is_not_retried(daraja, router, oauth, delays):
    route = router.post(STK_QUERY).mock(return_value=daraja_error(400, "error_bad_request.json"))

    with pytest.raises(InvalidRequest):
        await query(daraja)

    assert (route.call_count, delays) == (1, [])


@pytest.mark.parametrize(
    "message",
    [
        "Wrong credentials",
        "Merchant does not exist",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    ],
)
async def test_stk_push_definite_500_refusals_are_invalid_request(daraja, router, oauth, message):
    route = router.post(STK_PUSH).mock(return_value=error_body(500, "500.001.1001", message))

    with pytest.raises(InvalidRequest) as caught:
        await push(daraja)

    assert message in str(caught.value)
    assert (caught.value.code, caught.value.http_status, route.call_count) == (
        "500.001.1001",
        500,
        1,
    )


@pytest.mark.parametrize(("headers", "retry_after_s"), [({}, 5.0), ({"Retry-After": "30"}, 30.0)])
async def test_rate_limited_money_post_is_raised_not_retried(
    daraja, router, oauth, delays, headers, retry_after_s
):
    answer = httpx.Response(500, json=fixture("error_rate_limited.json"), headers=headers)
    route = router.post(STK_PUSH).mock(return_value=answer)

    with pytest.raises(RateLimited) as caught:
        await push(daraja)

    assert (caught.value.retry_after_s, caught.value.code) == (retry_after_s, "500.003.02")
    assert (route.call_count, delays) == (1, [])


@pytest.mark.parametrize(("headers", "retry_after_s"), [({}, 5.0), ({"Retry-After": "12"}, 12.0)])
async def test_http_429_is_rate_limited(daraja, router, oauth, headers, retry_after_s):
    route = router.post(B2C).mock(return_value=httpx.Response(429, headers=headers))

    with pytest.raises(RateLimited) as caught:
        await payout(daraja)

    assert (caught.value.retry_after_s, caught.value.http_status) == (retry_after_s, 429)
    assert route.call_count == 1


@pytest.mark.parametrize(("headers", "expected_delay"), [({}, 5.0), ({"Retry-After": "2"}, 2.0)])
async def test_rate_limited_idempotent_call_waits_and_retries(
    daraja, router, oauth, delays, headers, expected_delay
):
    throttled = httpx.Response(500, json=fixture("error_rate_limited.json"), headers=headers)
    ok = httpx.Response(200, json=fixture("stk_query_response_success.json"))
    route = router.post(STK_QUERY).mock(side_effect=[throttled, ok])

    result = await query(daraja)

    assert (result.result_code, route.call_count, delays) == ("0", 2, [expected_delay])


async def test_rate_limited_idempotent_call_gives_up_after_max_attempts(
    daraja, router, oauth, delays
):
    route = router.post(BALANCE).mock(
        return_value=httpx.Response(500, json=fixture("error_rate_limited.json"))
    )

    with pytest.raises(RateLimited):
        await balance(daraja)

    assert (route.call_count, delays) == (3, [5.0, 5.0])


async def test_rate_limited_with_long_retry_after_is_raised_at_once(daraja, router, oauth, delays):
    answer = httpx.Response(
        500, json=fixture("error_rate_limited.json"), headers={"Retry-After": "60"}
    )
    route = router.post(STATUS).mock(return_value=answer)

    with pytest.raises(RateLimited) as caught:
        await status(daraja)

    assert (caught.value.retry_after_s, route.call_count, delays) == (60.0, 1, [])


@pytest.mark.parametrize(("path", "call", "config"), MONEY_POSTS)
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.Response(500, text="<html>Internal error</html>"), id="500-html"),
        pytest.param(httpx.Response(502), id="502-empty"),
        pytest.param(error_body(503, "500.003.1001", "Internal Server Error"), id="500.003.1001"),
    ],
)
async def test_5xx_on_money_post_is_outcome_unknown_sent_once(
    make_daraja, router, oauth, delays, path, call, config, answer
):
    route = router.post(path).mock(return_value=answer)

    with pytest.raises(OutcomeUnknown) as caught:
        await call(make_daraja(config))

    assert (route.call_count, delays, caught.value.http_status) == (1, [], answer.status_code)


@pytest.mark.parametrize(("path", "call", "config"), MONEY_POSTS)
@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
async def test_lost_answer_on_money_post_is_outcome_unknown_sent_once(
    make_daraja, router, oauth, delays, path, call, config, failure
):
    route = router.post(path).mock(side_effect=failure)

    with pytest.raises(OutcomeUnknown) as caught:
        await call(make_daraja(config))

    assert (route.call_count, delays) == (1, [])
    assert isinstance(caught.value.__cause__, failure)


@pytest.mark.parametrize(("path", "call", "config"), MONEY_POSTS)
async def test_unreadable_2xx_on_money_post_is_outcome_unknown(
    make_daraja, router, oauth, path, call, config
):
    route = router.post(path).mock(return_value=httpx.Response(200, text="OK"))

    with pytest.raises(OutcomeUnknown):
        await call(make_daraja(config))

    assert route.call_count == 1


@pytest.mark.parametrize(("path", "call", "config"), MONEY_POSTS)
@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_never_sent_is_retried_then_unreachable(
    make_daraja, router, oauth, delays, path, call, config, failure
):
    route = router.post(path).mock(side_effect=failure)

    with pytest.raises(DarajaUnreachable) as caught:
        await call(make_daraja(config))

    assert (route.call_count, len(delays)) == (3, 2)
    assert isinstance(caught.value.__cause__, failure)


async def test_connect_error_then_success_on_stk_push_is_one_success(daraja, router, oauth):
    route = router.post(STK_PUSH).mock(
        side_effect=[
            httpx.ConnectError,
            httpx.Response(200, json=fixture("stk_push_response.json")),
        ]
    )

    result = await push(daraja)

    assert (result.checkout_request_id, route.call_count) == (
        "ws_CO_20112026143005812708374149",
        2,
    )


async def test_oauth_connect_error_is_retried_then_unreachable(daraja, router, delays):
    oauth = router.get(OAUTH).mock(side_effect=httpx.ConnectError)

    with pytest.raises(DarajaUnreachable):
        await daraja.access_token()

    assert (oauth.call_count, len(delays)) == (3, 2)


@pytest.mark.parametrize(("path", "call", "model", "answer"), IDEMPOTENT)
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ReadTimeout, id="read-timeout"),
        pytest.param(httpx.Response(503, text="busy"), id="503"),
        pytest.param(error_body(500, "500.003.1001", "Internal Server Error"), id="500.003.1001"),
    ],
)
async def test_idempotent_call_is_retried_after_timeout_or_5xx(
    make_daraja, router, oauth, clock, delays, path, call, model, answer, failure
):
    clock.now = QUERY_TIME
    route = router.post(path).mock(
        side_effect=[failure, failure, httpx.Response(200, json=fixture(answer))]
    )

    result = await call(make_daraja())

    assert result == model.model_validate(fixture(answer))
    assert (route.call_count, len(delays)) == (3, 2)


@pytest.mark.parametrize(("path", "call", "model", "answer"), IDEMPOTENT)
async def test_idempotent_call_gives_up_with_server_error(
    make_daraja, router, oauth, delays, path, call, model, answer
):
    route = router.post(path).mock(
        return_value=httpx.Response(502, text="<html>Bad gateway</html>")
    )

    with pytest.raises(ServerError) as caught:
        await call(make_daraja())

    assert "Bad gateway" in str(caught.value)
    assert (route.call_count, len(delays), caught.value.http_status) == (3, 2, 502)


async def test_duplicate_originator_conversation_id_is_duplicate_request(daraja, router, oauth):
    route = router.post(B2C).mock(
        return_value=daraja_error(500, "error_duplicate_originator_conversation_id.json")
    )

    with pytest.raises(DuplicateRequest) as caught:
        await payout(daraja)

    assert (caught.value.code, caught.value.http_status, route.call_count) == (
        "500.002.1001",
        500,
        1,
    )


async def test_stk_query_pending_4999_is_pending_not_failure(daraja, router, oauth):
    router.post(STK_QUERY).respond(json=fixture("stk_query_response_pending_4999.json"))

    result = await query(daraja)

    assert (result.pending, result.result_code) == (True, "4999")


async def test_stk_query_pending_with_only_result_fields(daraja, router, oauth):
    answer = {"ResultCode": "4999", "ResultDesc": "The transaction is still under processing"}
    router.post(STK_QUERY).respond(json=answer)

    result = await query(daraja)

    assert result == StkQueryResponse(
        checkout_request_id="ws_CO_20112026143005812708374149",
        result_code="4999",
        result_desc="The transaction is still under processing",
        pending=True,
    )


async def test_stk_query_pending_http_500_is_pending_not_error(daraja, router, oauth, delays):
    route = router.post(STK_QUERY).mock(
        return_value=daraja_error(500, "stk_query_response_pending_error.json")
    )

    result = await query(daraja)

    assert result == StkQueryResponse(
        checkout_request_id="ws_CO_20112026143005812708374149",
        result_code=None,
        result_desc="The transaction is being processed",
        pending=True,
    )
    assert (route.call_count, delays) == (1, [])


async def test_apigee_fault_body_is_mapped(daraja, router, oauth):
    fault = apigee_fault(
        401,
        "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound",
        "Invalid API call as no apiproduct match found",
    )
    route = router.post(B2C).mock(return_value=fault)

    with pytest.raises(AuthFailed) as caught:
        await payout(daraja)

    assert "no apiproduct match found" in str(caught.value)
    assert (caught.value.code, caught.value.http_status, route.call_count) == (
        "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound",
        401,
        1,
    )


async def test_apigee_spike_arrest_on_money_post_is_rate_limited(daraja, router, oauth):
    fault = apigee_fault(
        500, "policies.ratelimit.SpikeArrestViolation", "Spike arrest violation. Allowed rate : 5ps"
    )
    route = router.post(STK_PUSH).mock(return_value=fault)

    with pytest.raises(RateLimited) as caught:
        await push(daraja)

    assert (caught.value.code, route.call_count) == ("policies.ratelimit.SpikeArrestViolation", 1)


async def test_c2b_urls_already_registered_is_invalid_request(make_daraja, router, oauth):
    answer = error_body(500, "500.003.1001", "Urls are already registered")
    route = router.post(C2B_REGISTER).mock(return_value=answer)

    with pytest.raises(InvalidRequest, match="already registered"):
        await register(make_daraja(C2B_CONFIG))

    assert route.call_count == 1


# -- backoff -----------------------------------------------------------------------------------


@pytest.fixture
def failing_balance(router, oauth) -> respx.Route:
    return router.post(BALANCE).mock(side_effect=httpx.ConnectError)


async def test_backoff_caps_grow_exponentially_up_to_the_maximum(
    make_daraja, failing_balance, delays, monkeypatch
):
    # full jitter draws from [0, cap]; always drawing the top shows the caps themselves
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    daraja = make_daraja(max_attempts=7, backoff_base_s=0.5, backoff_max_s=8.0)

    with pytest.raises(DarajaUnreachable):
        await balance(daraja)

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


async def test_backoff_is_full_jitter_from_zero(make_daraja, failing_balance, delays, monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    daraja = make_daraja(max_attempts=4)

    with pytest.raises(DarajaUnreachable):
        await balance(daraja)

    assert delays == [0.0, 0.0, 0.0]


async def test_backoff_delays_are_random_within_bounds(make_daraja, failing_balance, delays):
    daraja = make_daraja(max_attempts=7, backoff_base_s=0.5, backoff_max_s=8.0)

    with pytest.raises(DarajaUnreachable):
        await balance(daraja)

    caps = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [0.0 <= delay <= cap for delay, cap in zip(delays, caps, strict=True)] == [True] * 6
    assert delays != caps  # a uniform draw hitting every cap exactly means no jitter


# -- lifecycle and logging ---------------------------------------------------------------------


async def test_aclose_closes_owned_http_client():
    daraja = DarajaClient(CONFIG)

    await daraja.aclose()

    with pytest.raises(RuntimeError):
        await daraja.access_token()


async def test_aclose_leaves_passed_in_http_client_open(router, oauth):
    async with httpx.AsyncClient() as http:
        async with DarajaClient(CONFIG, http=http) as daraja:
            await daraja.access_token()

        assert http.is_closed is False
        response = await http.get(f"{BASE}{OAUTH}", params={"grant_type": "client_credentials"})
        assert response.status_code == 200


async def test_logs_mask_phone_and_hide_secrets(daraja, router, oauth, caplog):
    router.post(STK_PUSH).respond(json=fixture("stk_push_response.json"))
    router.post(B2C).respond(json=fixture("b2c_response.json"))
    caplog.set_level(logging.DEBUG)

    await push(daraja)
    await payout(daraja)

    assert "2547****149" in caplog.text
    leaked = [
        secret
        for secret in (MSISDN, TOKEN, CONSUMER_SECRET, PASSKEY, CONFIG.security_credential, HOOKS)
        if secret in caplog.text
    ]
    assert leaked == []


def test_config_repr_hides_secrets():
    text = repr(CONFIG)

    assert [s for s in (CONSUMER_SECRET, PASSKEY, HOOKS) if s in text] == []
