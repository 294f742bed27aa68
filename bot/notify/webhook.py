"""The WEBHOOK channel: POSTs signed JSON events to the shop backend, at least once.

Each attempt is signed afresh: ``X-Paybot-Signature: v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``
with ``<ts>`` the ``X-Paybot-Timestamp`` header (Unix seconds). The body, and the event id in it
and in ``X-Paybot-Event-Id``, are the same on every attempt, so the shop can de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import httpx

from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.channels import PermanentDeliveryError
from models import Notification

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Paybot-Event-Id"
EVENT_TYPE_HEADER = "X-Paybot-Event"
TIMESTAMP_HEADER = "X-Paybot-Timestamp"
SIGNATURE_HEADER = "X-Paybot-Signature"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300
USER_AGENT = "mpesa-bot-webhooks/1"
# a shop that answers 410 Gone has removed the endpoint for good: stop trying
PERMANENT_STATUSES = frozenset({410})


class WebhookDeliveryError(Exception):
    """The shop did not acknowledge the event (non-2xx or no answer): retry later."""


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: "v1=<hex>"."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` and the time is within tolerance (s)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False  # an old signed request replayed later
    expected = sign(secret, sent_at, body)
    # a header may carry several signatures during a secret rotation: "v1=..., v1=..."
    candidates = [part.strip() for part in (header or "").split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def event_body(notification: Notification) -> tuple[str, bytes]:
    """The event id and the exact JSON bytes POSTed for an outbox row (same on every attempt)."""
    payload: dict[str, Any] = dict(notification.payload or {})
    # rows queued before ids were stored fall back to the (unique, stable) event key
    event_id = str(payload.get("id") or notification.event_key)
    created = notification.created_at
    event = {
        "id": event_id,
        "type": payload.get("type", "unknown"),
        "createdAt": created.astimezone(UTC).isoformat(timespec="seconds") if created else None,
        "data": payload.get("data", {}),
    }
    return event_id, json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


class WebhookChannel:
    """Delivers outbox rows of the WEBHOOK channel to their recipient URL with a signature."""

    def __init__(
        self,
        secret: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._timeout = httpx.Timeout(timeout_s)
        self._transport = transport
        self._clock = clock

    async def deliver(self, notification: Notification) -> None:
        """POST the event; return on 2xx, raise PermanentDeliveryError on 410, else retryable."""
        event_id, body = event_body(notification)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: str(notification.payload.get("type", "unknown")),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        url = notification.recipient
        # a fresh client per event: webhooks are rare and nothing is left open on shutdown
        async with httpx.AsyncClient(
            timeout=self._timeout, transport=self._transport, follow_redirects=False
        ) as client:
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                # not money: sending an event twice is what at-least-once promises anyway
                raise WebhookDeliveryError(f"{type(exc).__name__} posting the event") from exc
        if 200 <= response.status_code < 300:
            log.info("webhook.delivered event=%s status=%s", event_id, response.status_code)
            return
        reason = f"the shop answered HTTP {response.status_code}"
        if response.status_code in PERMANENT_STATUSES:
            raise PermanentDeliveryError(reason)
        raise WebhookDeliveryError(reason)


def webhook_channel(settings: Settings) -> Channel | None:
    """The WEBHOOK channel when SHOP_WEBHOOK_URL (and its secret) are set, else None."""
    if not settings.shop_webhook_url or settings.shop_webhook_secret is None:
        return None
    return WebhookChannel(settings.shop_webhook_secret.get_secret_value())
