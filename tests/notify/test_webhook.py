"""The WEBHOOK channel: signatures, what counts as delivered, retries through the outbox."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.notify.channels import PermanentDeliveryError
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.notify.webhook import EVENT_ID_HEADER
from bot.notify.webhook import SIGNATURE_HEADER
from bot.notify.webhook import TIMESTAMP_HEADER
from bot.notify.webhook import WebhookChannel
from bot.notify.webhook import WebhookDeliveryError
from bot.notify.webhook import event_body
from bot.notify.webhook import sign
from bot.notify.webhook import verify_signature
from bot.notify.webhook import webhook_channel
from models import Notification
from models import NotificationChannel
from models import NotificationStatus
from models import Order
from models import Payment
from models import PaymentStatus
from tests.web.api.webhook_receiver import ShopReceiver

SECRET = "whsec_test_0123456789abcdef"
NOW = 1_800_000_000


@pytest.fixture
async def shop(aiohttp_server):
    receiver = ShopReceiver()
    server = await aiohttp_server(receiver.app())
    receiver.url = str(server.make_url(receiver.path))
    return receiver


def test_a_signature_verifies_with_the_same_secret_body_and_time() -> None:
    body = b'{"id":"evt_1","type":"order.paid"}'
    header = sign(SECRET, NOW, body)

    assert header.startswith("v1=")
    assert verify_signature(SECRET, str(NOW), body, header, now=NOW + 10) is True


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("another-secret", str(NOW), b'{"id":"evt_1"}', NOW),  # wrong secret
        (SECRET, str(NOW), b'{"id":"evt_2"}', NOW),  # body changed
        (SECRET, str(NOW + 1), b'{"id":"evt_1"}', NOW),  # timestamp changed
        (SECRET, str(NOW), b'{"id":"evt_1"}', NOW + 301),  # replayed after the tolerance
        (SECRET, "not-a-number", b'{"id":"evt_1"}', NOW),
    ],
)
def test_a_signature_fails_when_anything_differs(secret, timestamp, body, now) -> None:
    header = sign(SECRET, NOW, b'{"id":"evt_1"}')

    assert verify_signature(secret, timestamp, body, header, now=now) is False


def test_any_of_several_signatures_may_match_during_a_secret_rotation() -> None:
    body = b"{}"
    header = f"{sign('old-secret', NOW, body)}, {sign(SECRET, NOW, body)}"

    assert verify_signature(SECRET, str(NOW), body, header, now=NOW) is True


def test_the_channel_exists_only_when_a_webhook_url_is_set(settings) -> None:
    assert webhook_channel(settings) is None
    configured = settings.model_copy(
        update={
            "shop_webhook_url": "https://shop.example/hooks",
            "shop_webhook_secret": SecretStr(SECRET),
        }
    )
    assert isinstance(webhook_channel(configured), WebhookChannel)


async def queued_event(notifier: Notifier) -> Notification:
    await notifier.webhook_event("order:7:paid", "order.paid", {"orderId": "HPABCD2345"})
    return await Notification.get(channel=NotificationChannel.WEBHOOK)


async def test_an_event_is_posted_signed_with_a_stable_id(db, shop) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url=shop.url)
    row = await queued_event(notifier)
    channel = WebhookChannel(SECRET, clock=lambda: NOW)

    await channel.deliver(row)
    await channel.deliver(row)  # a retry after a lost acknowledgement

    first, second = shop.deliveries
    event = first.event
    assert event["id"] == row.payload["id"]
    assert event["id"].startswith("evt_")
    assert (event["type"], event["data"]) == ("order.paid", {"orderId": "HPABCD2345"})
    assert first.headers[EVENT_ID_HEADER] == event["id"]
    assert first.headers[TIMESTAMP_HEADER] == str(NOW)
    assert (second.body, second.headers[EVENT_ID_HEADER]) == (first.body, event["id"])
    timestamp, signature = first.headers[TIMESTAMP_HEADER], first.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, timestamp, first.body, signature, now=NOW)


async def test_the_event_body_is_the_exact_json_signed(db) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url="https://shop.test/h")
    row = await queued_event(notifier)

    event_id, body = event_body(row)

    assert json.loads(body) == {
        "id": event_id,
        "type": "order.paid",
        "createdAt": row.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "data": {"orderId": "HPABCD2345"},
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, WebhookDeliveryError),
        (503, WebhookDeliveryError),
        (429, WebhookDeliveryError),
        (400, WebhookDeliveryError),
        (301, WebhookDeliveryError),
        (410, PermanentDeliveryError),
    ],
)
async def test_only_a_2xx_answer_counts_as_delivered(db, shop, status, error) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url=shop.url)
    row = await queued_event(notifier)
    shop.fail_next(status)

    with pytest.raises(error):
        await WebhookChannel(SECRET).deliver(row)


async def test_an_unreachable_shop_is_retried_later(db) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url="http://127.0.0.1:9/h")
    row = await queued_event(notifier)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(WebhookDeliveryError):
        await WebhookChannel(SECRET, transport=httpx.MockTransport(refuse)).deliver(row)


async def test_the_outbox_retries_a_failed_webhook_with_backoff_and_the_same_id(
    db, shop, clock
) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url=shop.url, clock=clock)
    await notifier.webhook_event("order:7:paid", "order.paid", {"orderId": "HPABCD2345"})
    outbox = OutboxWorker(
        {NotificationChannel.WEBHOOK: WebhookChannel(SECRET)}, clock=clock, jitter=lambda: 0.0
    )
    shop.fail_next(500, 502)

    assert await outbox.run_once() == 0
    row = await Notification.get(channel=NotificationChannel.WEBHOOK)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.next_attempt_at == clock.now + timedelta(seconds=5)
    clock.advance(4)
    assert await outbox.run_once() == 0  # not due yet: nothing is sent
    clock.advance(1)
    assert await outbox.run_once() == 0
    row = await Notification.get(id=row.id)
    assert (row.attempts, row.next_attempt_at) == (2, clock.now + timedelta(seconds=10))
    clock.advance(10)
    assert await outbox.run_once() == 1

    row = await Notification.get(id=row.id)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 3)
    ids = {d.headers[EVENT_ID_HEADER] for d in shop.deliveries}
    assert (len(shop.deliveries), ids) == (3, {row.payload["id"]})


async def test_an_order_payment_that_fails_is_told_to_the_shop(db) -> None:
    notifier = Notifier(business_name="Household Planet Kenya", webhook_url="https://shop.test/h")
    order = await Order.create(code="HPABCD2345", amount=1500, reference="SHOP-1")
    payment = await Payment.create(
        order=order,
        msisdn="254708374149",
        amount=1500,
        account_reference=order.code,
        status=PaymentStatus.CANCELLED,
        result_code="1032",
        result_desc="Request cancelled by user",
    )
    loose = await Payment.create(
        msisdn="254708374149", amount=10, account_reference="X", status=PaymentStatus.CANCELLED
    )

    await notifier.payment_changed(payment)
    await notifier.payment_changed(payment)  # reported twice: told once
    await notifier.payment_changed(loose)  # no order: no shop to tell

    rows = await Notification.filter(channel=NotificationChannel.WEBHOOK)
    assert [(r.event_key, r.payload["type"]) for r in rows] == [
        (f"payment:{payment.id}:cancelled:webhook", "payment.failed")
    ]
    assert rows[0].payload["data"] == {
        "orderId": "HPABCD2345",
        "reference": "SHOP-1",
        "paymentId": payment.id,
        "paymentMethod": "MPESA",
        "status": "cancelled",
        "amount": 1500,
        "attempt": 1,
        "resultCode": "1032",
        "resultDesc": "Request cancelled by user",
    }


def documented_verifier():
    """The verify_signature snippet of docs/api.md's webhook section, executed as shops would."""
    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = doc.split("## Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_signature"]


def test_the_documented_snippet_verifies_what_the_channel_signs() -> None:
    verify = documented_verifier()
    body = b'{"id":"evt_1","type":"order.paid"}'
    now = int(time.time())
    header = sign(SECRET, now, body)

    assert verify(SECRET, str(now), body, header) is True
    assert verify("wrong", str(now), body, header) is False
    assert verify(SECRET, str(now), body + b" ", header) is False
    assert verify(SECRET, str(now - 301), body, sign(SECRET, now - 301, body)) is False
