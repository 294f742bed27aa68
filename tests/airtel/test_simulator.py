"""The Airtel simulator refuses, warns and calls back like Airtel (raw HTTP on loopback)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any

import httpx
import pytest

from airtel.callbacks import parse_collection_callback
from airtel.security import HashInput
from airtel.security import RsaPadding
from airtel.security import encrypt_pin
from airtel.security import load_public_key
from airtel.security import public_key_pem
from airtel.security import sign_message
from airtel.simulator import CLIENT_ID
from airtel.simulator import CLIENT_SECRET
from airtel.simulator import Faults
from airtel.simulator import Level
from airtel.simulator import Portal
from airtel.simulator import SimulatorConfig
from airtel.simulator import create_simulator
from airtel.simulator import outcome_table
from airtel.simulator.app import SIM_STATE
from tests.helpers.airtel import DISBURSE
from tests.helpers.airtel import DISBURSE_V2
from tests.helpers.airtel import PUSH
from tests.helpers.airtel import REFUND
from tests.helpers.airtel import fixture
from tests.helpers.airtel import private_key
from tests.helpers.clock import Clock
from tests.helpers.receiver import CallbackReceiver

START = datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC)
HOOK = "/airtel/collection"
_DROP = object()


# Sim and make_sim mirror tests/helpers/sim_http.py and tests/mpesa/conftest.py on purpose: the
# skeleton is the same, but each speaks its own provider's wire (Airtel's headers and JSON token
# request, Daraja's basic-auth GET), and a shared base would tie two simulators' tests together.
@dataclass
class Sim:
    """A running simulator, an httpx client on it, a token and a callback receiver."""

    http: httpx.AsyncClient
    app: Any
    token: str = ""
    receiver: CallbackReceiver = field(default_factory=CallbackReceiver)

    def headers(self, **overrides: str | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "*/*",
            "X-Country": "KE",
            "X-Currency": "KES",
        }
        for name, value in overrides.items():
            key = name.replace("_", "-")
            if value is None:
                headers.pop(key, None)
            else:
                headers[key] = value
        return headers

    async def post(self, path: str, body: Any, **headers: str | None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(path, content=raw, headers=self.headers(**headers))

    async def get(self, path: str, **headers: str | None) -> httpx.Response:
        return await self.http.get(path, headers=self.headers(**headers))

    async def state(self) -> dict[str, Any]:
        return (await self.http.get("/simulator/state")).json()

    async def drain(self) -> dict[str, Any]:
        return (await self.http.post("/simulator/drain")).json()

    async def faults(self, **changes: Any) -> httpx.Response:
        return await self.http.post("/simulator/faults", json=changes)

    def push(self, transaction_id: str = "COL000042A", msisdn: Any = "733123456", **over: Any):
        body = fixture("collection_ussd_push_request.json")
        body["subscriber"]["msisdn"] = msisdn
        body["transaction"]["id"] = transaction_id
        return _apply(body, over)

    def payout(
        self,
        transaction_id: str = "DSB000042",
        msisdn: str = "733123456",
        *,
        version: str = "v1",
        pin: str | None = None,
        **over: Any,
    ) -> dict[str, Any]:
        body = fixture(f"disbursement_request_{version}.json")
        body["payee"]["msisdn"] = msisdn
        body["transaction"]["id"] = transaction_id
        key = self.app[SIM_STATE].private_key.public_key()
        body["pin"] = pin if pin is not None else encrypt_pin("1234", key)
        return _apply(body, over)


def _apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Override dotted fields ("transaction.amount"); _DROP removes one."""
    for dotted, value in overrides.items():
        *parents, name = dotted.split("__")
        node = body
        for part in parents:
            node = node[part]
        if value is _DROP:
            node.pop(name, None)
        else:
            node[name] = value
    return body


