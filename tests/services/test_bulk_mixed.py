"""A batch of M-Pesa and Airtel rows: each row through its provider's payout path, once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.config import Settings
from bot.services.container import build_services
from models import BatchRowStatus
from models import BatchStatus
from models import Payout
from models import PayoutBatchRow
from models import PayoutStatus
from models import Provider
from tests.helpers.fakes import FakeAirtel
from tests.helpers.fakes import FakeDaraja

ADMIN = 1001
FILE = (
    b"phone,amount,name,reference\n"
    b"0708374149,1500,Jane Doe,Wages\n"
    b"0733123456,1200,John Doe,Wages\n"
    b"0708374150,900,Mary,Wages\n"
    b"0733000111,700,Nobody,Wages\n"
)


def airtel_settings(settings: Settings, *, enabled: bool) -> Settings:
    values = {
        **settings.model_dump(),
        "airtel_enabled": enabled,
        "airtel_base_url": "https://airtel.test",
        "airtel_disbursement_pin": "1234",
        "bulk_payouts_per_s": 100.0,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def mixed(db, settings) -> SimpleNamespace:
    # the real clock: the pace is measured on it
    daraja, airtel = FakeDaraja(), FakeAirtel()
    services = build_services(
        airtel_settings(settings, enabled=True),
        daraja=daraja,
        airtel=airtel,
        channels={},
    )
    await services.staff.bootstrap_admins()
    return SimpleNamespace(services=services, daraja=daraja, airtel=airtel)


async def send(services, content: bytes) -> int:
    summary = await services.bulk.upload(content, file_name="mixed.csv", by_telegram_id=ADMIN)
    await services.batches.confirm(summary.batch.id, by_telegram_id=ADMIN)
    for _ in range(20):
        report = await services.bulk_sender.run_once(budget_s=1.0)
        if report.sent == 0:
            break
    return summary.batch.id


async def test_airtel_rows_go_through_airtel_after_kyc_and_mpesa_rows_through_b2c(mixed) -> None:
    # the last Airtel number has no Airtel Money account: refused by KYC, never disbursed
    original = mixed.airtel.lookup_user

    async def lookup(msisdn: str):
        return None if msisdn.endswith("000111") else await original(msisdn)

    mixed.airtel.lookup_user = lookup

    batch_id = await send(mixed.services, FILE)

    payouts = {p.msisdn: p for p in await Payout.all()}
    assert {m: p.provider for m, p in payouts.items()} == {
        "254708374149": Provider.MPESA,
        "254733123456": Provider.AIRTEL,
        "254708374150": Provider.MPESA,
        "254733000111": Provider.AIRTEL,
    }
    assert sorted(c["msisdn"] for c in mixed.daraja.called("b2c_payment")) == [
        "254708374149",
        "254708374150",
    ]
    assert [c["msisdn"] for c in mixed.airtel.called("disburse")] == ["254733123456"]
    paid = payouts["254733123456"]
    assert (paid.status, paid.receiver_name) == (PayoutStatus.COMPLETED, "JOHN DOE")
    refused = payouts["254733000111"]
    assert refused.status == PayoutStatus.FAILED
    assert "not registered on Airtel Money" in (refused.result_desc or "")
    rows = await PayoutBatchRow.filter(batch_id=batch_id)
    assert {r.status for r in rows} == {BatchRowStatus.SENT}


async def test_without_airtel_its_rows_are_refused_at_upload_with_todays_reason(
    db, settings
) -> None:
    services = build_services(
        airtel_settings(settings, enabled=False), daraja=FakeDaraja(), channels={}
    )
    await services.staff.bootstrap_admins()

    summary = await services.bulk.upload(FILE, file_name="mixed.csv", by_telegram_id=ADMIN)

    assert summary.batch.valid_count == 2
    assert [r.line for r in summary.rejected] == [3, 5]
    assert all("Airtel" in (r.error or "") for r in summary.rejected)
    assert BatchStatus(summary.batch.status) is BatchStatus.AWAITING_CONFIRMATION
