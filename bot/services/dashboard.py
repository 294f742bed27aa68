"""Who is signed in to the staff dashboard: one-time links from the bot, and browser sessions.

A link is made for one staff member by ``/dashboard`` in the chat, works once, within
DASHBOARD_LINK_TTL_S, and opens a session. A session is checked against the staff record on
every request: a removed person (or a changed role) is seen at once. Tokens are random; only
their SHA-256 hashes are stored.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.errors import NotAllowed
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.staff import StaffService
from models import DashboardLink
from models import DashboardSession
from models import Staff
from models import StaffRole

log = logging.getLogger(__name__)

# a session's last-seen time is written at most this often (not on every page)
TOUCH_EVERY_S = 30
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128

LINK_USED = "This sign-in link was already used. Send /dashboard to the bot for a new one."
LINK_EXPIRED = "This sign-in link has expired. Send /dashboard to the bot for a new one."
LINK_UNKNOWN = (
    "This sign-in link is not valid (it may be mistyped). Send /dashboard to the bot for a new one."
)
LINK_NOT_STAFF = "This sign-in link belongs to someone who is no longer on the shop's staff."


class LinkRefused(NotAllowed):
    """A sign-in link that cannot be used; ``reason`` is used, expired, unknown or not_staff."""

    code = "link_refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkPreview:
    """What a sign-in link's page shows before the button is pressed."""

    staff: Staff
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A new session: its token (for the cookie) and the staff member it belongs to."""

    token: str
    staff: Staff


def login_url(public_base_url: str, token: str) -> str:
    """The sign-in link of a token: PUBLIC_BASE_URL/dashboard/login/<token>."""
    return f"{public_base_url.rstrip('/')}/dashboard/login/{token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and all(c.isalnum() or c in "-_" for c in token)


class DashboardAccess:
    """Issues sign-in links, opens, checks and ends dashboard sessions (roles as in the chat)."""

    def __init__(
        self,
        *,
        staff: StaffService,
        link_ttl_s: int,
        idle_timeout_s: int,
        clock: Clock = utcnow,
    ) -> None:
        self._staff = staff
        self._ttl = timedelta(seconds=link_ttl_s)
        self._idle = timedelta(seconds=idle_timeout_s)
        self._clock = clock

    @property
    def link_ttl_s(self) -> int:
        """How long a new sign-in link works, in seconds."""
        return int(self._ttl.total_seconds())

    async def issue_link(self, telegram_id: int, *, name: str | None = None) -> str:
        """A new one-time sign-in token for this staff member (any role); refuses others."""
        staff = await self._staff.require(telegram_id, action="dashboard", name=name)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await DashboardLink.create(
            token_hash=_hash(token), staff_id=staff.id, expires_at=self._clock() + self._ttl
        )
        await audit(
            actor_for_telegram(telegram_id), "dashboard.link", subject=f"staff:{telegram_id}"
        )
        return token

    async def preview(self, token: str) -> LinkPreview:
        """Who a link would sign in, without using it; LinkRefused when it cannot be used."""
        link, staff = await self._usable(token, audit_refusal=False)
        return LinkPreview(staff=staff, expires_at=link.expires_at)

    async def sign_in(self, token: str, *, client: str = "") -> SignedIn:
        """Use the link once and open a session; a used, expired or forged link is refused."""
        link, staff = await self._usable(token, audit_refusal=True, client=client)
        now = self._clock()
        # the one press that wins uses the link; a second (or a copy) is refused
        won = await DashboardLink.filter(id=link.id, used_at__isnull=True).update(used_at=now)
        if not won:
            await self._refused("used", staff.telegram_id, client)
            raise LinkRefused(LINK_USED, reason="used")
        session_token = secrets.token_urlsafe(TOKEN_BYTES)
        await DashboardSession.create(
            token_hash=_hash(session_token), staff_id=staff.id, link_id=link.id, last_seen_at=now
        )
        await audit(
            actor_for_telegram(staff.telegram_id),
            "dashboard.sign_in",
            subject=f"staff:{staff.telegram_id}",
            client=client,
        )
        return SignedIn(token=session_token, staff=staff)

    async def current(self, session_token: str | None) -> Staff | None:
        """The signed-in staff member of a session token, or None (ended, idle, removed)."""
        if not session_token or not _plausible(session_token):
            return None
        session = await DashboardSession.get_or_none(
            token_hash=_hash(session_token), ended_at__isnull=True
        )
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen_at > self._idle:
            await self._end(session, "idle")
            return None
        stored = await Staff.get_or_none(id=session.staff_id)
        # the staff service decides who is staff, as for every chat command
        staff = await self._staff.find(stored.telegram_id) if stored is not None else None
        if staff is None:
            await self._end(session, "removed")
            return None
        if (now - session.last_seen_at).total_seconds() >= TOUCH_EVERY_S:
            await DashboardSession.filter(id=session.id).update(last_seen_at=now)
        return staff

    async def require(self, staff: Staff, role: StaffRole | None, *, action: str) -> Staff:
        """The staff member if they hold ``role`` (None: any staff) now; refuses and audits."""
        roles = (role,) if role is not None else ()
        return await self._staff.require(staff.telegram_id, *roles, action=action)

    async def sign_out(self, session_token: str | None) -> None:
        """End the session of this token (nothing happens for an unknown one)."""
        if not session_token or not _plausible(session_token):
            return
        session = await DashboardSession.get_or_none(
            token_hash=_hash(session_token), ended_at__isnull=True
        )
        if session is not None:
            await self._end(session, "signed_out")

    async def refuse(
        self, staff: Staff | None, what: str, *, client: str = "", **detail: str
    ) -> None:
        """Audit a refused dashboard request (bad CSRF token, wrong role, …)."""
        actor = actor_for_telegram(staff.telegram_id) if staff is not None else "web"
        await audit(
            actor,
            "dashboard.refused",
            subject=what[:64],
            outcome="refused",
            client=client,
            **detail,
        )

    async def _usable(
        self, token: str, *, audit_refusal: bool, client: str = ""
    ) -> tuple[DashboardLink, Staff]:
        link = (
            await DashboardLink.get_or_none(token_hash=_hash(token)) if _plausible(token) else None
        )
        if link is None:
            if audit_refusal:
                await self._refused("unknown", None, client)
            raise LinkRefused(LINK_UNKNOWN, reason="unknown")
        stored = await Staff.get(id=link.staff_id)
        if link.used_at is not None:
            if audit_refusal:
                await self._refused("used", stored.telegram_id, client)
            raise LinkRefused(LINK_USED, reason="used")
        if self._clock() >= link.expires_at:
            if audit_refusal:
                await self._refused("expired", stored.telegram_id, client)
            raise LinkRefused(LINK_EXPIRED, reason="expired")
        staff = await self._staff.find(stored.telegram_id)
        if staff is None:
            if audit_refusal:
                await self._refused("not_staff", stored.telegram_id, client)
            raise LinkRefused(LINK_NOT_STAFF, reason="not_staff")
        return link, staff

    async def _refused(self, reason: str, telegram_id: int | None, client: str) -> None:
        actor = actor_for_telegram(telegram_id) if telegram_id is not None else "web"
        subject = f"staff:{telegram_id}" if telegram_id is not None else ""
        await audit(
            actor,
            "dashboard.sign_in",
            subject=subject,
            outcome="refused",
            reason=reason,
            client=client,
        )

    async def _end(self, session: DashboardSession, reason: str) -> None:
        ended = await DashboardSession.filter(id=session.id, ended_at__isnull=True).update(
            ended_at=self._clock(), end_reason=reason
        )
        if ended:
            stored = await Staff.get_or_none(id=session.staff_id)
            who = stored.telegram_id if stored is not None else 0
            await audit(
                actor_for_telegram(who) if reason == "signed_out" else "system",
                "dashboard.session_end",
                subject=f"staff:{who}",
                reason=reason,
            )