def status(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """HTTP status and the body's status object."""
    return response.status_code, response.json()["status"]


MakeSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def make_sim(aiohttp_server: Any, clock: Clock) -> AsyncIterator[MakeSim]:
    made: list[Sim] = []

    async def make(*, token: bool = True, portal: Portal | None = None, **config: Any) -> Sim:
        receiver = CallbackReceiver()
        await receiver.start()
        portal = portal or Portal(callback_url=receiver.url(HOOK))
        config.setdefault("private_key", private_key())
        app = create_simulator(SimulatorConfig(clock=clock, portal=portal, **config))
        server = await aiohttp_server(app)
        http = httpx.AsyncClient(base_url=str(server.make_url("")).rstrip("/"))
        sim = Sim(http=http, app=app, receiver=receiver)
        made.append(sim)
        if token:
            answer = await http.post(
                "/auth/oauth2/token",
                json={
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "grant_type": "client_credentials",
                },
            )
            sim.token = answer.json()["access_token"]
        return sim

    yield make
    for sim in made:
        await sim.http.aclose()
        await sim.receiver.close()


@pytest.fixture
async def sim(make_sim: MakeSim) -> Sim:
    return await make_sim()


# -- OAuth and the gateway --------------------------------------------------------------------


async def test_token_is_issued_like_airtel(make_sim):
    sim = await make_sim(token=False)

    response = await sim.http.post("/auth/oauth2/token", json=fixture("auth_token_request.json"))
    assert (response.status_code, response.json()) == (
        400,
        fixture("auth_token_error_invalid_client.json"),
    )

    response = await sim.http.post(
        "/auth/oauth2/token",
        json={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
        },
    )
    body = response.json()
    assert (response.status_code, body["expires_in"], body["token_type"]) == (200, "180", "bearer")
    assert len(body["access_token"]) == 32


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (
            {"json": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
            "unsupported_grant_type",
        ),
        ({"data": {"client_id": CLIENT_ID}}, "invalid_request"),
        ({"content": b"nope", "headers": {"Content-Type": "application/json"}}, "invalid_request"),
    ],
)
async def test_token_requests_airtel_refuses(make_sim, kwargs, error):
    sim = await make_sim(token=False)

    response = await sim.http.post("/auth/oauth2/token", **kwargs)

    assert (response.status_code, response.json()["error"]) == (400, error)


