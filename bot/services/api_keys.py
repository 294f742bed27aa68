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
from collections.abc import Callable
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from bot.services.audit import audit
from bot.services.errors import Conflict, InvalidInput, NotFound
from models import ApiKey

log = logging.getLogger(__name__)

KEY_SCHEME = "mpb"
PREFIX_BYTES = 6  # 12 hex characters: fits ApiKey.prefix (16)
SECRET_BYTES = 32
# "api:<name>" must fit AuditEvent.actor and Order.created_via (64 characters)
NAME_LIMIT = 60
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEY = re.compile(rf"{KEY_SCHEME}_([0-9a-f]{{{PREFIX_BYTES * 2}}})_([A-Za-z0-9_-]{{20,100}})")


def hash_key(plaintext: str) -> str:
    """The stored form of a key: hex SHA-256 of the whole key text."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def actor_for_key(key: ApiKey) -> str:
    """Audit actor name for calls made with this key."""
    return f"api:{key.name}"


class ApiKeyService:
    """Creates, lists, revokes and checks the keys shop backends call the REST API with."""

    def __init__(self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

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

    async def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key this bearer token is, touching its last_used_at; None otherwise."""
        match = _KEY.fullmatch((token or "").strip())
        if match is None:
            return None
        key = await ApiKey.get_or_none(prefix=match.group(1))
        if key is None:
            return None
        if not hmac.compare_digest(key.key_hash, hash_key(match.group(0))):
            await audit(actor_for_key(key), "api.auth", outcome="refused", reason="wrong secret")
            return None
        if not key.active:
            await audit(actor_for_key(key), "api.auth", outcome="refused", reason="revoked")
            return None
        key.last_used_at = self._clock()
        await ApiKey.filter(id=key.id).update(last_used_at=key.last_used_at)
        return key
