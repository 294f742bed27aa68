"""ApiKeyService: keys shown once, stored as a hash, revoked by name, checked in constant time."""

from __future__ import annotations

import hashlib
import re

import pytest

from bot.services.api_keys import ApiKeyService
from bot.services.errors import Conflict, InvalidInput, NotFound
from models import ApiKey, AuditEvent
from tests.helpers.stk import Clock
from tests.web.api.conftest import SQLITE_ONLY


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(clock) -> ApiKeyService:
    return ApiKeyService(clock=clock)


async def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(db, keys) -> None:
    key, token = await keys.create("shop")

    assert re.fullmatch(r"mpb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    stored = await ApiKey.get(id=key.id)
    assert (stored.name, stored.active, stored.prefix) == ("shop", True, token.split("_")[1])
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    secret = token.split("_", 2)[2]
    row = await ApiKey.filter(id=key.id).values()
    assert not any(secret in str(value) for value in row[0].values())
    assert [(e.actor, e.action) for e in await AuditEvent.all()] == [("cli", "apikey.create")]


async def test_authenticate_finds_the_key_and_notes_its_use(db, keys, clock) -> None:
    key, token = await keys.create("shop")

    found = await keys.authenticate(token)

    assert found is not None and found.id == key.id
    assert (await ApiKey.get(id=key.id)).last_used_at == clock.now


@SQLITE_ONLY
@pytest.mark.parametrize(
    "token",
    ["", "garbage", "mpb_zz_secret", "Bearer mpb_0123456789ab_" + "x" * 43, None],
)
async def test_authenticate_refuses_what_is_not_a_key(db, keys, token) -> None:
    await keys.create("shop")

    assert await keys.authenticate(token) is None


async def test_a_key_with_a_wrong_secret_is_refused_and_audited(db, keys) -> None:
    _, token = await keys.create("shop")
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")

    assert await keys.authenticate(forged) is None
    refused = await AuditEvent.filter(action="api.auth").values_list("actor", "outcome")
    assert refused == [("api:shop", "refused")]


async def test_a_revoked_key_stops_working_at_once(db, keys, clock) -> None:
    _, token = await keys.create("shop")

    revoked = await keys.revoke("shop")

    assert (revoked.active, revoked.revoked_at) == (False, clock.now)
    assert await keys.authenticate(token) is None
    with pytest.raises(Conflict):
        await keys.revoke("shop")


async def test_revoking_an_unknown_key_is_not_found(db, keys) -> None:
    with pytest.raises(NotFound):
        await keys.revoke("nobody")


async def test_names_are_unique_and_never_reused(db, keys) -> None:
    await keys.create("shop")
    await keys.revoke("shop")

    with pytest.raises(Conflict):
        await keys.create("shop")


@SQLITE_ONLY
@pytest.mark.parametrize("name", ["", "  ", "-shop", "shop key", "x" * 61, "shop/1"])
async def test_bad_names_are_refused(db, keys, name) -> None:
    with pytest.raises(InvalidInput):
        await keys.create(name)


async def test_list_keys_shows_active_and_revoked_oldest_first(db, keys) -> None:
    await keys.create("shop")
    await keys.create("pos-2")
    await keys.revoke("shop")

    listed = [(k.name, k.active) for k in await keys.list_keys()]

    assert listed == [("shop", False), ("pos-2", True)]
