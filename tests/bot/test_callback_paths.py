"""Callback URLs: the ones registered with Daraja, free of words Safaricom refuses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bot.callback_paths import DARAJA_KINDS
from bot.callback_paths import airtel_callback_url
from bot.callback_paths import callback_path
from bot.callback_paths import callback_urls
from bot.config import FORBIDDEN_URL_WORDS
from models import CallbackKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "daraja"
BASE = "https://pay.example.co.ke"
SECRET = "7f3c9a2e41d86b0c"


def fixture_url(name: str, field: str) -> str:
    return json.loads((FIXTURES / name).read_text())[field]


def test_urls_match_the_registered_ones_in_the_samples() -> None:
    urls = callback_urls(BASE + "/", SECRET)

    assert urls.stk == fixture_url("stk_push_request.json", "CallBackURL")
    assert urls.b2c_result == fixture_url("b2c_request.json", "ResultURL")
    assert urls.b2c_timeout == fixture_url("b2c_request.json", "QueueTimeOutURL")
    assert urls.status_result == fixture_url("transaction_status_request.json", "ResultURL")
    assert urls.status_timeout == fixture_url("transaction_status_request.json", "QueueTimeOutURL")
    assert urls.balance_result == fixture_url("account_balance_request.json", "ResultURL")
    assert urls.balance_timeout == fixture_url("account_balance_request.json", "QueueTimeOutURL")
    assert urls.reversal_result == fixture_url("reversal_request.json", "ResultURL")
    assert urls.reversal_timeout == fixture_url("reversal_request.json", "QueueTimeOutURL")
    assert urls.c2b_confirmation == fixture_url("c2b_register_request.json", "ConfirmationURL")
    assert urls.c2b_validation == fixture_url("c2b_register_request.json", "ValidationURL")


def test_no_url_contains_a_word_safaricom_refuses() -> None:
    urls = dataclasses.astuple(callback_urls(BASE, SECRET))

    assert len(set(urls)) == len(DARAJA_KINDS)
    for url in urls:
        assert not [word for word in FORBIDDEN_URL_WORDS if word in url.lower()], url


@pytest.mark.parametrize("secret", ["abcMPESAdefghijk", "xxSafaricomxxxxx", "a-cmd-bbbbbbbbbbbb"])
def test_a_secret_with_a_refused_word_is_refused(secret) -> None:
    with pytest.raises(ValueError, match="choose another CALLBACK_SECRET"):
        callback_path(secret, CallbackKind.STK)


def test_a_base_url_with_a_refused_word_is_refused() -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        callback_urls("https://mpesa.example.co.ke", SECRET)


def test_the_airtel_callback_urls_sit_under_the_secret_path() -> None:
    collection = airtel_callback_url(BASE + "/", SECRET)
    disbursement = airtel_callback_url(BASE, SECRET, CallbackKind.AIRTEL_DISBURSEMENT)

    assert collection == f"{BASE}/hooks/{SECRET}/airtel/collection"
    assert disbursement == f"{BASE}/hooks/{SECRET}/airtel/disbursement"
    with pytest.raises(ValueError, match="not an Airtel callback"):
        airtel_callback_url(BASE, SECRET, CallbackKind.STK)
