"""SMS receipts through Africa's Talking (its SDK is synchronous: run in a thread).

Each call is bounded: ``requests`` time-outs inside the thread, and a deadline around the thread
that also ends a server trickling bytes, well inside the outbox's claim on the row. A request
that may have reached Africa's Talking (no answer in time, a connection broken mid-way) is never
sent again: an SMS sent twice is what the claim exists to prevent. The calls run on a few
threads of our own, so hung ones never take the event loop's default pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.channels import PermanentDeliveryError
from models import Notification
from mpesa.phone import mask_msisdn

log = logging.getLogger(__name__)

# Africa's Talking per-recipient status codes: 100 Processed, 101 Sent, 102 Queued
_OK_CODES = frozenset({100, 101, 102})
# 401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
# 405 InsufficientBalance, 406 UserInBlacklist, 407 CouldNotRoute: retrying will not help
_PERMANENT_CODES = frozenset(range(401, 408))
# seconds to connect, between two reads of the answer, and for the whole call; the whole call
# ends far inside OutboxWorker's claim (CLAIM_S), so no other worker takes the row meanwhile
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
DEADLINE_S = 30.0
THREADS = 4
# urllib3's errors for a connection that was never made (nothing reached Africa's Talking)
_NOT_CONNECTED = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")


class SmsDeliveryError(Exception):
    """Africa's Talking did not take the message; worth retrying later."""


def may_have_been_sent(why: str) -> PermanentDeliveryError:
    """Give up on an SMS whose request may have reached Africa's Talking: never send it twice."""
    return PermanentDeliveryError(f"{why}; the SMS may have been sent, so it is not sent again")


class AfricasTalkingSms:
    """Sends an outbox SMS (recipient: msisdn, payload["text"]) through Africa's Talking."""

    def __init__(
        self,
        username: str,
        api_key: str,
        sender_id: str | None = None,
        base_url: str | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        # imported here: the SDK brings requests and urllib3 (~0.1 s of start-up), and a shop
        # without Africa's Talking credentials never needs it
        import africastalking

        # the SDK picks the sandbox host itself when the username is "sandbox"
        self._sms = africastalking.SMSService(username, api_key)
        if base_url:
            self._sms._baseUrl = base_url.rstrip("/") + "/version1"
        self._sender_id = sender_id or None
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._deadline_s = deadline_s
        self._threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sms")
        log.info("sms.enabled provider=africastalking sandbox=%s", username == "sandbox")

    async def deliver(self, notification: Notification) -> None:
        """Send the SMS; raise PermanentDeliveryError or SmsDeliveryError when it was not taken."""
        import requests
        from africastalking.Service import AfricasTalkingException  # loaded by __init__

        msisdn = notification.recipient
        text = str(notification.payload.get("text", ""))
        if not text:
            raise PermanentDeliveryError("the SMS has no text")
        call = self._threads.submit(
            self._sms.send, text, [f"+{msisdn}"], sender_id=self._sender_id, timeout=self._timeout
        )
        try:
            # shielded: on the deadline the thread is left to its own time-outs, not cancelled
            answer = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(call)), self._deadline_s
            )
        except TimeoutError:
            if call.cancel():
                # every SMS thread was busy and this call never started: nothing was sent
                raise SmsDeliveryError("no SMS thread was free in time; nothing was sent") from None
            log.warning("sms.unanswered to=%s deadline_s=%g", mask_msisdn(msisdn), self._deadline_s)
            raise may_have_been_sent(
                f"Africa's Talking did not answer within {self._deadline_s:g} s"
            ) from None
        except ValueError as exc:  # the SDK refuses a malformed number before sending
            raise PermanentDeliveryError(str(exc)) from exc
        except AfricasTalkingException as exc:
            raise SmsDeliveryError(f"Africa's Talking refused the request: {exc}") from exc
        except requests.RequestException as exc:
            if _never_connected(exc):
                why = f"Africa's Talking could not be reached ({type(exc).__name__})"
                raise SmsDeliveryError(f"{why}; nothing was sent") from exc
            raise may_have_been_sent(
                f"no answer from Africa's Talking ({type(exc).__name__})"
            ) from exc
        _check_answer(answer, msisdn)
        log.info("sms.sent to=%s chars=%d", mask_msisdn(msisdn), len(text))

    def close(self, *, wait: bool = False) -> None:
        """Let the SMS threads go (a hung one ends at its own time-out); ``wait``: join them."""
        self._threads.shutdown(wait=wait, cancel_futures=True)


def _never_connected(exc: BaseException) -> bool:
    """True when the request never got a connection (refused, unknown host, connect time-out)."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: BaseException | None = exc
    for _ in range(8):  # requests wraps urllib3's error in args[0] and __context__
        if seen is None:
            return False
        if type(seen).__name__ in _NOT_CONNECTED:
            return True
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = inner or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    return False


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
