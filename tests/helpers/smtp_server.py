"""A real SMTP server on loopback for tests: aiosmtpd's protocol on the test's own event loop.

It records every message it accepts (the raw bytes, parsed on demand) and can misbehave the
ways a mail server does: refuse connections (not listening yet), drop a connection before its
greeting, or keep a message and then drop the connection before saying it did.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from dataclasses import field
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import LoginPassword

HOST = "127.0.0.1"


@dataclass
class Received:
    """One message the server accepted: the envelope and the bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed (modern policy: headers as objects, attachments iterable)."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    """A running loopback SMTP server; ``received`` is what it accepted."""

    port: int
    server: asyncio.base_events.Server
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    # misbehaviour, set by tests: drop this many connections before the greeting; keep the
    # next messages but drop the connection instead of answering 250
    drop_before_greeting: int = 0
    drop_after_data: int = 0
    # answer the next messages with this refusal (e.g. "451 4.3.0 Try again later") instead
    refuse_data: list[str] = field(default_factory=list)
    refused: int = 0
    logins: list[str] = field(default_factory=list)

    async def close(self) -> None:
        """Stop listening and end open connections."""
        self.server.close()
        await self.server.wait_closed()


class _Handler:
    def __init__(self, state: SmtpServer) -> None:
        self._state = state

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self._state.refuse_data:
            self._state.refused += 1
            return self._state.refuse_data.pop(0)
        self._state.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        if self._state.drop_after_data > 0:
            self._state.drop_after_data -= 1
            # the message is kept, but the client never hears so: it cannot know
            server.transport.abort()
        return "250 2.0.0 Ok: queued"


class _Dropper(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


async def start_smtp_server(
    *, port: int = 0, username: str | None = None, password: str | None = None
) -> SmtpServer:
    """Listen on 127.0.0.1 (``port``: 0 for any) with AUTH LOGIN/PLAIN when a login is given."""
    loop = asyncio.get_running_loop()
    state: SmtpServer

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (username, password)
        if ok:
            state.logins.append(auth_data.login.decode())
        # handled=False: aiosmtpd answers 535 itself
        return AuthResult(success=ok, handled=ok)

    def factory() -> asyncio.Protocol:
        state.connections += 1
        if state.drop_before_greeting > 0:
            state.drop_before_greeting -= 1
            return _Dropper()
        with warnings.catch_warnings():
            # plain AUTH without TLS is what a loopback test server is for
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(
                _Handler(state),
                hostname="mail.test",
                loop=loop,
                auth_require_tls=False,
                auth_required=username is not None,
                authenticator=authenticate if username is not None else None,
            )

    server = await loop.create_server(factory, HOST, port)
    state = SmtpServer(port=server.sockets[0].getsockname()[1], server=server)
    return state
