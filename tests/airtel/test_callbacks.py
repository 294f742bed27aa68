"""Collection callbacks: tolerant parsing, and the hash verified (or a forgery detected)."""

from __future__ import annotations

import json

import pytest

from airtel.callbacks import parse_collection_callback
from airtel.callbacks import sign_callback
from airtel.codes import TransactionStatus
from airtel.errors import CallbackParseError
from airtel.security import HashInput
from airtel.security import callback_hash
from tests.helpers.airtel import FIXTURES
from tests.helpers.airtel import fixture

KEY = "example-callback-key"


def test_success_callback_is_read():
    callback = parse_collection_callback(
        (FIXTURES / "collection_callback_success.json").read_bytes()
    )

    assert (callback.transaction_id, callback.status, callback.airtel_money_id) == (
        "COL000042A",
        TransactionStatus.SUCCESS,
        "MP250301.1030.K00042",
    )
    assert (callback.succeeded, callback.verified, callback.hash) == (True, None, None)


def test_failed_callback_has_no_receipt():
    callback = parse_collection_callback(fixture("collection_callback_failed.json"))

    assert (callback.status, callback.airtel_money_id, callback.succeeded) == (
        TransactionStatus.FAILED,
        None,
        False,
    )
    assert callback.message == "Transaction failed: insufficient balance."


def test_sample_hash_is_verified_over_the_transaction_json():
    raw = (FIXTURES / "collection_callback_with_hash.json").read_bytes()

    callback = parse_collection_callback(raw, hash_key=KEY)

    assert (callback.verified, callback.matched_input) == (True, HashInput.TRANSACTION_JSON)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b: b["transaction"].update(status_code="TS", id="COL000099Z"), id="id"),
        pytest.param(lambda b: b["transaction"].update(airtel_money_id="MP0000"), id="receipt"),
        pytest.param(
            lambda b: b.update(hash="l+6OdZkaaXRr1RBaRFyfkRqZbb6dRC0Zzt7+Qb7Bttx="), id="hash"
        ),
        pytest.param(lambda b: b.pop("hash"), id="no-hash"),
    ],
)
def test_forged_callback_is_detected(tamper):
    body = fixture("collection_callback_with_hash.json")
    tamper(body)

    callback = parse_collection_callback(json.dumps(body), hash_key=KEY)

    assert callback.verified is False


def test_a_wrong_key_does_not_verify():
    callback = parse_collection_callback(
        fixture("collection_callback_with_hash.json"), hash_key="another-key"
    )

    assert callback.verified is False


def test_raw_body_hash_in_a_header_is_verified():
    raw = (FIXTURES / "collection_callback_success.json").read_bytes()

    callback = parse_collection_callback(raw, hash_key=KEY, header_hash=callback_hash(KEY, raw))

    assert (callback.verified, callback.matched_input) == (True, HashInput.RAW_BODY)


def test_hash_over_the_body_without_its_hash_field_is_verified():
    body = fixture("collection_callback_success.json")
    body["hash"] = sign_callback(body, KEY, which=HashInput.BODY_WITHOUT_HASH)

    callback = parse_collection_callback(json.dumps(body), hash_key=KEY)

    assert (callback.verified, callback.matched_input) == (True, HashInput.BODY_WITHOUT_HASH)


def test_hash_candidates_are_a_parameter():
    raw = (FIXTURES / "collection_callback_with_hash.json").read_bytes()

    callback = parse_collection_callback(raw, hash_key=KEY, hash_inputs=[HashInput.RAW_BODY])

    assert callback.verified is False


def test_unknown_fields_loose_keys_and_an_older_dp_code_are_tolerated():
    body = {
        "transaction": {
            "ID": "COL000042A",
            "Status Code": "ts",
            "airtel_money_id": "MP250301.1030.K00042",
            "code": "DP00800001001",
            "amount": 150,
        },
        "extra": {"anything": True},
    }

    callback = parse_collection_callback(body)

    assert (callback.transaction_id, callback.status, callback.code) == (
        "COL000042A",
        TransactionStatus.SUCCESS,
        "DP00800001001",
    )


def test_an_unrecognised_status_is_kept_and_not_success():
    callback = parse_collection_callback({"transaction": {"id": "COL1", "status_code": "PAID"}})

    assert (callback.status, callback.status_code, callback.succeeded) == (None, "PAID", False)


def test_a_flat_body_is_read():
    callback = parse_collection_callback({"id": "COL1", "status_code": "TF", "message": "x"})

    assert (callback.transaction_id, callback.status) == ("COL1", TransactionStatus.FAILED)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"status": "TS"}', "no transaction object"),
        (b'{"transaction": {"status_code": "TS"}}', "no transaction.id"),
        (b'{"transaction": {"id": "", "status_code": "TS"}}', "no transaction.id"),
    ],
)
def test_broken_callbacks_name_what_is_missing(body, message):
    with pytest.raises(CallbackParseError, match=message):
        parse_collection_callback(body)
