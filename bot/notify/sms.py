"""SMS receipts through Africa's Talking (its SDK is synchronous: run in a thread)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.config import Settings
from bot.notify.channels import Channel, PermanentDeliveryError
from models import Notification
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

# Africa's Talking per-recipient status codes: 100 Processed, 101 Sent, 102 Queued
_OK_CODES = frozenset({100, 101, 102})
# 401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
# 405 InsufficientBalance, 406 UserInBlacklist, 407 CouldNotRoute: retrying will not help
_PERMANENT_CODES = frozenset(range(401, 408))


class SmsDeliveryError(Exception):
    """Africa's Talking did not take the message; worth retrying later."""


class AfricasTalkingSms:
    """Sends an outbox SMS (recipient: msisdn, payload["text"]) through Africa's Talking."""

    def __init__(
        self, username: str, api_key: str, sender_id: str | None = None, base_url: str | None = None
    ) -> None:
        # imported here: the SDK brings requests and urllib3 (~0.1 s of start-up), and a shop
        # without Africa's Talking credentials never needs it
        import africastalking

        # the SDK picks the sandbox host itself when the username is "sandbox"
        self._sms = africastalking.SMSService(username, api_key)
        if base_url:
            self._sms._baseUrl = base_url.rstrip("/") + "/version1"
        self._sender_id = sender_id or None
        log.info("sms.enabled provider=africastalking sandbox=%s", username == "sandbox")

    async def deliver(self, notification: Notification) -> None:
        """Send the SMS; raise PermanentDeliveryError or SmsDeliveryError when it was not taken."""
        msisdn = notification.recipient
        from africastalking.Service import AfricasTalkingException  # loaded by __init__

        text = str(notification.payload.get("text", ""))
        if not text:
            raise PermanentDeliveryError("the SMS has no text")
        try:
            answer = await asyncio.to_thread(
                self._sms.send, text, [f"+{msisdn}"], sender_id=self._sender_id
            )
        except ValueError as exc:  # the SDK refuses a malformed number before sending
            raise PermanentDeliveryError(str(exc)) from exc
        except AfricasTalkingException as exc:
            raise SmsDeliveryError(f"Africa's Talking refused the request: {exc}") from exc
        _check_answer(answer, msisdn)
        log.info("sms.sent to=%s chars=%d", mask_msisdn(msisdn), len(text))


class LogOnlySms:
    """Logs SMS receipts instead of sending them (no Africa's Talking credentials)."""

    def __init__(self) -> None:
        log.warning(
            "sms.disabled reason=no Africa's Talking credentials (AT_USERNAME, AT_API_KEY); "
            "SMS receipts are logged, not sent"
        )

    async def deliver(self, notification: Notification) -> None:
        """Log that an SMS would have been sent (masked number, length only)."""
        text = str(notification.payload.get("text", ""))
        log.info(
            "sms.not_sent to=%s chars=%d reason=sms disabled",
            mask_msisdn(notification.recipient),
            len(text),
        )


def build_sms_channel(settings: Settings) -> Channel:
    """Africa's Talking when credentials are configured, else the log-only sender."""
    if settings.at_username and settings.at_api_key is not None:
        return AfricasTalkingSms(
            settings.at_username,
            settings.at_api_key.get_secret_value(),
            settings.at_sender_id,
            base_url=settings.at_base_url,
        )
    return LogOnlySms()


def _check_answer(answer: Any, msisdn: str) -> None:
    """Raise unless Africa's Talking accepted the message for our one recipient."""
    if isinstance(answer, str):
        # the SDK returns text when the content type carries a charset
        try:
            answer = json.loads(answer)
        except ValueError as exc:
            raise SmsDeliveryError(f"unreadable Africa's Talking answer: {answer[:200]}") from exc
    data = answer.get("SMSMessageData") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise SmsDeliveryError("Africa's Talking answered without SMSMessageData")
    recipients = data.get("Recipients") or []
    if not recipients:
        raise SmsDeliveryError(f"no recipient accepted: {data.get('Message', '')}")
    first = recipients[0]
    try:
        code = int(first.get("statusCode"))
    except (TypeError, ValueError):
        code = 0
    status = first.get("status", "")
    if code in _OK_CODES:
        return
    reason = f"SMS to {mask_msisdn(msisdn)} not sent: {status} ({code})"
    if code in _PERMANENT_CODES:
        raise PermanentDeliveryError(reason)
    raise SmsDeliveryError(reason)
