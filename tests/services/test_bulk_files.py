"""Reading bulk payout files as people really save them, and checking their rows like /send."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.services.bulk_files import BulkFileError
from bot.services.bulk_files import RawRow
from bot.services.bulk_files import content_hash
from bot.services.bulk_files import read_bulk_file
from bot.services.bulk_files import size_text
from bot.services.bulk_rows import check_rows
from bot.services.bulk_rows import csv_cell
from bot.services.bulk_rows import rejected_csv
from bot.services.bulk_rows import rows_from_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bulk"
LIMITS = {"max_bytes": 2 * 1024 * 1024, "max_rows": 5000}


def read(content: bytes, name: str = "list.csv", **limits: int):
    return read_bulk_file(content, file_name=name, **{**LIMITS, **limits})


def test_a_messy_real_world_file_is_read_and_every_row_judged(settings) -> None:
    content = (FIXTURES / "messy.csv").read_bytes()

    parsed = read(content)
    checked = check_rows(parsed.rows, settings=settings)

    assert parsed.headers == {
        "phone": "Phone Number",
        "amount": "Amount (KES)",
        "name": "Name",
        "reference": "Reason",
    }
    assert parsed.content_hash == content_hash(content)
    assert [(r.line, r.msisdn, r.amount, r.error, r.warning) for r in checked] == [
        (3, "254712345678", 1500, None, None),
        (4, None, None, "0733 123 456 is an Airtel number; M-Pesa needs Safaricom", None),
        (
            6,
            None,
            None,
            "1,500.50 is not a whole number of shillings; M-Pesa moves whole shillings only",
            None,
        ),
        (
            7,
            "254712345678",
            1500,
            "Duplicate of line 3 (same phone, amount and reference)",
            None,
        ),
        (8, "254722000099", 2000, None, None),
        (9, "254708374149", 3000, None, None),
        (10, None, None, "KES 5 is below the KES 10 minimum", None),
        (12, None, None, "0020 123 4567 is not a Kenyan number", None),
        (13, "254722000032", 250000, None, None),
        (14, None, None, "No amount", None),
    ]
    assert [r.name for r in checked if r.line == 9] == ["Akinyi; Mary"]


def test_the_same_phone_with_another_amount_is_sent_but_pointed_out(settings) -> None:
    rows = [RawRow(2, "0712345678", 1000, "Jane", "Wages"), RawRow(3, "0712 345 678", 200, "", "")]

    checked = check_rows(rows, settings=settings, description="Wages")

    assert [(r.error, r.warning) for r in checked] == [(None, None), (None, "Same phone as line 2")]


def test_headers_in_any_order_comma_separated_without_bom(settings) -> None:
    content = (
        b"Ref,KES,Recipient,Mobile No.\n"
        b"Nov wages,1500,Jane,0712345678\n"
        b'Bonus,"2,000",Juma,254722000099\n'
    )

    parsed = read(content)

    assert parsed.headers == {
        "reference": "Ref",
        "amount": "KES",
        "name": "Recipient",
        "phone": "Mobile No.",
    }
    assert parsed.rows == [
        RawRow(2, "0712345678", "1500", "Jane", "Nov wages"),
        RawRow(3, "254722000099", "2,000", "Juma", "Bonus"),
    ]


def test_unknown_columns_are_ignored_and_named() -> None:
    parsed = read(b"Staff no;Phone;Amount;Department\n17;0712345678;900;Stores\n")

    assert parsed.ignored_headers == ("Staff no", "Department")
    assert parsed.rows == [RawRow(2, "0712345678", "900")]


def test_a_file_without_a_header_is_read_as_phone_amount_name_reference() -> None:
    parsed = read(b"0712345678,1500,Jane,Wages\n0722000099,800\n")

    assert parsed.rows == [
        RawRow(1, "0712345678", "1500", "Jane", "Wages"),
        RawRow(2, "0722000099", "800"),
    ]
    assert parsed.notes == ("no header row: columns read as phone, amount, name, reference",)


def test_a_header_without_an_amount_column_is_refused_naming_what_was_found() -> None:
    with pytest.raises(BulkFileError) as caught:
        read(b"Phone,Name\n0712345678,Jane\n")

    assert str(caught.value) == (
        "No amount column found. The first row must name the columns: phone, amount, and "
        "optionally name and reference (found: Phone, Name)."
    )


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("utf-16", b""), ("cp1252", b""), ("utf-8", b"\xef\xbb\xbf")]
)
def test_excel_encodings_keep_the_names(encoding: str, prefix: bytes) -> None:
    text = "phone\tamount\tname\r\n0712345678\t1500\tRenée Wairimu\r\n"

    parsed = read(prefix + text.encode(encoding))

    assert parsed.rows == [RawRow(2, "0712345678", "1500", "Renée Wairimu")]


def test_a_quoted_cell_over_two_lines_keeps_the_line_numbers_right() -> None:
    content = b'phone,amount,reference\n0712345678,100,"two\nlines"\n0722000099,200,x2\n'

    parsed = read(content)

    assert [(r.line, r.reference) for r in parsed.rows] == [(2, "two\nlines"), (4, "x2")]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_numbers_are_read_as_phones_and_whole_shillings(settings) -> None:
    content = xlsx(
        [
            ["Amount", "Phone", "Name"],
            [1500, 712345678, "Jane"],  # Excel drops the leading zero of a phone
            [None, None, None],
            [2500.0, "0722 000 099", "Juma"],
            [99.5, 254708374149, "Akinyi"],
        ]
    )

    parsed = read(content, name="wages.xlsx")
    checked = check_rows(parsed.rows, settings=settings)

    assert parsed.file_format == "xlsx"
    assert [(r.line, r.msisdn, r.amount, r.error) for r in checked] == [
        (2, "254712345678", 1500, None),
        (4, "254722000099", 2500, None),
        (
            5,
            None,
            None,
            "99.5 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
    ]


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named() -> None:
    with pytest.raises(BulkFileError) as caught:
        read(b"phone,amount\n" + b"0712345678,100\n" * 200, max_bytes=1024)

    assert str(caught.value) == (
        "The file is 2.9 KB; the limit is 1 KB (BULK_MAX_FILE_BYTES). Split it into smaller files."
    )


@pytest.mark.parametrize("name", ["list.csv", "list.xlsx"])
def test_a_file_over_the_row_limit_is_refused_with_the_limit_named(name: str) -> None:
    rows = [["phone", "amount"]] + [["0712345678", 100 + i] for i in range(6)]
    if name.endswith(".xlsx"):
        content = xlsx(rows)
    else:
        content = "\n".join(",".join(str(c) for c in row) for row in rows).encode()

    with pytest.raises(BulkFileError) as caught:
        read(content, name=name, max_rows=5)

    assert str(caught.value) == (
        "The file has more than 5 rows; at most 5 per batch (BULK_MAX_ROWS). "
        "Split it into smaller files."
    )
    assert read(content, name=name, max_rows=6).rows[-1].line == 7


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"", "a.csv", "The file is empty."),
        (b"\n\n ;; \n", "a.csv", "The file has no rows."),
        (b"phone,amount\n\n", "a.csv", "The file has a header but no rows to pay."),
        (
            b"\xd0\xcf\x11\xe0rest",
            "old.xls",
            "This is an old Excel (.xls) file; save it as .xlsx or as CSV and send it again.",
        ),
        (
            b"PK\x03\x04broken",
            "a.xlsx",
            "The spreadsheet cannot be opened (BadZipFile); save it again as .xlsx or CSV.",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\xff",
            "photo.png",
            "This does not look like a CSV or XLSX file; save the list as CSV or XLSX.",
        ),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(content, name, reason) -> None:
    with pytest.raises(BulkFileError) as caught:
        read(content, name=name)

    assert str(caught.value) == reason


def test_sizes_read_like_people_write_them() -> None:
    assert [size_text(n) for n in (900, 1536, 2 * 1024 * 1024, 5_500_000)] == [
        "900 bytes",
        "1.5 KB",
        "2 MB",
        "5.2 MB",
    ]


def test_api_rows_need_json_integer_amounts(settings) -> None:
    rows = rows_from_json(
        [
            {"phone": "0712345678", "amount": 1500, "name": "Jane", "reference": "Wages"},
            {"phone": "0722000099", "amount": "1500"},
            {"phone": "0708374149", "amount": 1500.5},
            "not an object",
        ]
    )

    checked = check_rows(rows, settings=settings, description="Wages")

    assert [(r.line, r.amount, r.error) for r in checked] == [
        (1, 1500, None),
        (2, None, '"1500" (not a JSON integer) is not an amount; enter whole shillings, e.g. 1500'),
        (3, None, "1500.5 (not a JSON integer) is not an amount; enter whole shillings, e.g. 1500"),
        (4, None, "No phone number"),
    ]


def test_rejected_rows_come_back_as_a_csv_to_fix(settings) -> None:
    checked = check_rows(
        [RawRow(2, "0733123456", "100", "=HYPERLINK(1)", "Wages"), RawRow(3, "0712345678", 50)],
        settings=settings,
        description="Wages",
    )

    document = rejected_csv(checked).decode("utf-8-sig")

    assert document.splitlines() == [
        "line,phone,amount,name,reference,reason",
        "2,0733123456,100,'=HYPERLINK(1),Wages,0733123456 is an Airtel number; M-Pesa needs "
        "Safaricom",
    ]


def test_csv_cells_never_become_formulas_but_phones_stay_numbers() -> None:
    assert [csv_cell(v) for v in ("=1+1", "@SUM", "+254712345678", "-50", "-x", None)] == [
        "'=1+1",
        "'@SUM",
        "+254712345678",
        "-50",
        "'-x",
        "",
    ]
