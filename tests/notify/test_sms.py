"""SMS through Africa's Talking (HTTP mocked with `responses`) and the log-only sender."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import pytest
import responses

from bot.notify.channels import PermanentDeliveryError
from bot.notify.sms import AfricasTalkingSms, LogOnlySms, SmsDeliveryError, build_sms_channel
from models import Notification, NotificationChannel

SANDBOX_URL = "https://api.sandbox.africastalking.com/version1/messaging"
PRODUCTION_URL = "https://api.africastalking.com/version1/messaging"
TEXT = "Household Planet Kenya: we received KES 150 for order HP7K2Q9X. M-Pesa receipt UKK4Q7M2XB."


def sms(msisdn: str = "254708374149", text: str = TEXT) -> Notification:
    return Notification(
        event_key="payment:1:paid:sms",
        channel=NotificationChannel.SMS,
        recipient=msisdn,
        payload={"text": text},
    )


def at_answer(status: str, code: int, number: str = "+254708374149") -> dict:
    return {
        "SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: KES 0.8000",
            "Recipients": [
                {
                    "statusCode": code,
                    "number": number,
                    "status": status,
                    "cost": "KES 0.8000",
                    "messageId": "ATXid_1",
                }
            ],
        }
    }


@responses.activate
async def test_sandbox_sends_to_the_sandbox_host_with_our_fields() -> None:
    responses.post(SANDBOX_URL, json=at_answer("Success", 101), status=201)
    channel = AfricasTalkingSms("sandbox", "at-key", "HPLANET")

    await channel.deliver(sms())

    assert len(responses.calls) == 1
    request = responses.calls[0].request
    form = {k: v[0] for k, v in parse_qs(request.body).items()}
    assert form == {
        "username": "sandbox",
        "to": "+254708374149",
        "message": TEXT,
        "from": "HPLANET",
        "bulkSMSMode": "1",
    }
    assert request.headers["apiKey"] == "at-key"


@responses.activate
async def test_production_username_uses_the_production_host_without_sender_id() -> None:
    responses.post(PRODUCTION_URL, json=at_answer("Success", 100), status=201)

    await AfricasTalkingSms("householdplanet", "at-key").deliver(sms())

    form = parse_qs(responses.calls[0].request.body)
    assert "from" not in form
    assert form["username"] == ["householdplanet"]


@responses.activate
async def test_base_url_override_is_used() -> None:
    responses.post("http://127.0.0.1:9/version1/messaging", json=at_answer("Queued", 102))

    await AfricasTalkingSms("sandbox", "k", base_url="http://127.0.0.1:9/").deliver(sms())

    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [("InvalidPhoneNumber", 403), ("UserInBlacklist", 406), ("InvalidSenderId", 402)],
)
@responses.activate
async def test_permanent_refusals_are_not_retried(status, code) -> None:
    responses.post(SANDBOX_URL, json=at_answer(status, code), status=201)

    with pytest.raises(PermanentDeliveryError, match=status):
        await AfricasTalkingSms("sandbox", "k").deliver(sms())


@pytest.mark.parametrize(
    ("answer", "http_status"),
    [
        (at_answer("InternalServerError", 500), 201),
        (at_answer("DoNotDisturbRejection", 409), 201),
        ({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}, 201),
        ({"unexpected": True}, 201),
        ({"error": "bad gateway"}, 502),
    ],
)
@responses.activate
async def test_other_failures_are_retried(answer, http_status) -> None:
    responses.post(SANDBOX_URL, json=answer, status=http_status)

    with pytest.raises(SmsDeliveryError):
        await AfricasTalkingSms("sandbox", "k").deliver(sms())


@responses.activate
async def test_text_answer_with_charset_is_still_read(caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.notify.sms")
    # the SDK hands back a str, not a dict, when the content type carries a charset
    responses.post(
        SANDBOX_URL,
        body='{"SMSMessageData": {"Recipients": [{"statusCode": 101, "status": "Success"}]}}',
        content_type="application/json; charset=utf-8",
        status=201,
    )
    responses.post(
        SANDBOX_URL,
        body=json.dumps(at_answer("InvalidPhoneNumber", 403)),
        content_type="application/json; charset=utf-8",
        status=201,
    )
    channel = AfricasTalkingSms("sandbox", "k")

    await channel.deliver(sms())
    with pytest.raises(PermanentDeliveryError, match="InvalidPhoneNumber"):
        await channel.deliver(sms())

    assert [r.getMessage() for r in caplog.records if "sms.sent" in r.getMessage()] == [
        f"sms.sent to=2547****149 chars={len(TEXT)}"
    ]


async def test_malformed_number_is_permanent_without_a_request() -> None:
    with responses.RequestsMock() as mock, pytest.raises(PermanentDeliveryError):
        await AfricasTalkingSms("sandbox", "k").deliver(sms(msisdn="07 08"))
    assert len(mock.calls) == 0


async def test_log_only_sender_says_so_and_masks_the_number(caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.notify.sms")

    channel = LogOnlySms()
    await channel.deliver(sms())

    assert "sms.disabled" in caplog.text
    assert "2547****149" in caplog.text
    assert "254708374149" not in caplog.text
    assert TEXT not in caplog.text


def test_build_picks_log_only_without_credentials(settings) -> None:
    assert isinstance(build_sms_channel(settings), LogOnlySms)


def test_build_picks_africas_talking_with_credentials(settings) -> None:
    configured = settings.model_copy(
        update={"at_username": "sandbox", "at_api_key": settings.mpesa_consumer_key}
    )

    assert isinstance(build_sms_channel(configured), AfricasTalkingSms)