async def test_unknown_token_field_is_a_warning(make_sim):
    sim = await make_sim(token=False)

    await sim.http.post(
        "/auth/oauth2/token",
        json={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
            "scope": "payments",
        },
    )

    warnings = (await sim.state())["warnings"]
    assert [w["field"] for w in warnings] == ["scope"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
async def test_product_call_without_a_valid_token_is_403_invalid_token(sim, authorization):
    response = await sim.get("/standard/v1/users/balance", Authorization=authorization)

    assert (response.status_code, response.json()) == (403, fixture("error_invalid_token.json"))


async def test_token_expires_after_its_lifetime(sim, clock):
    clock.advance(179)
    assert (await sim.get("/standard/v1/users/balance")).status_code == 200
    clock.advance(1)
    assert (await sim.get("/standard/v1/users/balance")).status_code == 403


async def test_expire_tokens_control_invalidates_issued_tokens(sim):
    answer = await sim.http.post("/simulator/expire-tokens")

    assert answer.json() == {"expired": 1}
    assert (await sim.get("/standard/v1/users/balance")).status_code == 403


async def test_missing_x_country_is_the_router_error(sim):
    response = await sim.post(PUSH, sim.push(), X_Country=None)

    body = response.json()
    assert (response.status_code, sorted(body), body["status_code"]) == (
        400,
        ["status_code", "status_message"],
        "ROUTER110",
    )
    assert body["status_message"].startswith("Partner ")


@pytest.mark.parametrize(
    ("headers", "result_code", "message"),
    [
        ({"X_Country": "UG"}, "ESB000034", "Invalid Country Code"),
        ({"X_Currency": None}, "ESB000008", "Missing request header 'x-wallet-id'"),
        ({"X_Currency": "UGX"}, "ESB000035", "Invalid/Missing Currency"),
    ],
)
async def test_wrong_headers_are_refused_in_the_body(sim, headers, result_code, message):
    code, body = status(await sim.post(PUSH, sim.push(), **headers))

    assert (code, body["code"], body["result_code"], body["success"]) == (
        200,
        "400",
        result_code,
        False,
    )
    assert body["message"].startswith(message)
    assert (await sim.state())["collections"] == []


async def test_wrong_content_type_is_415(sim):
    code, body = status(await sim.post(PUSH, sim.push(), Content_Type="text/plain"))

    assert (code, body["code"]) == (415, "415")


@pytest.mark.parametrize(
    ("method", "path", "http_status"),
    [("POST", "/merchant/v3/payments/", 404), ("GET", "/nowhere", 404), ("GET", PUSH, 405)],
)
async def test_unknown_paths_answer_in_airtels_envelope(sim, method, path, http_status):
    response = await sim.http.request(method, path, headers=sim.headers())

    code, body = status(response)
    assert (code, body["code"], body["success"]) == (http_status, str(http_status), False)


async def test_ip_allow_list_refuses_other_addresses(make_sim):
    sim = await make_sim(token=False, allowed_ips=frozenset({"10.0.0.1"}))

    response = await sim.http.post("/auth/oauth2/token", json={})

    assert status(response)[0] == 403


# -- USSD push and callbacks ----------------------------------------------------------------


async def test_push_is_accepted_and_the_callback_arrives_at_the_portal_url(sim):
    response = await sim.post(PUSH, sim.push())

    assert response.json() == fixture("collection_ussd_push_response.json")
    callback = await sim.receiver.next(HOOK)
    assert sorted(callback) == ["transaction"]
    transaction = callback["transaction"]
    assert (transaction["id"], transaction["status_code"], sorted(transaction)) == (
        "COL000042A",
        "TS",
        ["airtel_money_id", "id", "message", "status_code"],
    )
    state = await sim.state()
    assert (state["balances"]["collection"], state["warnings"]) == (150, [])


async def test_push_v2_takes_the_same_body(sim):
    response = await sim.post("/merchant/v2/payments/", sim.push())

    assert status(response)[1]["response_code"] == "DP00800001006"


async def test_callback_carries_a_hash_when_callback_authentication_is_on(make_sim):
    sim = await make_sim()
    await sim.http.post("/simulator/portal", json={"callback_hash_key": "example-callback-key"})

    await sim.post(PUSH, sim.push())

    received = await sim.receiver.next_received(HOOK)
    parsed = parse_collection_callback(received.raw, hash_key="example-callback-key")
    assert (parsed.verified, parsed.matched_input, "hash" in received.body) == (
        True,
        HashInput.TRANSACTION_JSON,
        True,
    )


async def test_raw_body_hash_travels_in_a_header(make_sim):
    sim = await make_sim()
    await sim.http.post(
        "/simulator/portal", json={"callback_hash_key": "k3y", "hash_input": "body"}
    )

    await sim.post(PUSH, sim.push())

    received = await sim.receiver.next_received(HOOK)
    parsed = parse_collection_callback(
        received.raw, hash_key="k3y", header_hash=received.headers["hash"]
    )
    assert ("hash" in received.body, parsed.verified) == (False, True)


async def test_the_portal_change_is_logged_without_the_secret_path_or_the_hash_key(sim, caplog):
    url = "https://pay.example.co.ke/hooks/cb-secret-never-logged-4567/airtel/collection"
    caplog.set_level(logging.INFO, logger="airtel.simulator.app")

    answer = await sim.http.post(
        "/simulator/portal", json={"callback_url": url, "callback_hash_key": "portal-key-0123"}
    )

    assert answer.json()["callback_url"] == url  # the caller sees what it set
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "https://pay.example.co.ke/hooks/***/airtel/collection" in logged
    assert "cb-secret-never-logged-4567" not in logged and "portal-key-0123" not in logged


async def test_no_callback_without_a_portal_url(make_sim):
    sim = await make_sim(portal=Portal())

    await sim.post(PUSH, sim.push())

    state = await sim.drain()
    assert [(d["dropped"], d["url"]) for d in state["deliveries"]] == [(True, None)]
    assert state["collections"][0]["phase"] == "TS"


@pytest.mark.parametrize(
    ("msisdn", "code"),
    [
        ("733000001", "DP00800001007"),
        ("733000002", "DP00800001002"),
        ("733000003", "DP00800001005"),
        ("733000004", "DP00800001024"),
        ("733000005", "DP00800001010"),
    ],
)
async def test_failing_numbers_call_back_tf_and_enquire_with_their_code(sim, msisdn, code):
    await sim.post(PUSH, sim.push(msisdn=msisdn))

    callback = await sim.receiver.next(HOOK)
    enquiry = (await sim.get("/standard/v1/payments/COL000042A")).json()
    assert (callback["transaction"]["status_code"], callback["transaction"]["airtel_money_id"]) == (
        "TF",
        "",
    )
    assert (enquiry["data"]["transaction"]["status"], enquiry["status"]["response_code"]) == (
        "TF",
        code,
    )


async def test_no_callback_number_enquires_tip_then_ts(sim, clock):
    await sim.post(PUSH, sim.push(msisdn="733000000"))

    first = (await sim.get("/standard/v1/payments/COL000042A")).json()
    clock.advance(10)
    second = (await sim.get("/standard/v1/payments/COL000042A")).json()

    assert first == fixture("collection_enquiry_response_pending.json")
    assert second["data"]["transaction"]["status"] == "TS"
    assert (await sim.drain())["deliveries"] == []


async def test_ambiguous_number_enquires_ta_then_ts(sim, clock):
    await sim.post(PUSH, sim.push(msisdn="733000007"))

    first = (await sim.get("/standard/v1/payments/COL000042A")).json()
    clock.advance(10)
    second = (await sim.get("/standard/v1/payments/COL000042A")).json()

    assert (first["data"]["transaction"]["status"], first["status"]["response_code"]) == (
        "TA",
        "DP00800001000",
    )
    assert second["data"]["transaction"]["status"] == "TS"


async def test_duplicate_callback_number_posts_twice(sim):
    await sim.post(PUSH, sim.push(msisdn="733000008"))

    first, second = [await sim.receiver.next(HOOK) for _ in range(2)]
    assert first == second


async def test_cancelling_payer_pays_on_the_second_prompt(sim):
    await sim.post(PUSH, sim.push("COL1", msisdn="733100005"))
    await sim.post(PUSH, sim.push("COL2", msisdn="733100005"))

    statuses = sorted(
        (c["transaction"]["id"], c["transaction"]["status_code"])
        for c in [await sim.receiver.next(HOOK) for _ in range(2)]
    )
    assert statuses == [("COL1", "TF"), ("COL2", "TS")]


@pytest.mark.parametrize("msisdn", ["733999999", "708374149"])
async def test_push_to_a_non_airtel_money_number_is_msisdn_not_found(sim, msisdn):
    response = await sim.post(PUSH, sim.push(msisdn=msisdn))

    assert response.json() == fixture("collection_ussd_push_response_error.json")


@pytest.mark.parametrize("msisdn", ["254733123456", "0733123456", "73312345", "73312345a"])
async def test_push_msisdn_must_be_nine_digits(sim, msisdn):
    code, body = status(await sim.post(PUSH, sim.push(msisdn=msisdn)))

    assert (code, body["result_code"], body["message"]) == (
        200,
        "ESB000033",
        "Invalid Msisdn Length. Msisdn Length should be 9",
    )


@pytest.mark.parametrize("amount", [1.5, 0, -5, None, "abc", True, 250_001])
async def test_push_amount_must_be_whole_shillings_in_range(sim, amount):
    body = sim.push(transaction__amount=amount)

    code, answer = status(await sim.post(PUSH, body))

    assert (code, answer["response_code"], answer["success"]) == (200, "DP00800001004", False)


async def test_push_duplicate_transaction_id_is_refused(sim):
    await sim.post(PUSH, sim.push())
    response = await sim.post(PUSH, sim.push())

    _, body = status(response)
    assert (body["result_code"], body["message"]) == (
        "ESB000041",
        "External Transaction ID already exists",
    )
    assert len((await sim.state())["collections"]) == 1


async def test_push_wrong_body_country_is_refused(sim):
    _, body = status(await sim.post(PUSH, sim.push(subscriber__country="UG")))

    assert body["result_code"] == "ESB000034"


@pytest.mark.parametrize(
    ("field", "value"), [("reference", None), ("subscriber", "733123456"), ("transaction", None)]
)
async def test_push_missing_parts_are_refused(sim, field, value):
    body = sim.push(**{field: value if value is not None else _DROP})

    _, answer = status(await sim.post(PUSH, body))

    assert (answer["code"], answer["result_code"]) == ("400", "ESB000008")


async def test_numbers_as_strings_and_strings_as_numbers_are_accepted_with_warnings(sim):
    body = sim.push(msisdn=733123456, transaction__amount="150")

    _, answer = status(await sim.post(PUSH, body))

    assert answer["success"] is True
    fields = [w["field"] for w in (await sim.state())["warnings"]]
    assert fields == ["subscriber.msisdn", "transaction.amount"]


async def test_unknown_fields_are_warned_with_a_did_you_mean(sim):
    body = sim.push(callback_url="https://shop.test/hook", transaction__currancy="KES")

    _, answer = status(await sim.post(PUSH, body))

    assert answer["success"] is True
    messages = [w["message"] for w in (await sim.state())["warnings"]]
    assert messages == [
        "unknown field 'transaction.currancy' is ignored; did you mean 'currency'?",
        "unknown field 'callback_url' is ignored",
    ]


@pytest.mark.parametrize(("level", "accepted"), [(Level.STRICT, False), (Level.LENIENT, True)])
async def test_guessed_rules_refuse_when_strict_and_warn_when_lenient(make_sim, level, accepted):
    sim = await make_sim(level=level)

    _, answer = status(await sim.post(PUSH, sim.push("COL-42", reference="Order 42")))

    assert answer["success"] is accepted
    warnings = (await sim.state())["warnings"]
    assert len(warnings) == (2 if accepted else 0)


# -- enquiry and refund -------------------------------------------------------------------------


async def test_enquiry_of_an_unknown_id_is_the_not_found_sample(sim):
    response = await sim.get("/standard/v1/payments/NOPE1")

    assert (response.status_code, response.json()) == (
        200,
        fixture("collection_enquiry_response_not_found.json"),
    )


async def test_refund_of_a_paid_collection_once(sim):
    await sim.post(PUSH, sim.push())
    receipt = (await sim.receiver.next(HOOK))["transaction"]["airtel_money_id"]
    body = {"transaction": {"airtel_money_id": receipt}}

    first = await sim.post(REFUND, body)
    second = await sim.post(REFUND, body)
    unknown = await sim.post(REFUND, {"transaction": {"airtel_money_id": "MP000"}})

    expected = fixture("collection_refund_response.json")
    expected["data"]["transaction"]["airtel_money_id"] = receipt
    assert first.json() == expected
    assert (status(second)[1]["message"], status(unknown)[1]["response_code"]) == (
        "Transaction already refunded",
        "DP00800001025",
    )
    assert (await sim.state())["balances"]["collection"] == 0


# -- disbursements --------------------------------------------------------------------------


async def test_payout_is_paid_at_once_and_debits_the_wallet(sim):
    response = await sim.post(DISBURSE, sim.payout())

    body = response.json()
    expected = fixture("disbursement_response_success.json")
    assert sorted(body["data"]["transaction"]) == sorted(expected["data"]["transaction"])
    assert (body["status"]["response_code"], body["data"]["transaction"]["status"]) == (
        "DP00900001001",
        "TS",
    )
    assert "Bal KES 99500.00" in body["status"]["message"]
    enquiry = (await sim.get("/standard/v1/disbursements/DSB000042")).json()
    assert (
        enquiry["data"]["transaction"]["airtel_money_id"]
        == (body["data"]["transaction"]["airtel_money_id"])
    )
    state = await sim.state()
    assert (state["balances"]["disbursement"], state["warnings"]) == (99_500, [])


@pytest.mark.parametrize("scheme", list(RsaPadding))
async def test_every_pin_padding_is_accepted_by_default(sim, scheme):
    pin = encrypt_pin("1234", private_key().public_key(), scheme=scheme)

    response = await sim.post(DISBURSE, sim.payout(pin=pin))

    assert status(response)[1]["response_code"] == "DP00900001001"


async def test_an_oaep_pin_is_refused_when_only_pkcs1_is_accepted(make_sim):
    sim = await make_sim(pin_paddings=(RsaPadding.PKCS1V15,))
    pin = encrypt_pin("1234", private_key().public_key(), scheme=RsaPadding.OAEP_SHA256)

    response = await sim.post(DISBURSE, sim.payout(pin=pin))

    assert response.json() == fixture("disbursement_response_incorrect_pin.json")


@pytest.mark.parametrize(
    "pin",
    [
        "1234",  # not encrypted at all
        base64.b64encode(b"x" * 256).decode(),
        "not base64!",
    ],
)
async def test_a_pin_that_does_not_decrypt_is_incorrect_encrypted_pin(sim, pin):
    response = await sim.post(DISBURSE, sim.payout(pin=pin))

    assert response.json() == fixture("disbursement_response_incorrect_pin.json")
    assert (await sim.state())["disbursements"] == []


async def test_a_wrong_pin_is_incorrect_pin(sim):
    pin = encrypt_pin("9999", private_key().public_key())

    _, body = status(await sim.post(DISBURSE, sim.payout(pin=pin)))

    assert (body["message"], body["result_code"], body["response_code"]) == (
        "Incorrect Pin",
        "ROUTER115",
        "DP00900001013",
    )


async def test_a_missing_pin_is_refused(sim):
    _, body = status(await sim.post(DISBURSE, sim.payout(pin="")))

    assert body["message"] == "Missing header/body params"


async def test_payout_msisdn_length_is_the_observed_answer(sim):
    response = await sim.post(DISBURSE, sim.payout(msisdn="254733123456"))

    assert response.json() == fixture("disbursement_response_invalid_msisdn.json")


async def test_payout_duplicate_id_is_the_sample_and_moves_no_money(sim):
    await sim.post(DISBURSE, sim.payout())
    response = await sim.post(DISBURSE, sim.payout())

    assert response.json() == fixture("disbursement_response_duplicate.json")
    assert (await sim.state())["balances"]["disbursement"] == 99_500


async def test_payout_over_the_wallet_is_insufficient_funds(sim):
    await sim.post(DISBURSE, sim.payout("DSB1", transaction__amount=99_000))
    _, body = status(await sim.post(DISBURSE, sim.payout("DSB2", transaction__amount=1_001)))

    assert (body["response_code"], body["success"]) == ("DP00900001007", False)
    assert (await sim.state())["balances"]["disbursement"] == 1_000


async def test_ambiguous_payout_number_moved_the_money(sim):
    response = await sim.post(DISBURSE, sim.payout(msisdn="734000001"))

    assert status(response)[1]["response_code"] == "DP00900001000"
    enquiry = (await sim.get("/standard/v1/disbursements/DSB000042")).json()
    assert enquiry["data"]["transaction"]["status"] == "TS"
    assert (await sim.state())["balances"]["disbursement"] == 99_500


async def test_timed_out_payout_number_did_not_happen(sim):
    response = await sim.post(DISBURSE, sim.payout(msisdn="734000003"))

    assert "data" not in response.json()
    assert status(response)[1]["response_code"] == "DP00900001014"
    enquiry = (await sim.get("/standard/v1/disbursements/DSB000042")).json()
    assert enquiry["data"]["transaction"]["status"] == "TF"
    assert (await sim.state())["balances"]["disbursement"] == 100_000


async def test_in_progress_payout_settles_after_the_pending_time(sim, clock):
    response = await sim.post(DISBURSE, sim.payout(msisdn="734000002"))
    first = (await sim.get("/standard/v1/disbursements/DSB000042")).json()
    clock.advance(10)
    second = (await sim.get("/standard/v1/disbursements/DSB000042")).json()

    assert response.json()["data"]["transaction"]["status"] == "TIP"
    assert [b["data"]["transaction"]["status"] for b in (first, second)] == ["TIP", "TS"]


@pytest.mark.parametrize(
    ("msisdn", "code"), [("733999999", "DP00900001012"), ("734000004", "DP00900001013")]
)
async def test_payouts_to_unregistered_or_barred_accounts_fail(sim, msisdn, code):
    _, body = status(await sim.post(DISBURSE, sim.payout(msisdn=msisdn)))

    assert (body["response_code"], body["success"]) == (code, False)
    assert (await sim.state())["balances"]["disbursement"] == 100_000


async def test_v2_payout_needs_currency_and_type(sim):
    no_currency = await sim.post(DISBURSE_V2, sim.payout("D1", version="v2", payee__currency=_DROP))
    no_type = await sim.post(DISBURSE_V2, sim.payout("D2", version="v2", transaction__type=_DROP))
    paid = await sim.post(DISBURSE_V2, sim.payout("D3", version="v2"))

    assert status(no_currency)[1]["message"] == "Invalid/Missing Currency"
    assert status(no_type)[1]["message"] == "Missing or invalid field: transaction.type"
    assert status(paid)[1]["response_code"] == "DP00900001001"


@pytest.mark.parametrize(
    ("msisdn", "wallet", "paid"),
    [("733123456", "B2B", False), ("734000005", "B2C", False), ("734000005", "B2B", True)],
)
async def test_v2_wallet_type_must_match_the_payee(sim, msisdn, wallet, paid):
    body = sim.payout(msisdn=msisdn, version="v2", transaction__type=wallet)

    _, answer = status(await sim.post(DISBURSE_V2, body))

    assert answer["success"] is paid


async def test_v1_payout_with_v2_fields_warns_that_they_are_ignored(sim):
    await sim.post(DISBURSE, sim.payout(transaction__type="B2C"))

    assert [w["field"] for w in (await sim.state())["warnings"]] == ["transaction.type"]


async def test_v2_enquiry_needs_the_transaction_type(sim):
    await sim.post(DISBURSE_V2, sim.payout(version="v2"))

    missing = await sim.get("/standard/v2/disbursements/DSB000042")
    given = await sim.get("/standard/v2/disbursements/DSB000042?transactionType=B2C")

    assert status(missing)[1]["success"] is False
    assert given.json()["data"]["transaction"]["status"] == "TS"


async def test_unknown_payout_enquiry_is_not_found(sim):
    _, body = status(await sim.get("/standard/v1/disbursements/NOPE"))

    assert (body["code"], body["response_code"]) == ("404", "DP00900001015")


# -- KYC, balance, keys -------------------------------------------------------------------------


async def test_kyc_of_a_registered_number(sim):
    response = await sim.get("/standard/v1/users/733123456")

    assert response.json() == fixture("kyc_user_response.json")


@pytest.mark.parametrize("msisdn", ["733999999", "708374149"])
async def test_kyc_of_an_unregistered_number_is_user_not_found(sim, msisdn):
    response = await sim.get(f"/standard/v1/users/{msisdn}")

    assert response.json() == fixture("kyc_user_not_found.json")


async def test_kyc_barred_and_placeholder_names(sim):
    barred = (await sim.get("/standard/v1/users/734000004")).json()["data"]
    placeholder = (await sim.get("/standard/v1/users/733000009")).json()["data"]

    assert barred["is_barred"] is True
    assert (placeholder["first_name"], placeholder["last_name"]) == ("FN", "LN")


async def test_kyc_needs_the_nine_digit_form(sim):
    _, body = status(await sim.get("/standard/v1/users/254733123456"))

    assert (body["result_code"], body["response_code"]) == ("ESB000033", "DP02200000000")


async def test_balance_is_a_string_with_cents(sim):
    await sim.post(PUSH, sim.push())
    await sim.receiver.next(HOOK)

    body = (await sim.get("/standard/v1/users/balance")).json()

    assert body["data"] == {"balance": "150.00", "currency": "KES", "account_status": "Active"}
    assert body["status"] == fixture("balance_response.json")["status"]


async def test_encryption_key_is_served_as_airtel_does_and_as_pem(sim, clock):
    body = (await sim.get("/v1/rsa/encryption-keys")).json()
    pem = (await sim.http.get("/simulator/public-key")).text

    expected = private_key().public_key().public_numbers()
    assert load_public_key(body["data"]["key"]).public_numbers() == expected
    assert load_public_key(pem).public_numbers() == expected
    assert pem == public_key_pem(private_key().public_key())
    assert body["data"]["valid_upto"] == "20-11-2027 11:30:05"
    assert body["status"] == fixture("encryption_keys_response.json")["status"]


# -- message signing ----------------------------------------------------------------------------


async def test_signed_requests_are_verified(make_sim):
    sim = await make_sim(portal=Portal(require_signing=True))
    raw = json.dumps(sim.push()).encode()
    signed = sign_message(raw, private_key().public_key())

    unsigned = await sim.post(PUSH, raw)
    good = await sim.post(
        PUSH, raw, **{"x-signature": signed.signature, "x-key": signed.encrypted_key}
    )
    tampered = await sim.post(
        PUSH,
        raw.replace(b"150", b"999"),
        **{"x-signature": signed.signature, "x-key": signed.encrypted_key},
    )

    assert status(unsigned)[1]["response_code"] == "DP00800001026"
    assert status(good)[1]["response_code"] == "DP00800001006"
    assert status(tampered)[1]["message"] == "Forbidden. X-signature and payload did not match"


async def test_a_bad_signature_is_refused_even_when_signing_is_optional(sim):
    raw = json.dumps(sim.payout()).encode()
    signed = sign_message(b"{}", private_key().public_key())

    response = await sim.post(
        DISBURSE, raw, **{"x-signature": signed.signature, "x-key": signed.encrypted_key}
    )

    assert status(response)[1]["response_code"] == "DP00900001016"


# -- faults and control -------------------------------------------------------------------------


async def test_fail_next_is_a_500_before_any_effect(sim):
    await sim.faults(fail_next_n=1)

    failed = await sim.post(DISBURSE, sim.payout())
    retried = await sim.post(DISBURSE, sim.payout())

    assert (failed.status_code, retried.status_code) == (500, 200)
    assert status(retried)[1]["response_code"] == "DP00900001001"


async def test_rate_limit_is_a_429_before_any_effect(sim):
    await sim.faults(rate_limit_next_n=1)

    response = await sim.post(PUSH, sim.push())

    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")
    assert (await sim.state())["collections"] == []


async def test_dropped_connection_happens_after_the_effect(sim):
    await sim.faults(drop_connection_next_n=1)

    with pytest.raises(httpx.RemoteProtocolError):
        await sim.post(DISBURSE, sim.payout())

    state = await sim.state()
    assert (len(state["disbursements"]), state["balances"]["disbursement"]) == (1, 99_500)
    assert state["calls"][-1] == {
        "method": "POST",
        "path": DISBURSE,
        "status": None,
        "dropped": True,
    }


async def test_slow_response_answers_late_after_the_effect(make_sim):
    sim = await make_sim(faults=Faults(slow_response_s=5.0))
    sim.http.timeout = httpx.Timeout(5.0, read=0.05)

    with pytest.raises(httpx.ReadTimeout):
        await sim.post(DISBURSE, sim.payout())

    state = await sim.state()
    assert state["disbursements"][0]["phase"] == "TS"


async def test_ambiguous_fault_on_a_push_still_prompts_the_payer(sim):
    await sim.faults(ambiguous_next_n=1)

    response = await sim.post(PUSH, sim.push())

    assert (
        response.json()["data"]["transaction"]["status"],
        status(response)[1]["result_code"],
    ) == (
        "TA",
        "ESB000001",
    )
    assert (await sim.receiver.next(HOOK))["transaction"]["status_code"] == "TS"


async def test_enquiry_not_found_fault_answers_not_found_once(sim):
    await sim.post(PUSH, sim.push(msisdn="733000000"))
    await sim.faults(enquiry_not_found_next_n=1)

    first = await sim.get("/standard/v1/payments/COL000042A")
    second = await sim.get("/standard/v1/payments/COL000042A")

    assert status(first)[1]["response_code"] == "DP00800001025"
    assert second.json()["data"]["transaction"]["status"] == "TIP"


async def test_drop_and_duplicate_callback_faults(sim):
    await sim.faults(duplicate_callbacks=True)
    await sim.post(PUSH, sim.push("COL1"))
    await sim.faults(duplicate_callbacks=False, drop_callbacks=True)
    await sim.post(PUSH, sim.push("COL2"))

    state = await sim.drain()
    assert [(d["body"]["transaction"]["id"], d["dropped"]) for d in state["deliveries"]] == [
        ("COL1", False),
        ("COL1", False),
        ("COL2", True),
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/simulator/faults", {"nope": 1}),
        ("/simulator/faults", {"fail_next_n": -1}),
        ("/simulator/faults", {"drop_callbacks": "yes"}),
        ("/simulator/portal", {"hash_input": "headers"}),
        ("/simulator/portal", {"callback_url": 5}),
        ("/simulator/portal", [1]),
    ],
)
async def test_control_endpoints_refuse_bad_changes(sim, path, body):
    response = await sim.http.post(path, json=body)

    assert response.status_code == 400
    assert (await sim.state())["faults"] == Faults().snapshot()


async def test_reset_forgets_transactions_but_keeps_tokens_and_portal(sim):
    await sim.post(DISBURSE, sim.payout())

    state = (await sim.http.post("/simulator/reset")).json()

    assert (state["disbursements"], state["balances"]["disbursement"]) == ([], 100_000)
    assert state["portal"]["callback_url"] == sim.receiver.url(HOOK)
    assert (await sim.get("/standard/v1/users/balance")).status_code == 200


def test_outcome_table_lists_every_scripted_number():
    table = outcome_table()

    for msisdn in ("733000001", "733000000", "733999999", "734000001", "734000003", "733100005"):
        assert msisdn in table
