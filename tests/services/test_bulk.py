"""Bulk payout batches: recorded with their validation report, nothing sent before Confirm."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services.container import build_services
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from models import BatchRowStatus
from models import BatchStatus
from models import PayoutBatch
from models import PayoutBatchRow
from models import Staff
from models import StaffRole
from tests.helpers.fakes import FakeDaraja

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bulk"
ADMIN, CASHIER = 1001, 2001


@pytest.fixture
async def services(db, settings):
    services = build_services(settings, daraja=FakeDaraja(), channels={})
    await services.staff.bootstrap_admins()
    await Staff.create(telegram_id=CASHIER, role=StaffRole.CASHIER, name="Mary")
    return services


async def test_an_uploaded_file_is_recorded_with_its_report_and_waits(services) -> None:
    content = (FIXTURES / "messy.csv").read_bytes()

    summary = await services.bulk.upload(
        content, file_name="messy.csv", by_telegram_id=ADMIN, chat_id=ADMIN
    )

    batch = await PayoutBatch.get(id=summary.batch.id)
    assert (batch.status, batch.row_count, batch.valid_count, batch.rejected_count) == (
        BatchStatus.AWAITING_CONFIRMATION,
        10,
        4,
        6,
    )
    assert batch.total_amount == 1500 + 2000 + 3000 + 250_000
    assert batch.needs_approval  # at or above PAYOUT_APPROVAL_THRESHOLD
    assert [r.line for r in summary.rejected] == [4, 6, 7, 10, 12, 14]
    rows = await PayoutBatchRow.filter(batch_id=batch.id).order_by("line")
    assert [(r.line, r.status, r.payout_id) for r in rows][:2] == [
        (3, BatchRowStatus.QUEUED, None),
        (4, BatchRowStatus.REJECTED, None),
    ]
    assert summary.same_file is None


async def test_the_same_file_again_is_recognised(services) -> None:
    content = (FIXTURES / "messy.csv").read_bytes()
    first = await services.bulk.upload(content, file_name="a.csv", by_telegram_id=ADMIN)

    again = await services.bulk.upload(content, file_name="b.csv", by_telegram_id=ADMIN)

    assert again.same_file is not None
    assert again.same_file.id == first.batch.id


async def test_rows_meet_exactly_the_refusals_of_send(services) -> None:
    cases = [("0733123456", "500"), ("0708374149", "1.5"), ("0708374149", "5")]
    refusals = []
    for phone, amount in cases:
        with pytest.raises(InvalidInput) as caught:
            await services.payouts.send_money(
                phone, amount, initiator_telegram_id=ADMIN, reason="Refund"
            )
        refusals.append(str(caught.value))
    content = "phone,amount,reference\n" + "".join(f"{p},{a},Refund\n" for p, a in cases)

    summary = await services.bulk.upload(content.encode(), file_name="x.csv", by_telegram_id=ADMIN)

    assert [r.error for r in summary.rejected] == refusals


async def test_a_list_with_nothing_payable_is_kept_but_closed(services) -> None:
    summary = await services.bulk.upload(
        b"phone,amount\n0733123456,500\n", file_name="x.csv", by_telegram_id=ADMIN
    )

    assert summary.batch.status == BatchStatus.CANCELLED
    assert not summary.can_confirm


async def test_only_admins_upload_and_bad_files_are_refused(services) -> None:
    with pytest.raises(NotAllowed):
        await services.bulk.upload(b"phone,amount\n", file_name="x.csv", by_telegram_id=CASHIER)
    with pytest.raises(InvalidInput) as caught:
        await services.bulk.upload(b"Phone,Name\n1,2\n", file_name="x.csv", by_telegram_id=ADMIN)

    assert str(caught.value).startswith("No amount column found.")
    assert await PayoutBatch.all().count() == 0


async def test_api_rows_make_a_batch_without_an_uploader(services) -> None:
    summary = await services.bulk.create_from_rows(
        [
            {"phone": "0712345678", "amount": 1500, "name": "Jane", "reference": "Nov wages"},
            {"phone": "0722000099", "amount": "800"},
        ],
        actor="api:shop",
        source="api:shop",
        description="November wages",
    )

    batch = summary.batch
    assert (batch.created_by_id, batch.source, batch.file_format) == (None, "api:shop", "json")
    assert (batch.valid_count, batch.total_amount, batch.description) == (
        1,
        1500,
        "November wages",
    )


async def test_too_many_api_rows_are_refused_with_the_limit(services, settings) -> None:
    services.bulk._settings = settings.model_copy(update={"bulk_max_rows": 2})

    with pytest.raises(InvalidInput) as caught:
        await services.bulk.create_from_rows(
            [{"phone": "0712345678", "amount": 100 + i} for i in range(3)],
            actor="api:shop",
            source="api:shop",
        )

    assert str(caught.value) == (
        "3 rows; at most 2 per batch (BULK_MAX_ROWS). Split them into smaller batches."
    )


async def test_bulk_then_a_file_within_ten_minutes(services) -> None:
    await services.bulk.expect_file(ADMIN)

    assert await services.bulk.awaits_file(ADMIN)
    assert not await services.bulk.awaits_file(CASHIER)
    await services.bulk.upload(
        b"phone,amount\n0712345678,100\n", file_name="a.csv", by_telegram_id=ADMIN
    )
    assert not await services.bulk.awaits_file(ADMIN)


@pytest.mark.parametrize(
    ("content", "judged"),
    [
        # stray bytes before the header: the header still reads, the row is judged as usual
        (b"\x00\x01phone,amount\n0712345678,1500\n", [(2, BatchRowStatus.QUEUED)]),
        # NUL inside a phone: refused, never cleaned into the valid 0712345678
        (
            b"phone,amount,name\n07\x0012345678,1500,Ann\x00e\n0712345679,2000,Bo\n",
            [(2, BatchRowStatus.REJECTED), (3, BatchRowStatus.QUEUED)],
        ),
    ],
)
async def test_control_characters_in_a_file_are_refused_in_its_report_never_cleaned_away(
    services, content, judged
) -> None:
    """NUL cannot be stored as text in PostgreSQL: a cell holding one is refused with a reason
    that can be recorded (never cleaned into a valid number), and the rest of the file is judged."""
    summary = await services.bulk.upload(content, file_name="nul.csv", by_telegram_id=ADMIN)

    rows = await PayoutBatchRow.filter(batch_id=summary.batch.id).order_by("line")
    assert [(r.line, r.status) for r in rows] == judged
    assert all("\x00" not in (r.error or "") + (r.name or "") for r in rows)
