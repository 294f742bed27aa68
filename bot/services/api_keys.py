"""API keys for shop backends: created once (shown once), stored as a hash, revoked by name.

A key reads ``mpb_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys carry 256 random bits, so a plain SHA-256 is enough (no stretching).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from tortoise.exceptions import IntegrityError

from bot.services.audit import audit
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from models import ApiKey

log = logging.getLogger(__name__)

KEY_SCHEME = "mpb"
PREFIX_BYTES = 6  # 12 hex characters: fits ApiKey.prefix (16)
SECRET_BYTES = 32
# "api:<name>" must fit AuditEvent.actor and Order.created_via (64 characters)
NAME_LIMIT = 60
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# failed authentications are audited as one row per key prefix, address and window
AUTH_AUDIT_WINDOW_S = 60.0
UNKNOWN_KEY_ACTOR = "api:unknown"
# compared against when the prefix names no key, so both cases cost the same
_NO_KEY_HASH = hashlib.sha256(b"no key has this prefix").hexdigest()
_KEY = re.compile(rf"{KEY_SCHEME}_([0-9a-f]{{{PREFIX_BYTES * 2}}})_([A-Za-z0-9_-]{{20,100}})")


def hash_key(plaintext: str) -> str:
    """The stored form of a key: hex SHA-256 of the whole key text."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def actor_for_key(key: ApiKey) -> str:
    """Audit actor name for calls made with this key."""
    return actor_for_name(key.name)


def actor_for_name(name: str) -> str:
    """Audit actor name for calls made with the key of this name."""
    return f"api:{name}"


class ApiKeyService:
    """Creates, lists, revokes and checks the keys shop backends call the REST API with."""

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self._clock = clock
        self.failures = AuthFailures(clock=clock)

    async def create(self, name: str, *, actor: str = "cli") -> tuple[ApiKey, str]:
        """Make a key called ``name``; return the row and the plaintext key (shown only once)."""
        name = (name or "").strip()
        if not name or len(name) > NAME_LIMIT or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"A key name is 1 to {NAME_LIMIT} letters, digits, '.', '_' or '-', "
                "starting with a letter or digit.",
                field="name",
            )
        if await ApiKey.filter(name=name).exists():
            raise Conflict(f"An API key named {name} already exists (names are never reused).")
        for _ in range(3):
            prefix = secrets.token_hex(PREFIX_BYTES)
            plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
            try:
                key = await ApiKey.create(name=name, prefix=prefix, key_hash=hash_key(plaintext))
            except IntegrityError:
                if await ApiKey.filter(name=name).exists():
                    raise Conflict(f"An API key named {name} already exists.") from None
                continue  # a prefix collision (48 random bits): draw again
            await audit(actor, "apikey.create", subject=f"apikey:{key.id}", name=name)
            log.info("apikey.created id=%s name=%s prefix=%s", key.id, name, prefix)
            return key, plaintext
        raise Conflict("Could not pick a free key prefix; please try again.")

    async def revoke(self, name: str, *, actor: str = "cli") -> ApiKey:
        """Revoke the key called ``name`` at once; NotFound if none, Conflict if already revoked."""
        key = await ApiKey.get_or_none(name=(name or "").strip())
        if key is None:
            raise NotFound(f"No API key is named {name}.")
        won = await ApiKey.filter(id=key.id, active=True).update(
            active=False, revoked_at=self._clock()
        )
        if not won:
            raise Conflict(f"The API key {key.name} is already revoked.")
        await audit(actor, "apikey.revoke", subject=f"apikey:{key.id}", name=key.name)
        log.info("apikey.revoked id=%s name=%s", key.id, key.name)
        return await ApiKey.get(id=key.id)

    async def list_keys(self) -> list[ApiKey]:
        """Every key, active and revoked, oldest first (never their secrets)."""
        return await ApiKey.all().order_by("id")

    async def authenticate(self, token: str | None, *, address: str = "") -> ApiKey | None:
        """The active key this bearer token is, touching its last_used_at; None otherwise.

        A well-formed token costs the same whether its prefix exists or not (one lookup, one
        hash, one constant-time comparison), and a failure writes nothing: it is counted in
        memory and audited once per window by ``flush_failures``.
        """
        match = _KEY.fullmatch((token or "").strip())
        if match is None:
            return None  # not even shaped like a key: nothing to look up
        # plain values, not a model: a failure costs the same whether the prefix exists or not
        # (building the model for a found row alone took measurably longer); only a key that
        # authenticates becomes a model
        row = await ApiKey.filter(prefix=match.group(1)).first().values("id", "name", "key_hash")
        expected = row["key_hash"] if row is not None else _NO_KEY_HASH
        right_secret = hmac.compare_digest(expected, hash_key(match.group(0)))
        key = await ApiKey.get_or_none(id=row["id"], active=True) if right_secret else None
        if key is None:
            reason = "unknown prefix" if row is None else "wrong secret"
            if row is not None and right_secret:
                reason = "revoked"
            actor = actor_for_name(row["name"]) if row is not None else UNKNOWN_KEY_ACTOR
            self.failures.note(actor, match.group(1), address, reason)
            return None
        key.last_used_at = self._clock()
        await ApiKey.filter(id=key.id).update(last_used_at=key.last_used_at)
        return key

    async def flush_failures(self, *, everything: bool = False) -> int:
        """Audit the failed authentications of closed windows (all with ``everything``)."""
        return await self.failures.flush(self._clock(), everything=everything)


def key_prefix(token: str | None) -> str | None:
    """The prefix a well-formed token claims (throttled on its own), or None."""
    match = _KEY.fullmatch((token or "").strip())
    return match.group(1) if match else None


@dataclass
class _Window:
    actor: str
    prefix: str
    address: str
    start: datetime
    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None


class AuthFailures:
    """Failed authentications counted per key (or claimed prefix), address and window."""

    def __init__(
        self,
        *,
        window_s: float = AUTH_AUDIT_WINDOW_S,
        clock: Clock = utcnow,
    ) -> None:
        self._window = timedelta(seconds=window_s)
        self._clock = clock
        self._open: dict[tuple[str, str, str, datetime], _Window] = {}

    def note(self, actor: str, prefix: str, address: str, reason: str) -> None:
        """Count one failure of ``actor`` (``api:<name>`` or ``api:unknown``), in memory only:
        a flood of them costs no database write."""
        now = self._clock()
        start = _window_start(now, self._window)
        slot = (actor, prefix, address, start)
        window = self._open.get(slot)
        if window is None:
            window = self._open[slot] = _Window(actor, prefix, address, start, first=now)
        window.count += 1
        window.reasons[reason] += 1
        window.last = now

    async def flush(self, now: datetime, *, everything: bool = False) -> int:
        """Write one audit row per window that has closed (or every window); return how many."""
        closed = [
            slot
            for slot, window in self._open.items()
            if everything or window.start + self._window <= now
        ]
        for slot in closed:
            window = self._open.pop(slot)
            await audit(
                window.actor,
                "api.auth",
                outcome="refused",
                prefix=window.prefix,
                address=window.address,
                failures=window.count,
                reasons=dict(window.reasons),
                first=window.first.isoformat() if window.first else None,
                last=window.last.isoformat() if window.last else None,
                window_s=self._window.total_seconds(),
            )
            log.warning(
                "api.auth_failures actor=%s prefix=%s address=%s failures=%d",
                window.actor,
                window.prefix,
                window.address,
                window.count,
            )
        return len(closed)

    def __len__(self) -> int:
        return len(self._open)


def _window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the fixed window ``moment`` falls in (windows count from the epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + window * ((moment - epoch) // window)
