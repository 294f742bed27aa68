"""AirtelClient against a strict respx router: bodies field by field, one test per failure mode.

The token tests read like tests/mpesa/test_client.py's on purpose: each library is tested alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from airtel.client import DEFAULT_TIMEOUT
from airtel.client import AirtelClient
from airtel.client import AirtelConfig
from airtel.client import base_url_for
from airtel.codes import Outcome
from airtel.codes import ResultCategory
from airtel.codes import TransactionStatus
from airtel.errors import AirtelUnreachable
from airtel.errors import AuthFailed
from airtel.errors import ConfigurationError
from airtel.errors import Declined
from airtel.errors import DuplicateTransaction
from airtel.errors import InvalidRequest
from airtel.errors import OutcomeUnknown
from airtel.errors import RateLimited
from airtel.errors import ServerError
from airtel.models import CollectionStatus
from airtel.models import DisbursementStatus
from airtel.models import KycUser
from airtel.models import PushAccepted
from airtel.security import RsaPadding
from airtel.security import aes_signature
from airtel.security import public_key_base64
from tests.helpers.airtel import DISBURSE
from tests.helpers.airtel import DISBURSE_V2
from tests.helpers.airtel import PUSH
from tests.helpers.airtel import REFUND
from tests.helpers.airtel import decrypt
from tests.helpers.airtel import fixture
from tests.helpers.airtel import private_key
from tests.helpers.airtel import public_pem
from tests.helpers.airtel import typed
from tests.helpers.clients import client_maker
from tests.helpers.clock import Clock

BASE = "https://openapiuat.airtel.test"
TOKEN = fixture("auth_token_response.json")["access_token"]
NEW_TOKEN = "Hk2LM84QR0P1ijefjTkVle1Hs7XXhzGh"
CLIENT_ID = fixture("auth_token_request.json")["client_id"]
CLIENT_SECRET = fixture("auth_token_request.json")["client_secret"]
NOW = datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC)

TOKEN_PATH = "/auth/oauth2/token"
ENQUIRY = "/standard/v1/payments/COL000042A"
DISBURSE_ENQUIRY = "/standard/v1/disbursements/DSB000042"
KYC = "/standard/v1/users/733123456"
BALANCE = "/standard/v1/users/balance"
KEYS = "/v1/rsa/encryption-keys"

CONFIG = AirtelConfig(
    base_url=BASE,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    disbursement_pin="1234",
    public_key=public_pem(),
)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


def answer(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=fixture(name))


def envelope(response_code: str | None, *, result_code: str | None = None, **status: Any) -> dict:
    body = {"code": "400", "message": "refused", "success": False} | status
    if response_code is not None:
        body["response_code"] = response_code
    if result_code is not None:
        body["result_code"] = result_code
    return {"status": body}


# The same fixtures as tests/mpesa/test_client.py, kept parallel on purpose: each names its own
# provider's base URL, token route and client; what they share is client_maker.
@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def oauth(router: respx.MockRouter) -> respx.Route:
    return router.post(TOKEN_PATH).respond(json=fixture("auth_token_response.json"))


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
async def make_airtel(
    clock: Clock, delays: list[float]
) -> AsyncIterator[Callable[..., AirtelClient]]:
    async with client_maker(AirtelClient, CONFIG, clock, delays) as make:
        yield make


@pytest.fixture
def airtel(make_airtel: Callable[..., AirtelClient]) -> AirtelClient:
    return make_airtel()


async def push(airtel: AirtelClient) -> PushAccepted:
    return await airtel.ussd_push(
        msisdn="254733123456", amount=150, transaction_id="COL000042A", reference="ORDER42"
    )


async def disburse(airtel: AirtelClient) -> Any:
    return await airtel.disburse(
        msisdn="254733123456", amount=500, transaction_id="DSB000042", reference="PAYOUT42"
    )


async def refund(airtel: AirtelClient) -> Any:
    return await airtel.refund(airtel_money_id="MP250301.1030.K00042")


MONEY_POSTS = [
    pytest.param(PUSH, push, id="ussd_push"),
    pytest.param(DISBURSE, disburse, id="disburse"),
    pytest.param(REFUND, refund, id="refund"),
]


# -- OAuth ------------------------------------------------------------------------------------


async def test_token_request_sends_fixture_body_without_authorization(airtel, oauth):
    token = await airtel.access_token()

    request = oauth.calls.last.request
    assert token == TOKEN
    assert typed(json.loads(request.content)) == typed(fixture("auth_token_request.json"))
    assert (request.headers["Content-Type"], request.headers["Accept"]) == (
        "application/json",
        "*/*",
    )
    assert "Authorization" not in request.headers


async def test_token_is_cached_until_shortly_before_expiry(airtel, oauth, clock):
    await airtel.access_token()
    clock.advance(149)  # 180 s lifetime, refreshed 30 s early
    await airtel.access_token()
    assert oauth.call_count == 1

    clock.advance(1)
    await airtel.access_token()
    assert oauth.call_count == 2


async def test_concurrent_callers_share_one_token_request(airtel, router):
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return httpx.Response(200, json=fixture("auth_token_response.json"))

    route = router.post(TOKEN_PATH).mock(side_effect=slow_token)
    callers = [asyncio.create_task(airtel.access_token()) for _ in range(1000)]
    await started.wait()
    release.set()
    tokens = await asyncio.gather(*callers)

    assert (route.call_count, set(tokens)) == (1, {TOKEN})


@pytest.mark.parametrize(("expires_in", "valid_for_s"), [(180, 150), ("600", 570), ("soon", 150)])
async def test_token_lifetime_is_read_from_expires_in(
    airtel, router, clock, expires_in, valid_for_s
):
    route = router.post(TOKEN_PATH).respond(json={"access_token": TOKEN, "expires_in": expires_in})
    await airtel.access_token()
    clock.advance(valid_for_s - 1)
    await airtel.access_token()
    assert route.call_count == 1
    clock.advance(1)
    await airtel.access_token()
    assert route.call_count == 2


async def test_bad_credentials_are_auth_failed(airtel, router):
    router.post(TOKEN_PATH).mock(return_value=answer("auth_token_error_invalid_client.json", 400))

    with pytest.raises(AuthFailed, match="Invalid client authentication") as caught:
        await airtel.access_token()
    assert (caught.value.code, caught.value.http_status) == ("invalid_client", 400)


async def test_token_answer_without_access_token_is_server_error(airtel, router):
    router.post(TOKEN_PATH).respond(json={"token_type": "bearer"})

    with pytest.raises(ServerError, match="no access_token"):
        await airtel.access_token()


async def test_token_server_errors_are_retried_then_server_error(airtel, router, delays):
    route = router.post(TOKEN_PATH).respond(503, text="maintenance")

    with pytest.raises(ServerError, match="HTTP 503"):
        await airtel.access_token()
    assert (route.call_count, len(delays)) == (3, 2)


async def test_token_connect_errors_are_unreachable_after_three_attempts(airtel, router):
    route = router.post(TOKEN_PATH).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(AirtelUnreachable, match="nothing was sent"):
        await airtel.access_token()
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ("uat", "https://openapiuat.airtel.africa"),
        (" Production ", "https://openapi.airtel.africa"),
    ],
)
def test_environments_have_the_pan_african_hosts(environment, url):
    assert base_url_for(environment) == url


def test_an_unknown_environment_is_refused():
    with pytest.raises(ValueError, match="use uat or production"):
        base_url_for("sandbox")


# -- USSD push --------------------------------------------------------------------------------


async def test_push_sends_fixture_body_and_airtel_headers(airtel, router, oauth):
    route = router.post(PUSH).mock(return_value=answer("collection_ussd_push_response.json"))

    result = await push(airtel)

    request = route.calls.last.request
    assert typed(sent(route)) == typed(fixture("collection_ussd_push_request.json"))
    headers = {name: request.headers.get(name) for name in HEADERS}
    assert headers == {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "Accept": "*/*",
        "X-Country": "KE",
        "X-Currency": "KES",
        "x-signature": None,
        "x-key": None,
    }
    assert result == PushAccepted(
        transaction_id="COL000042A",
        status="SUCCESS",
        response_code="DP00800001006",
        result_code="ESB000010",
        message="SUCCESS",
    )


HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Country",
    "X-Currency",
    "x-signature",
    "x-key",
)


async def test_push_accepts_the_docs_false_transaction_id(airtel, router, oauth):
    body = fixture("collection_ussd_push_response.json")
    body["data"]["transaction"]["id"] = False
    router.post(PUSH).respond(json=body)

    result = await push(airtel)

    assert result.transaction_id == "COL000042A"


async def test_push_v2_uses_the_v2_path_and_the_same_body(make_airtel, router, oauth):
    route = router.post("/merchant/v2/payments/").mock(
        return_value=answer("collection_ussd_push_response.json")
    )

    await push(make_airtel(replace(CONFIG, collection_version="v2")))

    assert typed(sent(route)) == typed(fixture("collection_ussd_push_request.json"))


async def test_requests_carry_explicit_default_timeout(airtel, router, oauth):
    route = router.post(PUSH).mock(return_value=answer("collection_ussd_push_response.json"))

    await push(airtel)

    expected = {"connect": 5.0, "read": 30.0, "write": 10.0, "pool": 5.0}
    assert route.calls.last.request.extensions["timeout"] == expected
    assert DEFAULT_TIMEOUT.as_dict() == expected


async def test_push_refused_msisdn_is_declined_with_the_reason(airtel, router, oauth):
    router.post(PUSH).mock(return_value=answer("collection_ussd_push_response_error.json"))

    with pytest.raises(Declined, match="Msisdn Not Found") as caught:
        await push(airtel)
    error = caught.value
    assert not isinstance(error, InvalidRequest)
    assert (error.code, error.transaction_id, error.info.outcome) == (
        "DP00800001005",
        "COL000042A",
        Outcome.FAILED,
    )


@pytest.mark.parametrize(
    ("body", "error", "category"),
    [
        pytest.param(
            envelope("DP00800001008", result_code="ESB000008"),
            InvalidRequest,
            ResultCategory.REFUSED,
            id="field-validation",
        ),
        pytest.param(
            envelope("DP00800001008", result_code="ESB000041"),
            DuplicateTransaction,
            ResultCategory.DUPLICATE,
            id="duplicate-id",
        ),
        pytest.param(
            envelope(None, result_code="ESB000001", code="500"),
            OutcomeUnknown,
            ResultCategory.AMBIGUOUS,
            id="something-went-wrong",
        ),
        pytest.param(
            envelope("DP00800001000"), OutcomeUnknown, ResultCategory.AMBIGUOUS, id="ambiguous"
        ),
        pytest.param(
            envelope("DP00800001026"), InvalidRequest, ResultCategory.REFUSED, id="bad-signature"
        ),
        pytest.param(
            envelope("DP00800009999"), OutcomeUnknown, ResultCategory.AMBIGUOUS, id="unknown-code"
        ),
    ],
)
async def test_push_answers_map_to_the_error_tree(airtel, router, oauth, body, error, category):
    route = router.post(PUSH).respond(json=body)

    with pytest.raises(error) as caught:
        await push(airtel)

    assert type(caught.value) is error
    assert route.call_count == 1
    if isinstance(caught.value, Declined):
        assert caught.value.info.category is category


async def test_push_missing_x_country_router_answer_is_invalid_request(airtel, router, oauth):
    router.post(PUSH).mock(return_value=answer("error_router_missing_country.json", 400))

    with pytest.raises(InvalidRequest, match=r"Partner .* not found") as caught:
        await push(airtel)
    assert caught.value.code == "ROUTER110"


async def test_push_to_an_unknown_path_is_invalid_request(airtel, router, oauth):
    router.post(PUSH).respond(404, text="<html>Not Found</html>")

    with pytest.raises(InvalidRequest, match="AIRTEL_BASE_URL") as caught:
        await push(airtel)
    assert caught.value.http_status == 404


@pytest.mark.parametrize(("path", "call"), MONEY_POSTS)
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ReadTimeout("read"), id="read-timeout"),
        pytest.param(httpx.WriteTimeout("write"), id="write-timeout"),
        pytest.param(httpx.RemoteProtocolError("dropped"), id="dropped-connection"),
        pytest.param(httpx.ReadError("reset"), id="connection-reset"),
    ],
)
async def test_money_post_lost_answer_is_outcome_unknown_and_not_resent(
    airtel, router, oauth, path, call, failure
):
    route = router.post(path).mock(side_effect=failure)

    with pytest.raises(OutcomeUnknown, match="never resend"):
        await call(airtel)
    assert route.call_count == 1


@pytest.mark.parametrize(("path", "call"), MONEY_POSTS)
@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_money_post_http_error_is_outcome_unknown_and_not_resent(
    airtel, router, oauth, path, call, status
):
    route = router.post(path).respond(status, json={"error": "x"})

    with pytest.raises(OutcomeUnknown) as caught:
        await call(airtel)
    assert (route.call_count, caught.value.http_status) == (1, status)


@pytest.mark.parametrize(("path", "call"), MONEY_POSTS)
async def test_money_post_unreadable_answer_is_outcome_unknown(airtel, router, oauth, path, call):
    router.post(path).respond(200, text="<html>gateway</html>")

    with pytest.raises(OutcomeUnknown, match="unreadable"):
        await call(airtel)


@pytest.mark.parametrize(("path", "call"), MONEY_POSTS)
async def test_money_post_never_sent_is_retried_then_unreachable(airtel, router, oauth, path, call):
    route = router.post(path).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(AirtelUnreachable, match="nothing was sent"):
        await call(airtel)
    assert route.call_count == 3


async def test_push_connect_error_then_answer_succeeds(airtel, router, oauth):
    route = router.post(PUSH).mock(
        side_effect=[httpx.ConnectTimeout("slow"), answer("collection_ussd_push_response.json")]
    )

    result = await push(airtel)

    assert (route.call_count, result.response_code) == (2, "DP00800001006")


async def test_refused_token_is_renewed_once_and_the_call_repeated(airtel, router):
    tokens = router.post(TOKEN_PATH).mock(
        side_effect=[
            httpx.Response(200, json=fixture("auth_token_response.json")),
            httpx.Response(200, json={"access_token": NEW_TOKEN, "expires_in": "180"}),
        ]
    )
    route = router.post(PUSH).mock(
        side_effect=[
            answer("error_invalid_token.json", 403),
            answer("collection_ussd_push_response.json"),
        ]
    )

    await push(airtel)

    authorizations = [call.request.headers["Authorization"] for call in route.calls]
    assert authorizations == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]
    assert tokens.call_count == 2


async def test_token_refused_twice_is_auth_failed(airtel, router, oauth):
    route = router.post(PUSH).mock(return_value=answer("error_invalid_token.json", 403))

    with pytest.raises(AuthFailed, match="fresh access token"):
        await push(airtel)
    assert (route.call_count, oauth.call_count) == (2, 2)


async def test_http_401_renews_the_token(airtel, router, oauth):
    route = router.post(PUSH).mock(
        side_effect=[httpx.Response(401), answer("collection_ussd_push_response.json")]
    )

    await push(airtel)

    assert (route.call_count, oauth.call_count) == (2, 2)


async def test_forbidden_without_invalid_token_is_auth_failed_at_once(airtel, router, oauth):
    route = router.post(PUSH).respond(403, json={"status": {"code": "403", "message": "Forbidden"}})

    with pytest.raises(AuthFailed, match="IP allow-list"):
        await push(airtel)
    assert (route.call_count, oauth.call_count) == (1, 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 1.5),
        ("amount", "150"),
        ("amount", 0),
        ("reference", "Order 42"),
        ("reference", "ab"),
        ("transaction_id", "COL-42"),
        ("msisdn", "254733"),
    ],
)
async def test_push_bad_input_is_refused_before_anything_is_sent(
    airtel, router, oauth, field, value
):
    arguments = {
        "msisdn": "254733123456",
        "amount": 150,
        "transaction_id": "COL000042A",
        "reference": "ORDER42",
    } | {field: value}

    with pytest.raises(ValidationError):
        await airtel.ussd_push(**arguments)
    assert oauth.call_count == 0


async def test_signing_sends_x_signature_over_the_exact_body_bytes(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, signing=True))
    route = router.post(PUSH).mock(return_value=answer("collection_ussd_push_response.json"))

    await push(airtel)

    request = route.calls.last.request
    pair = decrypt(request.headers["x-key"], RsaPadding.PKCS1V15).decode()
    key, iv = (base64.b64decode(part) for part in pair.split(":"))
    assert (len(key), len(iv)) == (32, 16)
    assert request.headers["x-signature"] == aes_signature(request.content, key, iv)
    assert typed(json.loads(request.content)) == typed(fixture("collection_ussd_push_request.json"))


async def test_signing_key_padding_is_a_parameter(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, signing=True, signing_padding=RsaPadding.OAEP_SHA256))
    route = router.post(PUSH).mock(return_value=answer("collection_ussd_push_response.json"))

    await push(airtel)

    pair = decrypt(route.calls.last.request.headers["x-key"], RsaPadding.OAEP_SHA256)
    assert re.fullmatch(rb"[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{24}", pair)


# -- collection enquiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "found", "receipt"),
    [
        (
            "collection_enquiry_response_success.json",
            TransactionStatus.SUCCESS,
            True,
            "MP250301.1030.K00042",
        ),
        ("collection_enquiry_response_pending.json", TransactionStatus.IN_PROGRESS, True, None),
        ("collection_enquiry_response_failed.json", TransactionStatus.FAILED, True, None),
        ("collection_enquiry_response_not_found.json", None, False, None),
    ],
)
async def test_collection_status_reads_each_answer(
    airtel, router, oauth, name, status, found, receipt
):
    route = router.get(ENQUIRY).mock(return_value=answer(name))

    result = await airtel.collection_status("COL000042A")

    assert isinstance(result, CollectionStatus)
    assert (result.status, result.found, result.airtel_money_id) == (status, found, receipt)
    assert route.calls.last.request.headers["X-Country"] == "KE"
    assert route.calls.last.request.content == b""


async def test_collection_status_explains_a_failure(airtel, router, oauth):
    router.get(ENQUIRY).mock(return_value=answer("collection_enquiry_response_failed.json"))

    result = await airtel.collection_status("COL000042A")

    assert (result.final, result.succeeded, result.info.outcome) == (True, False, Outcome.FAILED)
    assert result.info.description == "Not enough balance"


async def test_collection_status_server_errors_are_retried(airtel, router, oauth, delays):
    route = router.get(ENQUIRY).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            answer("collection_enquiry_response_success.json"),
        ]
    )

    result = await airtel.collection_status("COL000042A")

    assert (route.call_count, len(delays), result.succeeded) == (3, 2, True)


async def test_collection_status_keeps_failing_is_server_error(airtel, router, oauth):
    router.get(ENQUIRY).respond(500)

    with pytest.raises(ServerError, match="HTTP 500"):
        await airtel.collection_status("COL000042A")


async def test_collection_status_without_a_status_is_server_error(airtel, router, oauth):
    router.get(ENQUIRY).respond(json=envelope(None, result_code="ESB000014"))

    with pytest.raises(ServerError, match="could not answer"):
        await airtel.collection_status("COL000042A")


async def test_rate_limited_enquiry_waits_retry_after_then_gives_up(airtel, router, oauth, delays):
    route = router.get(ENQUIRY).respond(429, headers={"Retry-After": "2"})

    with pytest.raises(RateLimited) as caught:
        await airtel.collection_status("COL000042A")
    assert (route.call_count, delays, caught.value.retry_after_s) == (3, [2.0, 2.0], 2.0)


async def test_enquiry_id_must_be_letters_and_digits(airtel, router, oauth):
    with pytest.raises(ValueError, match="not a transaction id"):
        await airtel.collection_status("../users/balance")
    assert oauth.call_count == 0


# -- refund ---------------------------------------------------------------------------------


async def test_refund_sends_fixture_body_and_reads_the_docs_answer(airtel, router, oauth):
    route = router.post(REFUND).mock(return_value=answer("collection_refund_response.json"))

    result = await refund(airtel)

    assert typed(sent(route)) == typed(fixture("collection_refund_request.json"))
    assert (result.airtel_money_id, result.status) == ("MP250301.1030.K00042", "SUCCESS")


async def test_refund_success_false_beside_success_is_still_a_refund(airtel, router, oauth):
    body = fixture("collection_refund_response.json")
    body["status"]["success"] = False  # the docs' own sample (airtel.md §5.4)
    router.post(REFUND).respond(json=body)

    result = await refund(airtel)

    assert result.status == "SUCCESS"


async def test_refund_of_an_unknown_receipt_is_declined(airtel, router, oauth):
    router.post(REFUND).respond(json=envelope("DP00800001025", result_code="ESB000045"))

    with pytest.raises(Declined) as caught:
        await refund(airtel)
    assert caught.value.info.outcome is Outcome.FAILED


async def test_refund_still_processing_is_outcome_unknown(airtel, router, oauth):
    router.post(REFUND).respond(json=envelope("DP00800001006", code="200", success=True))

    with pytest.raises(OutcomeUnknown, match="outcome unknown"):
        await refund(airtel)


# -- disbursement ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(RsaPadding))
async def test_disburse_sends_fixture_body_with_the_pin_encrypted(
    make_airtel, router, oauth, scheme
):
    airtel = make_airtel(replace(CONFIG, pin_padding=scheme))
    route = router.post(DISBURSE).mock(return_value=answer("disbursement_response_success.json"))

    result = await disburse(airtel)

    body = sent(route)
    assert decrypt(body.pop("pin"), scheme) == b"1234"
    expected = fixture("disbursement_request_v1.json")
    expected.pop("pin")
    assert typed(body) == typed(expected)
    assert (result.status, result.airtel_money_id, result.reference_id) == (
        TransactionStatus.SUCCESS,
        "disbursement-X7Q2LM0PQR-DSB000042",
        "MP250301.1100.K00077",
    )
    assert result.balance_cents == 1_950_000


async def test_disburse_v2_sends_currency_and_type(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, disbursement_version="v2"))
    route = router.post(DISBURSE_V2).mock(return_value=answer("disbursement_response_success.json"))

    await disburse(airtel)

    body = sent(route)
    assert decrypt(body.pop("pin"), RsaPadding.PKCS1V15) == b"1234"
    expected = fixture("disbursement_request_v2.json")
    expected.pop("pin")
    assert typed(body) == typed(expected)


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("disbursement_response_ambiguous.json", OutcomeUnknown, "DP00900001000"),
        ("disbursement_response_duplicate.json", DuplicateTransaction, "DP00900001017"),
        ("disbursement_response_incorrect_pin.json", InvalidRequest, "DP00900001013"),
        ("disbursement_response_invalid_msisdn.json", InvalidRequest, "DP00900001013"),
    ],
)
async def test_disburse_samples_map_to_the_error_tree(airtel, router, oauth, name, error, code):
    route = router.post(DISBURSE).mock(return_value=answer(name))

    with pytest.raises(error) as caught:
        await disburse(airtel)

    assert type(caught.value) is error
    assert (caught.value.code, caught.value.transaction_id, route.call_count) == (
        code,
        "DSB000042",
        1,
    )


@pytest.mark.parametrize(
    ("body", "error", "category"),
    [
        pytest.param(
            {
                "data": {"transaction": {"id": "DSB000042", "status": "TF"}},
                "status": {"response_code": "DP00900001007", "code": "200", "success": False},
            },
            Declined,
            ResultCategory.INSUFFICIENT_FUNDS,
            id="insufficient-funds",
        ),
        pytest.param(
            {
                "data": {"transaction": {"id": "DSB000042", "status": "TIP"}},
                "status": {"response_code": "DP00900001006", "code": "200", "success": True},
            },
            OutcomeUnknown,
            None,
            id="in-progress",
        ),
        pytest.param(envelope("DP00900001014", code="200"), OutcomeUnknown, None, id="timed-out"),
        pytest.param(
            envelope(None, result_code="ESB000010", code="200", success=True),
            OutcomeUnknown,
            None,
            id="accepted-without-saying-paid",
        ),
        pytest.param(envelope("DP00900001011"), DuplicateTransaction, None, id="similar-exists"),
    ],
)
async def test_disburse_answers_map_to_the_error_tree(airtel, router, oauth, body, error, category):
    router.post(DISBURSE).respond(json=body)

    with pytest.raises(error) as caught:
        await disburse(airtel)

    assert type(caught.value) is error
    if category is not None:
        assert caught.value.info.category is category
        assert caught.value.info.alert_admin


async def test_disburse_without_a_pin_sends_nothing(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, disbursement_pin=""))

    with pytest.raises(ConfigurationError, match="PIN"):
        await disburse(airtel)
    assert oauth.call_count == 0


async def test_disburse_fetches_airtels_key_once_when_none_is_configured(
    make_airtel, router, oauth
):
    airtel = make_airtel(replace(CONFIG, public_key=None))
    keys = fixture("encryption_keys_response.json")
    keys["data"]["key"] = public_key_base64(private_key().public_key())
    keys["data"]["valid_upto"] = "20-11-2027 00:00:00"
    key_route = router.get(KEYS).respond(json=keys)
    route = router.post(DISBURSE).mock(return_value=answer("disbursement_response_success.json"))

    await disburse(airtel)
    await airtel.disburse(
        msisdn="254733123456", amount=500, transaction_id="DSB000043", reference="PAYOUT43"
    )

    assert key_route.call_count == 1
    assert [decrypt(sent(route, i)["pin"], RsaPadding.PKCS1V15) for i in (0, 1)] == [b"1234"] * 2
    assert key_route.calls.last.request.headers["X-Country"] == "KE"


async def test_fetched_key_is_refetched_after_valid_upto(make_airtel, router, oauth, clock):
    airtel = make_airtel(replace(CONFIG, public_key=None))
    keys = fixture("encryption_keys_response.json")
    keys["data"]["key"] = public_key_base64(private_key().public_key())
    keys["data"]["valid_upto"] = "20-11-2026 12:30:05"  # an hour after NOW
    key_route = router.get(KEYS).respond(json=keys)

    await airtel.public_key()
    clock.advance(3599)
    await airtel.public_key()
    assert key_route.call_count == 1
    clock.advance(1)
    await airtel.public_key()
    assert key_route.call_count == 2


async def test_unreadable_fetched_key_is_configuration_error(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, public_key=None))
    router.get(KEYS).mock(return_value=answer("encryption_keys_response.json"))  # truncated key
    route = router.post(DISBURSE)

    with pytest.raises(ConfigurationError, match="public key"):
        await disburse(airtel)
    assert route.call_count == 0


async def test_key_endpoint_error_is_server_error(make_airtel, router, oauth):
    airtel = make_airtel(replace(CONFIG, public_key=None))
    router.get(KEYS).respond(json=envelope("DP02010001000", code="500"))

    with pytest.raises(ServerError):
        await airtel.public_key()


@pytest.mark.parametrize(
    ("version", "path", "params"),
    [
        ("v1", DISBURSE_ENQUIRY, {}),
        ("v2", "/standard/v2/disbursements/DSB000042", {"transactionType": "B2C"}),
    ],
)
async def test_disbursement_status_reads_the_sample(
    make_airtel, router, oauth, version, path, params
):
    airtel = make_airtel(replace(CONFIG, disbursement_version=version))
    route = router.get(path).mock(return_value=answer("disbursement_enquiry_response_success.json"))

    result = await airtel.disbursement_status("DSB000042")

    assert isinstance(result, DisbursementStatus)
    assert (result.status, result.airtel_money_id, result.succeeded) == (
        TransactionStatus.SUCCESS,
        "disbursement-X7Q2LM0PQR-DSB000042",
        True,
    )
    assert dict(route.calls.last.request.url.params) == params


async def test_disbursement_status_not_found(airtel, router, oauth):
    router.get(DISBURSE_ENQUIRY).respond(
        json=envelope("DP00900001015", result_code="ESB000045", code="404")
    )

    result = await airtel.disbursement_status("DSB000042")

    assert (result.found, result.status, result.info.outcome) == (False, None, Outcome.NOT_FOUND)


# -- KYC and balance ------------------------------------------------------------------------


async def test_lookup_user_asks_by_the_nine_digit_number(airtel, router, oauth):
    route = router.get(KYC).mock(return_value=answer("kyc_user_response.json"))

    user = await airtel.lookup_user("0733 123 456")

    assert route.call_count == 1
    assert user == KycUser(
        msisdn="254733123456",
        first_name="JOHN",
        last_name="DOE",
        grade="MCOM",
        is_barred=False,
        is_pin_set=True,
        registration_status="MCOM",
    )
    assert (user.name, user.can_receive) == ("JOHN DOE", True)


async def test_lookup_user_not_found_is_none(airtel, router, oauth):
    router.get(KYC).mock(return_value=answer("kyc_user_not_found.json"))

    assert await airtel.lookup_user("254733123456") is None


async def test_lookup_user_placeholder_names_are_no_name(airtel, router, oauth):
    body = fixture("kyc_user_response.json")
    body["data"] |= {"first_name": "FN", "last_name": "LN", "is_barred": "true"}
    router.get(KYC).respond(json=body)

    user = await airtel.lookup_user("254733123456")

    assert (user.name, user.can_receive) == (None, False)


async def test_balance_is_read_in_cents(airtel, router, oauth):
    router.get(BALANCE).mock(return_value=answer("balance_response.json"))

    result = await airtel.balance()

    assert (result.balance_cents, result.currency, result.account_status) == (
        23_048_665,
        "KES",
        "Active",
    )


async def test_balance_without_an_amount_is_server_error(airtel, router, oauth):
    body = fixture("balance_response.json")
    body["data"]["balance"] = "n/a"
    router.get(BALANCE).respond(json=body)

    with pytest.raises(ServerError):
        await airtel.balance()


# -- logs -------------------------------------------------------------------------------------


async def test_logs_carry_no_secret_pin_token_or_full_phone(airtel, router, oauth, caplog):
    caplog.set_level(logging.DEBUG)
    router.post(PUSH).mock(return_value=answer("collection_ussd_push_response.json"))
    router.post(DISBURSE).mock(return_value=answer("disbursement_response_ambiguous.json"))

    await push(airtel)
    with pytest.raises(OutcomeUnknown):
        await disburse(airtel)

    text = caplog.text
    assert "2547****456" in text
    for secret in (CLIENT_SECRET, TOKEN, "733123456"):
        assert secret not in text
