"""What Daraja refuses, the simulator refuses: each check and its exact answer (raw HTTP)."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.simulator import cli as airtel_simulator_cli
from bot.cli import build_parser as bot_parser
from mpesa.security import daraja_timestamp
from mpesa.security import stk_password
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator.__main__ import build_parser as module_parser
from mpesa.simulator.cli import config_from_args
from mpesa.simulator.credentials import generate_keys
from mpesa.simulator.credentials import load_or_create_keys
from mpesa.simulator.delivery import shown_url
from tests.helpers.clock import Clock
from tests.helpers.ports import free_port
from tests.helpers.sim_http import B2C
from tests.helpers.sim_http import BALANCE
from tests.helpers.sim_http import DROP
from tests.helpers.sim_http import REVERSAL
from tests.helpers.sim_http import START
from tests.helpers.sim_http import STATUS
from tests.helpers.sim_http import STK_PUSH
from tests.helpers.sim_http import STK_QUERY
from tests.helpers.sim_http import TS
from tests.helpers.sim_http import MakeSim
from tests.helpers.sim_http import Sim
from tests.helpers.sim_http import encrypt
from tests.helpers.sim_http import error
from tests.helpers.sim_http import params
from tests.helpers.sim_http import receipt_of

INITIATOR_INVALID = (2001, "The initiator information is invalid.")


def result_of(callback: dict[str, Any]) -> tuple[Any, str]:
    return callback["Result"]["ResultCode"], callback["Result"]["ResultDesc"]


def items_of(callback: dict[str, Any]) -> dict[str, Any]:
    items = callback["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    return {item["Name"]: item.get("Value") for item in items}


# 1. SecurityCredential: the simulator's certificate, decrypted and compared


async def test_certificate_route_serves_an_expired_2048_bit_rsa_certificate(sim: Sim) -> None:
    response = await sim.http.get("/simulator/certificate")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-pem-file")
    cert = x509.load_pem_x509_certificate(response.content)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    # like Safaricom's published files: long expired, and Daraja does not care
    assert cert.not_valid_after_utc < datetime.now(UTC)


async def test_credential_made_with_the_served_certificate_pays_out(sim: Sim) -> None:
    certificate = (await sim.http.get("/simulator/certificate")).content
    credential = encrypt(SANDBOX_INITIATOR_PASSWORD, certificate)
    # 2048-bit key: 256 encrypted bytes, a 344-character credential as Safaricom's
    assert len(credential) == 344

    await sim.post(B2C, sim.b2c("payout-1", SecurityCredential=credential))
    result = await sim.receiver.next("/b2c/result")

    assert result_of(result) == (0, "The service request is processed successfully.")
    assert (await sim.state())["balances"]["utility"] == 100_000 - 500


OTHER_KEYS = generate_keys()
WRONG_CREDENTIALS = [
    "not-encrypted",
    "plain-base64",
    "wrong-password",
    "timestamped",
    "other-certificate",
]


def wrong_credential(case: str, sim_certificate: bytes) -> str:
    """A SecurityCredential Daraja answers with 2001 (``sim_certificate`` is the right one)."""
    return {
        "not-encrypted": lambda: "not-encrypted-at-all",
        "plain-base64": lambda: base64.b64encode(SANDBOX_INITIATOR_PASSWORD.encode()).decode(),
        "wrong-password": lambda: encrypt("Safaricom999!", sim_certificate),
        # mpesakit 2.2.0 appends a timestamp before encrypting (daraja.md §5)
        "timestamped": lambda: encrypt(SANDBOX_INITIATOR_PASSWORD + TS, sim_certificate),
        "other-certificate": lambda: encrypt(
            SANDBOX_INITIATOR_PASSWORD, OTHER_KEYS.certificate_pem
        ),
    }[case]()


@pytest.mark.parametrize("case", WRONG_CREDENTIALS)
async def test_b2c_with_a_wrong_credential_is_result_2001_and_moves_no_money(
    sim: Sim, case: str
) -> None:
    certificate = (await sim.http.get("/simulator/certificate")).content
    body = sim.b2c("payout-1", SecurityCredential=wrong_credential(case, certificate))

    answer = await sim.post(B2C, body)
    result = await sim.receiver.next("/b2c/result")

    # accepted synchronously, refused asynchronously, as Daraja does
    assert answer.status_code == 200
    assert result_of(result) == INITIATOR_INVALID
    assert "ResultParameters" not in result["Result"]
    assert (await sim.state())["balances"]["utility"] == 100_000


@pytest.mark.parametrize("api", ["status", "balance", "reversal"])
@pytest.mark.parametrize("case", ["not-encrypted", "wrong-password", "other-certificate"])
async def test_status_balance_and_reversal_check_the_credential_too(
    sim: Sim, api: str, case: str
) -> None:
    receipt = receipt_of(await sim.paid_stk())
    certificate = (await sim.http.get("/simulator/certificate")).content
    credential = wrong_credential(case, certificate)
    path, body = {
        "status": (STATUS, sim.status(TransactionID=receipt, SecurityCredential=credential)),
        "balance": (BALANCE, sim.balance(SecurityCredential=credential)),
        "reversal": (REVERSAL, sim.reversal(receipt, SecurityCredential=credential)),
    }[api]

    assert (await sim.post(path, body)).status_code == 200
    result = await sim.receiver.next(f"/{api}/result")

    assert result_of(result) == INITIATOR_INVALID
    assert list(params(result)) == ["BOCompletedTime"]
    state = await sim.state()
    assert state["reversals"] == []
    assert state["balances"]["utility"] == 100_150


async def test_the_initiator_password_is_a_setting(make_sim: MakeSim) -> None:
    sim = await make_sim(initiator_password="Shop#2026&Pay")
    certificate = (await sim.http.get("/simulator/certificate")).content

    await sim.post(B2C, sim.b2c("payout-1"))  # the sandbox password: no longer the right one
    await sim.post(
        B2C, sim.b2c("payout-2", SecurityCredential=encrypt("Shop#2026&Pay", certificate))
    )
    first = await sim.receiver.next("/b2c/result")
    second = await sim.receiver.next("/b2c/result")

    by_id = {r["Result"]["OriginatorConversationID"]: result_of(r) for r in (first, second)}
    assert by_id["payout-1"] == INITIATOR_INVALID
    assert by_id["payout-2"][0] == 0


def test_a_key_file_keeps_the_certificate_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "key.pem"

    created = load_or_create_keys(path)
    again = load_or_create_keys(path)

    assert again.certificate_pem == created.certificate_pem
    assert path.stat().st_mode & 0o777 == 0o600
    credential = encrypt(SANDBOX_INITIATOR_PASSWORD, created.certificate_pem)
    assert again.decrypt(credential) == SANDBOX_INITIATOR_PASSWORD


def test_a_key_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("<html>not a key</html>")

    with pytest.raises(ValueError, match="does not hold the simulator's key"):
        load_or_create_keys(path)


# 2. STK Timestamp and Password


def stk_at(sim: Sim, moment: datetime, **overrides: Any) -> dict[str, Any]:
    """An STK body whose Timestamp (and the Password made with it) is ``moment`` in Nairobi."""
    return sim.stk(ts=daraja_timestamp(moment), **overrides)


INVALID_TIMESTAMP = (400, "400.002.02", "Bad Request - Invalid Timestamp")


@pytest.mark.parametrize(
    "moment",
    [
        # a server on UTC: the right instant, written 3 hours behind Nairobi
        START.astimezone(UTC).replace(tzinfo=START.tzinfo),
        START - timedelta(days=365),
        START - timedelta(minutes=10, seconds=1),
        START + timedelta(minutes=10, seconds=1),
    ],
    ids=["utc-clock", "a-year-old", "just-over-10-min-behind", "just-over-10-min-ahead"],
)
async def test_stk_push_refuses_a_timestamp_off_nairobi_time(sim: Sim, moment: datetime) -> None:
    response = await sim.post(STK_PUSH, stk_at(sim, moment))

    assert error(response) == INVALID_TIMESTAMP
    assert response.json()["requestId"]
    assert (await sim.state())["prompts"] == []


@pytest.mark.parametrize("seconds", [-599, 0, 599])
async def test_stk_push_accepts_a_timestamp_within_the_skew(sim: Sim, seconds: int) -> None:
    response = await sim.post(STK_PUSH, stk_at(sim, START + timedelta(seconds=seconds)))

    assert response.status_code == 200


async def test_the_skew_is_a_setting_and_can_be_off(make_sim: MakeSim) -> None:
    tight = await make_sim(timestamp_skew_s=30)
    off = await make_sim(timestamp_skew_s=None)
    a_minute_ago = stk_at(tight, START - timedelta(minutes=1))
    a_year_ago = stk_at(off, START - timedelta(days=365))

    assert error(await tight.post(STK_PUSH, a_minute_ago)) == INVALID_TIMESTAMP
    assert (await off.post(STK_PUSH, a_year_ago)).status_code == 200


async def test_stk_query_checks_the_timestamp_too(sim: Sim, clock: Clock) -> None:
    checkout = (await sim.post(STK_PUSH, sim.stk())).json()["CheckoutRequestID"]
    clock.advance(15 * 60)

    stale = await sim.post(STK_QUERY, sim.stk_query(checkout))  # the push's old Timestamp

    assert error(stale) == INVALID_TIMESTAMP


async def test_password_must_be_made_with_the_same_timestamp(sim: Sim) -> None:
    later = daraja_timestamp(START + timedelta(seconds=1))
    body = sim.stk(Password=stk_password("174379", SANDBOX_PASSKEY, later))

    assert error(await sim.post(STK_PUSH, body)) == (500, "500.001.1001", "Wrong credentials")


# 3. documented field limits, strict and lenient


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"AccountReference": "X" * 13}, "Bad Request - Invalid AccountReference"),
        ({"AccountReference": "HouseholdPlanet"}, "Bad Request - Invalid AccountReference"),
        # Daraja names TransactionDesc "Remarks" in its refusals (observed for a missing one)
        ({"TransactionDesc": "X" * 14}, "Bad Request - Invalid Remarks"),
        ({"TransactionDesc": "Household Planet Kenya Payment"}, "Bad Request - Invalid Remarks"),
    ],
    ids=["reference-13", "seed-reference", "desc-14", "seed-desc"],
)
async def test_strict_level_refuses_values_over_the_documented_limits(
    sim: Sim, overrides: dict[str, str], expected: str
) -> None:
    response = await sim.post(STK_PUSH, sim.stk(**overrides))

    assert error(response) == (400, "400.002.02", expected)


async def test_strict_level_accepts_values_at_the_limits(sim: Sim) -> None:
    response = await sim.post(
        STK_PUSH, sim.stk(AccountReference="X" * 12, TransactionDesc="Y" * 13)
    )

    assert response.status_code == 200


async def test_lenient_level_accepts_them_with_a_logged_warning(
    make_sim: MakeSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await make_sim(level="lenient")
    body = sim.stk(
        AccountReference="HouseholdPlanet", TransactionDesc="Household Planet Kenya Payment"
    )

    with caplog.at_level(logging.WARNING, logger="mpesa.simulator"):
        response = await sim.post(STK_PUSH, body)

    assert response.status_code == 200
    assert await sim.warnings() == [
        (
            STK_PUSH,
            "AccountReference",
            "AccountReference is 15 characters; Daraja documents at most 12 (accepted at the "
            "lenient level; what Daraja does with it is not certain)",
        ),
        (
            STK_PUSH,
            "TransactionDesc",
            "TransactionDesc is 30 characters; Daraja documents at most 13 (accepted at the "
            "lenient level; what Daraja does with it is not certain)",
        ),
    ]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sim.warning")]
    assert logged[0].startswith(f"sim.warning path={STK_PUSH} field=AccountReference ")
    assert len(logged) == 2


async def test_characters_daraja_fails_on_are_a_warning(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk(AccountReference="A&B#1"))

    assert response.status_code == 200
    assert await sim.warnings() == [
        (
            STK_PUSH,
            "AccountReference",
            "AccountReference contains # &, which Daraja is reported to fail on",
        )
    ]


# 4. unknown fields: warnings with a "did you mean"


async def test_an_stk_body_carrying_the_passkey_is_a_warning(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk(Passkey=SANDBOX_PASSKEY))

    assert response.status_code == 200
    assert await sim.warnings() == [
        (
            STK_PUSH,
            "Passkey",
            'unknown field "Passkey": the passkey is never sent: it is part of Password',
        )
    ]


async def test_b2c_occasion_spelled_correctly_is_a_did_you_mean_warning(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    body = sim.b2c("payout-1", Occassion=DROP, Occasion="Refund")

    with caplog.at_level(logging.WARNING, logger="mpesa.simulator"):
        response = await sim.post(B2C, body)

    assert response.status_code == 200
    expected = 'unknown field "Occasion": did you mean "Occassion"?'
    assert await sim.warnings() == [(B2C, "Occasion", expected)]
    assert f"sim.warning path={B2C} field=Occasion {expected}" in caplog.messages


@pytest.mark.parametrize(
    ("field_name", "advice"),
    [
        ("callBackURL", 'did you mean "CallBackURL"?'),
        ("AcountReference", 'did you mean "AccountReference"?'),
        ("ConsumerSecret", "credentials go in the OAuth request, never in a product body"),
        ("Channel", "not a field of this API"),
    ],
)
async def test_unknown_stk_fields_get_advice(sim: Sim, field_name: str, advice: str) -> None:
    await sim.post(STK_PUSH, sim.stk(**{field_name: "x"}))

    assert await sim.warnings() == [
        (STK_PUSH, field_name, f'unknown field "{field_name}": {advice}')
    ]


async def test_warnings_are_in_the_state_until_reset(sim: Sim) -> None:
    await sim.post(STATUS, sim.status(TransactionID="UKK2M8P4RS", OriginatorConversationID="x"))
    before = (await sim.state())["warnings"]

    await sim.http.post("/simulator/reset")

    assert before == [
        {
            "path": STATUS,
            "field": "OriginatorConversationID",
            "message": 'unknown field "OriginatorConversationID": did you mean '
            '"OriginalConversationID"?',
        }
    ]
    assert await sim.warnings() == []


# 5. parties, URLs, phone forms, C2B URL words, one prompt per phone, Rule limited


async def test_paybill_party_b_must_be_the_business_shortcode(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk(PartyB="600984"))

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid PartyB")


async def test_till_party_b_is_the_till_number(sim: Sim) -> None:
    body = sim.stk(TransactionType="CustomerBuyGoodsOnline", PartyB="5432101")

    assert (await sim.post(STK_PUSH, body)).status_code == 200


async def test_party_a_must_be_the_phone_number(sim: Sim) -> None:
    response = await sim.post(STK_PUSH, sim.stk(PartyA="254711111111"))

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid PartyA")


PLACEHOLDER_URLS = [
    "https://mydomain.com/path",
    "https://yourdomain.com/callback",
    "https://example.com/callback",
    "https://api.example.co.ke/hooks",
    "https://pay.invalid/hooks",
    "http://ip_address:port/callback",
    "https://pay.shop.co.ke:port/hooks",
    "callback",
    "https://",
    "ftp://pay.shop.co.ke/hooks",
    " https://pay.shop.co.ke/hooks",
]


@pytest.mark.parametrize("url", PLACEHOLDER_URLS)
async def test_stk_callback_url_must_be_a_real_url(sim: Sim, url: str) -> None:
    response = await sim.post(STK_PUSH, sim.stk(CallBackURL=url))

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid CallBackURL")


@pytest.mark.parametrize("field_name", ["ResultURL", "QueueTimeOutURL"])
@pytest.mark.parametrize("api", ["b2c", "status", "balance", "reversal"])
@pytest.mark.parametrize("url", ["https://mydomain.com/path", "https://example.org/result"])
async def test_result_and_timeout_urls_must_be_real_urls(
    sim: Sim, api: str, field_name: str, url: str
) -> None:
    path, body = {
        "b2c": (B2C, sim.b2c("payout-1")),
        "status": (STATUS, sim.status(TransactionID="UKK2M8P4RS")),
        "balance": (BALANCE, sim.balance()),
        "reversal": (REVERSAL, sim.reversal("UKK2M8P4RS")),
    }[api]
    body[field_name] = url

    response = await sim.post(path, body)

    assert error(response) == (400, "400.002.02", f"Bad Request - Invalid {field_name}")


async def test_a_real_public_url_is_accepted(sim: Sim) -> None:
    await sim.faults(drop_callbacks=True)  # nothing may leave this machine

    response = await sim.post(
        STK_PUSH, sim.stk(CallBackURL="https://pay.householdplanet.co.ke/hooks/k3y/stk")
    )

    assert response.status_code == 200


BAD_MSISDNS = [
    "+254708374149",
    "0708374149",
    "708374149",
    "254 708 374 149",
    " 254708374149",
    "2547083741490",
    "25470837414",
    "254808374149",
    254708374149.0,
]


@pytest.mark.parametrize("msisdn", BAD_MSISDNS, ids=str)
async def test_stk_phone_forms_daraja_refuses(sim: Sim, msisdn: Any) -> None:
    response = await sim.post(STK_PUSH, sim.stk(PhoneNumber=msisdn, PartyA=msisdn))

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid PartyA")


@pytest.mark.parametrize("msisdn", BAD_MSISDNS, ids=str)
async def test_b2c_and_c2b_phone_forms_daraja_refuses(sim: Sim, msisdn: Any) -> None:
    b2c = await sim.post(B2C, sim.b2c("payout-1", PartyB=msisdn))
    c2b = await sim.post(
        "/mpesa/c2b/v2/simulate",
        {
            "ShortCode": "600984",
            "CommandID": "CustomerPayBillOnline",
            "Amount": 10,
            "Msisdn": msisdn,
            "BillRefNumber": "HP1",
        },
    )

    assert error(b2c) == (400, "400.002.02", "Bad Request - Invalid PartyB")
    assert error(c2b) == (400, "400.002.02", "Bad Request - Invalid Msisdn")


@pytest.mark.parametrize("msisdn", [254708374149, "254110000001"], ids=["number", "2541"])
async def test_stk_phone_forms_daraja_accepts(sim: Sim, msisdn: Any) -> None:
    response = await sim.post(STK_PUSH, sim.stk(PhoneNumber=msisdn, PartyA=msisdn))

    assert response.status_code == 200


@pytest.mark.parametrize("word", ["mpesa", "M-PESA", "safaricom", "exe", "exec", "cmd", "sql"])
async def test_c2b_urls_with_a_word_daraja_refuses(sim: Sim, word: str) -> None:
    body = {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": sim.receiver.url(f"/{word}/confirm"),
        "ValidationURL": sim.receiver.url("/hooks/validate"),
    }

    response = await sim.post("/mpesa/c2b/v2/registerurl", body)

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid ConfirmationURL")


async def test_c2b_validation_url_with_query_is_refused(sim: Sim) -> None:
    body = {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": sim.receiver.url("/hooks/confirm"),
        "ValidationURL": sim.receiver.url("/hooks/validate?QUERY=1"),
    }

    response = await sim.post("/mpesa/c2b/v1/registerurl", body)

    assert error(response) == (400, "400.002.02", "Bad Request - Invalid ValidationURL")


async def test_a_second_push_while_a_prompt_is_open_cannot_lock_the_subscriber(sim: Sim) -> None:
    await sim.post(STK_PUSH, sim.stk("254722000000"))  # never answered

    second = await sim.post(STK_PUSH, sim.stk("254722000000", Amount=99))

    assert second.json() == {
        "requestId": second.json()["requestId"],
        "errorCode": "500.001.1001",
        "errorMessage": "Unable to lock subscriber, a transaction is already in process for "
        "the current subscriber",
    }
    assert second.status_code == 500
    assert len((await sim.state())["prompts"]) == 1


async def test_rule_limited_is_off_unless_asked_for(sim: Sim) -> None:
    await sim.paid_stk()

    again = await sim.paid_stk()

    assert again["Body"]["stkCallback"]["ResultCode"] == 0


async def test_rule_limited_same_amount_same_phone_within_the_window(
    make_sim: MakeSim, clock: Clock
) -> None:
    sim = await make_sim(rule_limited_window_s=120)
    await sim.paid_stk()

    clock.advance(60)
    limited = await sim.post(STK_PUSH, sim.stk(ts=daraja_timestamp(clock.now)))
    callback = (await sim.receiver.next("/stk"))["Body"]["stkCallback"]
    other_amount = await sim.post(STK_PUSH, sim.stk(ts=daraja_timestamp(clock.now), Amount=151))
    paid_other = (await sim.receiver.next("/stk"))["Body"]["stkCallback"]
    # the window counts from the latest push of that amount, the limited one included
    clock.advance(121)
    later = await sim.post(STK_PUSH, sim.stk(ts=daraja_timestamp(clock.now)))
    paid_later = (await sim.receiver.next("/stk"))["Body"]["stkCallback"]

    assert limited.status_code == 200  # accepted, then refused asynchronously
    assert (callback["ResultCode"], callback["ResultDesc"]) == (17, "Rule limited.")
    assert "CallbackMetadata" not in callback
    assert (other_amount.status_code, paid_other["ResultCode"]) == (200, 0)
    assert (later.status_code, paid_later["ResultCode"]) == (200, 0)
    assert (await sim.state())["balances"]["utility"] == 100_000 + 150 + 151 + 150


# 6. shapes: Daraja's envelope everywhere, masked phones


@pytest.mark.parametrize(
    ("method", "path", "token", "expected"),
    [
        ("GET", "/nowhere", False, (404, "404.001.01", "Resource not found")),
        (
            "POST",
            "/mpesa/stkpush/v9/processrequest",
            False,
            (404, "404.001.01", "Resource not found"),
        ),
        ("POST", "/mpesa/b2c/v9/paymentrequest", True, (404, "404.001.01", "Resource not found")),
        ("GET", STK_PUSH, True, (405, "405.001", "Method Not Allowed")),
        ("POST", "/oauth/v1/generate", False, (405, "405.001", "Method Not Allowed")),
    ],
)
async def test_unknown_paths_and_methods_answer_in_daraja_s_envelope(
    sim: Sim, method: str, path: str, token: bool, expected: tuple[int, str, str]
) -> None:
    headers = {"Authorization": f"Bearer {sim.token}"} if token else {}

    response = await sim.http.request(method, path, headers=headers)

    assert response.headers["Content-Type"].startswith("application/json")
    assert error(response) == expected
    assert sorted(response.json()) == ["errorCode", "errorMessage", "requestId"]
    assert response.json()["requestId"]


async def test_control_endpoint_refusals_use_the_same_envelope(sim: Sim) -> None:
    response = await sim.faults(nonsense=1)

    assert error(response) == (400, "400.002.02", "Bad Request - unknown fault 'nonsense'")


@pytest.mark.parametrize(
    ("form", "shown"),
    [("plain", 254708374149), ("masked", "2547*****149"), ("absent", None)],
)
async def test_stk_callback_phone_can_be_masked_or_absent(
    make_sim: MakeSim, form: str, shown: Any
) -> None:
    sim = await make_sim(callback_phone=form)

    items = items_of(await sim.paid_stk())

    assert items.get("PhoneNumber") == shown
    assert ("PhoneNumber" in items) == (form != "absent")


@pytest.mark.parametrize(
    ("form", "name"),
    [
        ("plain", "254708374149 - John Doe"),
        ("masked", "2547*****149 - John Doe"),
        ("absent", "John Doe"),
    ],
)
async def test_result_party_names_follow_the_phone_form(
    make_sim: MakeSim, form: str, name: str
) -> None:
    sim = await make_sim(callback_phone=form)
    receipt = receipt_of(await sim.paid_stk())

    await sim.post(B2C, sim.b2c("payout-1"))
    payout = params(await sim.receiver.next("/b2c/result"))
    await sim.post(STATUS, sim.status(TransactionID=receipt))
    status = params(await sim.receiver.next("/status/result"))
    await sim.post(REVERSAL, sim.reversal(receipt))
    reversal = params(await sim.receiver.next("/reversal/result"))

    assert payout["ReceiverPartyPublicName"] == name
    assert status["DebitPartyName"] == name
    assert reversal["CreditPartyPublicName"] == name


# 7. the command line: both commands, the same options


def _parse(parser: Any, argv: list[str]) -> Any:
    return parser.parse_args(argv)


ARGV = [
    "--port",
    "9999",
    "--callback-delay",
    "0.5",
    "--query-pending",
    "7",
    "--level",
    "lenient",
    "--timestamp-skew",
    "off",
    "--mask-phones",
    "--rule-limited",
    "--initiator-password",
    "Shop#2026",
]


def test_both_command_lines_take_the_same_options_to_the_same_config() -> None:
    module_args = _parse(module_parser(), ARGV)
    bot_args = bot_parser().parse_args(["simulator", *ARGV])
    module_config, bot_config = config_from_args(module_args), config_from_args(bot_args)

    for config in (module_config, bot_config):
        assert (
            config.callback_delay_s,
            config.query_pending_s,
            config.level,
            config.timestamp_skew_s,
            config.callback_phone,
            config.rule_limited_window_s,
            config.initiator_password,
        ) == (0.5, 7.0, "lenient", None, "masked", 120.0, "Shop#2026")
    module_options = {a.dest for a in module_parser()._actions}
    bot_options = {
        a.dest
        for a in bot_parser()._subparsers._group_actions[0].choices["simulator"]._actions  # type: ignore[union-attr]
    }
    # `mpesa-bot simulator` also serves the Airtel simulator: --provider and its own options
    airtel = {"provider", *airtel_simulator_cli.AIRTEL_ONLY}
    assert (module_options, airtel <= bot_options) == (bot_options - airtel, True)


def test_defaults_are_strict_with_a_ten_minute_skew() -> None:
    config = config_from_args(_parse(module_parser(), []))

    assert (config.level, config.timestamp_skew_s, config.callback_phone) == (
        "strict",
        600.0,
        "plain",
    )
    assert config.rule_limited_window_s == 0


@pytest.mark.parametrize(
    "argv",
    [["--level", "loose"], ["--timestamp-skew", "-1"], ["--query-pending", "soon"]],
)
def test_bad_option_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        _parse(module_parser(), argv)

    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_help_lists_the_credentials_it_accepts(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bot_parser().parse_args(["simulator", "--help"])

    out = capsys.readouterr().out
    for needle in (
        "simulator-key / simulator-secret",
        "174379 and 247247",
        SANDBOX_PASSKEY,
        "testapi",
        SANDBOX_INITIATOR_PASSWORD,
        "GET /simulator/certificate",
        "--cert-out PATH",
        "--level {strict,lenient}",
        "--mask-phones",
        "--initiator-password PASSWORD",
        "--query-pending SECONDS",
    ):
        assert needle in out


def test_mpesa_bot_simulator_writes_its_certificate_and_keeps_its_key(tmp_path: Path) -> None:
    port = free_port()
    cert_out, key = tmp_path / "certs" / "sim.pem", tmp_path / "sim-key.pem"
    command = [sys.executable, "-m", "bot", "simulator", "--port", str(port)]
    command += ["--cert-out", str(cert_out), "--key", str(key), "--level", "lenient"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    try:
        lines = [proc.stdout.readline().decode() for _ in range(4)]  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while True:
            try:
                served = httpx.get(f"http://127.0.0.1:{port}/simulator/certificate")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert "level=lenient" in lines[1]
    assert f"certificate written to {cert_out}" in lines[3]
    assert cert_out.read_bytes() == served.content
    assert load_or_create_keys(key).certificate_pem == served.content


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "http://127.0.0.1:8080/hooks/k3y-0123456789abcdef/stk",
            "http://127.0.0.1:8080/hooks/***/stk",
        ),
        ("https://pay.shop.co.ke/hooks/stk?token=abc", "https://pay.shop.co.ke/hooks/stk"),
        ("https://pay.shop.co.ke/b2c/result", "https://pay.shop.co.ke/b2c/result"),
    ],
)
def test_the_simulator_logs_callback_urls_without_their_secret(url: str, shown: str) -> None:
    assert shown_url(url) == shown
