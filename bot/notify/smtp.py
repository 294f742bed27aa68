"""The outbox's e-mail channel: aiosmtplib to SMTP_HOST, or a log line when there is none.

Each e-mail is one SMTP conversation bounded by a deadline well inside the outbox's claim on the
row (``CLAIM_S``), so no other worker takes it while we may still be talking. The conversation
has two halves. Until the message itself is handed over (connect, STARTTLS, login, MAIL FROM,
RCPT TO, a refused DATA) nothing was delivered: any failure there is retried. Once DATA has
started, a connection that breaks or a server that goes quiet may have kept the message; it is
never sent again (an e-mail sent twice is what the claim exists to prevent). An explicit refusal
of the message (a 4xx or 5xx answer) is the server saying it did not take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from email import policy
from typing import Any

from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.channels import PermanentDeliveryError
from bot.notify.emails import EmailComposer
from bot.notify.emails import mask_email
from bot.notify.emails import sender_domain
from models import Notification

log = logging.getLogger(__name__)

# the whole conversation, whatever SMTP_TIMEOUT_S says per step: far inside CLAIM_S (120 s)
DEADLINE_S = 60.0


class EmailDeliveryError(Exception):
    """The SMTP server did not take the e-mail and nothing was delivered: retry later."""


def may_have_been_sent(why: str) -> PermanentDeliveryError:
    """Give up on an e-mail the server may have kept: never send it twice."""
    return PermanentDeliveryError(f"{why}; the e-mail may have been delivered, so it is not resent")


def smtp_client(settings: Settings, *, timeout_s: float | None = None) -> Any:
    """An unconnected aiosmtplib client for SMTP_HOST with the TLS and login settings."""
    import aiosmtplib  # only a shop that sends e-mail needs it at run time

    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.resolved_smtp_port,
        username=settings.smtp_username,
        password=password,
        use_tls=settings.smtp_tls,
        # True: STARTTLS is required (refused if the server does not offer it); False: never
        start_tls=False if settings.smtp_tls else settings.smtp_starttls,
        timeout=timeout_s or settings.smtp_timeout_s,
        # our own name in EHLO: the sender's domain (the machine's FQDN may need a DNS lookup)
        local_hostname=sender_domain(settings.smtp_from or "localhost"),
    )


class SmtpEmail:
    """Sends outbox e-mails through SMTP_HOST, one conversation per message."""

    def __init__(
        self, settings: Settings, composer: EmailComposer, *, deadline_s: float = DEADLINE_S
    ) -> None:
        self._settings = settings
        self._composer = composer
        self._deadline_s = deadline_s
        where = f"{settings.smtp_host}:{settings.resolved_smtp_port}"
        tls = "tls" if settings.smtp_tls else "starttls" if settings.smtp_starttls else "none"
        login = bool(settings.smtp_username)
        log.info("email.enabled server=%s security=%s login=%s", where, tls, login)

    async def deliver(self, notification: Notification) -> None:
        """Send one e-mail; EmailDeliveryError (retry) or PermanentDeliveryError (never again)."""
        message = await self._composer.compose(notification)
        recipient = notification.recipient.strip()
        event = (notification.payload or {}).get("event")
        phase = "connect"
        client = smtp_client(self._settings)
        try:
            async with asyncio.timeout(self._deadline_s):
                await client.connect()
                phase = "envelope"
                await client.mail(self._composer.sender_address)
                await client.rcpt(recipient)
                phase = "data"
                await client.data(message.as_bytes(policy=policy.SMTP))
                phase = "done"
        except Exception as exc:
            raise _classify(exc, phase, recipient, self._deadline_s) from exc
        finally:
            await _close(client, delivered=phase == "done")
        log.info("email.sent to=%s event=%s id=%s", mask_email(recipient), event, notification.id)


def _classify(exc: Exception, phase: str, recipient: str, deadline_s: float) -> Exception:
    """What a failure in ``phase`` of the conversation means for sending it again."""
    import aiosmtplib

    masked = mask_email(recipient)
    if isinstance(exc, PermanentDeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # the server answered: it has not taken the message, whatever the phase
        answer = f"{exc.code} {exc.message}"
        permanent = 500 <= exc.code < 600
        if permanent and isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return PermanentDeliveryError(f"the server refused {masked}: {answer}")
        if permanent and phase == "data":
            return PermanentDeliveryError(f"the server refused the e-mail to {masked}: {answer}")
        return EmailDeliveryError(f"the SMTP server refused ({phase}): {answer}; nothing was sent")
    if phase == "data":
        if isinstance(exc, TimeoutError):
            return may_have_been_sent("the SMTP server did not answer the message in time")
        return may_have_been_sent(
            f"the SMTP connection broke while sending ({type(exc).__name__}: {exc})"
        )
    if isinstance(exc, TimeoutError):
        why = f"no answer from the SMTP server within the time allowed ({phase})"
    else:
        why = f"the SMTP server could not be used ({phase}: {type(exc).__name__}: {exc})"
    return EmailDeliveryError(f"{why}; nothing was sent")


async def _close(client: Any, *, delivered: bool) -> None:
    """QUIT politely when the message went through, then drop the connection in any case."""
    if delivered and client.is_connected:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await client.quit()
    if client.is_connected:
        client.close()


class LogOnlyEmail:
    """Logs e-mails instead of sending them (SMTP_HOST is not set): masked, nothing leaves."""

    def __init__(self, composer: EmailComposer) -> None:
        self._composer = composer
        log.warning("email.disabled reason=SMTP_HOST is not set; e-mails are logged, not sent")

    async def deliver(self, notification: Notification) -> None:
        """Render the e-mail (so a broken one shows) and log that it would have been sent."""
        message = await self._composer.compose(notification)
        attachments = sum(1 for _part in message.iter_attachments())
        log.info(
            "email.not_sent to=%s event=%s attachments=%d reason=SMTP_HOST not set",
            mask_email(notification.recipient),
            (notification.payload or {}).get("event"),
            attachments,
        )


def build_email_channel(settings: Settings, composer: EmailComposer) -> Channel:
    """SMTP when SMTP_HOST is set, else the log-only sender."""
    if settings.smtp_host:
        return SmtpEmail(settings, composer)
    return LogOnlyEmail(composer)


async def check_login(settings: Settings) -> str:
    """Connect to SMTP_HOST, upgrade to TLS and log in as configured; say what worked.

    Raises EmailDeliveryError with the reason (the password is never part of it).
    """
    client = smtp_client(settings)
    where = f"{settings.smtp_host}:{settings.resolved_smtp_port}"
    try:
        async with asyncio.timeout(DEADLINE_S):
            await client.connect()
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise EmailDeliveryError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise EmailDeliveryError(f"{where} refused: {type(exc).__name__}: {exc}") from exc
    finally:
        await _close(client, delivered=True)
    security = "TLS" if settings.smtp_tls else "STARTTLS" if settings.smtp_starttls else "no TLS"
    login = f"logged in as {settings.smtp_username}" if settings.smtp_username else "no login"
    return f"{where} answers ({security}, {login})"
