"""SMS through Africa's Talking (HTTP mocked with `responses`) and the log-only sender."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from urllib.parse import parse_qs

import pytest
import requests
import responses
from aiohttp import web

from bot.notify.channels import PermanentDeliveryError
from bot.notify.channels import RecordingChatChannel
from bot.notify.notifier import Notifier
from bot.notify.outbox import CLAIM_S
from bot.notify.outbox import OutboxWorker
from bot.notify.sms import CONNECT_TIMEOUT_S
from bot.notify.sms import DEADLINE_S
from bot.notify.sms import READ_TIMEOUT_S
from bot.notify.sms import THREADS
from bot.notify.sms import AfricasTalkingSms
from bot.notify.sms import LogOnlySms
from bot.notify.sms import SmsDeliveryError
from bot.notify.sms import build_sms_channel
from models import Notification
from models import NotificationChannel
from models import NotificationStatus

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


# -- bounded calls: a hung Africa's Talking never outlives the claim, never sends twice ---------


class SlowProvider:
    """Africa's Talking on loopback that takes the request and then hangs or trickles forever."""

    def __init__(self, *, trickle: bool) -> None:
        self.trickle = trickle
        self.requests = 0
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/version1/messaging", self.messaging)
        return app

    async def messaging(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.arrived.set()
        if not self.trickle:
            await self.release.wait()  # no answer at all: the read time-out ends it
            return web.json_response(at_answer("Success", 101), status=201)
        response = web.StreamResponse(status=201, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        # a byte now and then: every read succeeds, so only the call's deadline ends it
        while not self.release.is_set():
            await response.write(b" ")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 0.05)
        return response


async def finish(slow: SlowProvider, channel: AfricasTalkingSms) -> None:
    """Let the provider answer, then wait for the SMS thread still reading it (off the loop)."""
    slow.release.set()
    await asyncio.to_thread(channel.close, wait=True)


@pytest.fixture
async def slow(aiohttp_server, request):
    provider = SlowProvider(trickle=request.param == "trickle")
    server = await aiohttp_server(provider.app())
    provider.url = str(server.make_url("")).rstrip("/")
    yield provider
    provider.release.set()  # lets a lingering SMS thread finish before the loop closes


@pytest.mark.parametrize(
    ("slow", "why"),
    [
        ("hang", "no answer from Africa's Talking (ReadTimeout)"),
        ("trickle", "Africa's Talking did not answer within 0.5 s"),
    ],
    indirect=["slow"],
)
async def test_a_hung_call_ends_in_time_and_is_never_sent_again(slow, why) -> None:
    channel = AfricasTalkingSms(
        "sandbox", "k", base_url=slow.url, read_timeout_s=0.2, deadline_s=0.5
    )

    with pytest.raises(PermanentDeliveryError) as refused:
        await channel.deliver(sms())

    assert str(refused.value) == f"{why}; the SMS may have been sent, so it is not sent again"
    assert slow.requests == 1
    await finish(slow, channel)


async def test_a_refused_connection_sent_nothing_and_is_retried_later() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens here once the socket closes
    channel = AfricasTalkingSms("sandbox", "k", base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(SmsDeliveryError, match=r"could not be reached.*nothing was sent"):
        await channel.deliver(sms())
    channel.close(wait=True)


@responses.activate
@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (requests.ConnectTimeout("connect timed out"), SmsDeliveryError),
        (requests.ReadTimeout("read timed out"), PermanentDeliveryError),
        (requests.exceptions.ChunkedEncodingError("reset mid-answer"), PermanentDeliveryError),
    ],
)
async def test_only_a_request_that_never_left_is_retried(error, raised) -> None:
    responses.post(SANDBOX_URL, body=error)

    with pytest.raises(raised):
        await AfricasTalkingSms("sandbox", "k").deliver(sms())


async def test_a_call_that_found_no_free_thread_never_runs_later() -> None:
    channel = AfricasTalkingSms("sandbox", "k", deadline_s=0.2)
    busy = threading.Event()
    for _ in range(THREADS):
        channel._threads.submit(busy.wait)  # every SMS thread taken by a hung call
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SANDBOX_URL, json=at_answer("Success", 101), status=201)

        with pytest.raises(SmsDeliveryError, match="no SMS thread was free"):
            await channel.deliver(sms())
        busy.set()
        channel._threads.shutdown(wait=True)

        assert len(mock.calls) == 0  # cancelled before it started: it can be retried safely


def test_the_whole_call_ends_well_inside_the_outbox_claim() -> None:
    assert CONNECT_TIMEOUT_S + READ_TIMEOUT_S < DEADLINE_S < CLAIM_S / 2


@pytest.mark.parametrize("slow", ["trickle"], indirect=True)
async def test_a_hung_sms_neither_blocks_chat_nor_goes_out_twice(db, slow, clock) -> None:
    chat = RecordingChatChannel()
    sms_channel = AfricasTalkingSms("sandbox", "k", base_url=slow.url, deadline_s=2.0)
    outbox = OutboxWorker(
        {NotificationChannel.SMS: sms_channel, NotificationChannel.CHAT: chat},
        clock=clock,
        concurrency=1,
    )
    notifier = Notifier(business_name="Household Planet Kenya")
    await notifier.enqueue(
        event_key="payment:1:paid:sms",
        channel=NotificationChannel.SMS,
        recipient="254708374149",
        payload={"text": TEXT},
    )
    await notifier.enqueue(
        event_key="payment:1:paid:chat:42",
        channel=NotificationChannel.CHAT,
        recipient=42,
        payload={"event": "payment", "payment_id": 1},
    )

    sms_run = asyncio.ensure_future(outbox.run_once(channels=[NotificationChannel.SMS]))
    await slow.arrived.wait()
    chat_sent = await outbox.run_once(channels=[NotificationChannel.CHAT])
    chat_done_while_sms_hung = not sms_run.done()
    assert await sms_run == 0
    clock.advance(CLAIM_S * 2)
    again = await outbox.run_once()

    row = await Notification.get(channel=NotificationChannel.SMS)
    assert (chat_sent, chat_done_while_sms_hung, len(chat.delivered)) == (1, True, 1)
    assert (row.status, again, slow.requests) == (NotificationStatus.FAILED, 0, 1)
    assert "may have been sent" in row.last_error
    await finish(slow, sms_channel)
