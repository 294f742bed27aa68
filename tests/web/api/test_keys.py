"""ApiKeyService: keys shown once, stored as a hash, revoked by name, checked in constant time."""

from __future__ import annotations

import hashlib
import re

import pytest

from bot.services import api_keys
from bot.services.api_keys import ApiKeyService
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from models import ApiKey
from models import AuditEvent
from tests.helpers.clock import Clock
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


async def test_failed_authentications_are_audited_once_per_window(db, keys, clock) -> None:
    _, token = await keys.create("shop")
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    stranger = "mpb_0123456789ab_" + "x" * 43

    results = [await keys.authenticate(forged, address="10.0.0.7") for _ in range(3)]
    results.append(await keys.authenticate(stranger, address="10.0.0.7"))
    before = await AuditEvent.filter(action="api.auth").count()
    assert await keys.flush_failures() == 0  # the window is still open
    clock.advance(60)
    flushed = await keys.flush_failures()

    rows = await AuditEvent.filter(action="api.auth").order_by("actor")
    assert (results, before, flushed) == ([None] * 4, 0, 2)
    assert [(r.actor, r.outcome, r.detail["failures"], r.detail["reasons"]) for r in rows] == [
        ("api:shop", "refused", 3, {"wrong secret": 3}),
        ("api:unknown", "refused", 1, {"unknown prefix": 1}),
    ]
    assert {r.detail["address"] for r in rows} == {"10.0.0.7"}
    assert forged not in str([r.detail for r in rows])  # the secret part is never kept
    assert await keys.flush_failures() == 0


async def test_a_revoked_key_with_its_right_secret_is_counted_as_revoked(db, keys, clock) -> None:
    _, token = await keys.create("shop")
    await keys.revoke("shop")

    assert await keys.authenticate(token, address="10.0.0.7") is None
    await keys.flush_failures(everything=True)

    row = await AuditEvent.get(action="api.auth")
    assert (row.actor, row.detail["reasons"]) == ("api:shop", {"revoked": 1})


async def test_a_known_and_an_unknown_prefix_do_the_same_work(db, keys, monkeypatch) -> None:
    _, token = await keys.create("shop")
    hashed: list[str] = []
    real_hash = api_keys.hash_key
    monkeypatch.setattr(api_keys, "hash_key", lambda text: hashed.append(text) or real_hash(text))
    compared: list[tuple[int, int]] = []
    real_compare = api_keys.hmac.compare_digest

    def compare(a: str, b: str) -> bool:
        compared.append((len(a), len(b)))
        return real_compare(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", compare)
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    stranger = "mpb_0123456789ab_" + token.split("_", 2)[2]

    writes_before = await AuditEvent.all().count()
    assert await keys.authenticate(forged) is None
    assert await keys.authenticate(stranger) is None

    assert [len(text) for text in hashed] == [len(forged), len(stranger)]
    assert compared == [(64, 64), (64, 64)]
    assert await AuditEvent.all().count() == writes_before  # nothing written on failure


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
