"""Reading a bulk payout file: CSV or XLSX as people really save them, into raw rows.

Nothing here judges a phone or an amount (the payout rules do, row by row); this module finds the
columns, the rows and their line numbers, and refuses files it cannot read with the reason:
UTF-8 with or without a BOM (Excel's "CSV UTF-8"), UTF-16 (Excel's "Unicode text"), or Windows-1252
(Excel's plain "CSV"); `,`, `;` or tab separated; header names matched loosely, in any order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime

from bot.services.errors import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format
COLUMNS = ("phone", "amount", "name", "reference")
# normalised header (lower case, letters and digits only) -> column; exact names first
_EXACT = {
    "phone": {
        "phone",
        "phonenumber",
        "phoneno",
        "msisdn",
        "mobile",
        "mobilenumber",
        "mobileno",
        "mpesa",
        "mpesanumber",
        "mpesaphone",
        "tel",
        "telephone",
        "cell",
        "cellphone",
        "number",
        "recipientphone",
        "simu",
        "nambari",
    },
    "amount": {
        "amount",
        "amountkes",
        "amountksh",
        "amountkshs",
        "kes",
        "ksh",
        "kshs",
        "sum",
        "pay",
        "payment",
        "netpay",
        "value",
        "kiasi",
    },
    "name": {
        "name",
        "names",
        "fullname",
        "recipient",
        "recipientname",
        "payee",
        "beneficiary",
        "employee",
        "employeename",
        "customer",
        "customername",
        "jina",
    },
    "reference": {
        "reference",
        "ref",
        "refno",
        "reason",
        "description",
        "narration",
        "narrative",
        "note",
        "notes",
        "remarks",
        "comment",
        "memo",
        "purpose",
        "details",
        "occasion",
        "sababu",
    },
}
# then a header containing one of these words (e.g. "Recipient phone no.", "Amount (KES)")
_CONTAINS = (
    ("phone", ("phone", "msisdn", "mobile", "mpesa", "simu")),
    ("amount", ("amount", "kes", "ksh", "kiasi")),
    ("reference", ("reference", "reason", "narration", "description", "remark", "purpose")),
    ("name", ("name", "recipient", "payee", "beneficiary", "employee")),
)
# control characters (NUL included) cannot be stored as text in PostgreSQL and mean nothing in a
# payout list: shown as U+FFFD, so a cell holding one is refused by the row rules, never cleaned
# into a valid number, and its reason can be recorded and shown
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOOKS_LIKE_PHONE = re.compile(r"\+?[0-9][0-9 ()\-.]{7,16}")


@dataclass(frozen=True)
class RawRow:
    """One data row as written: its line (or spreadsheet row) number and its four cells."""

    line: int
    phone: str
    amount: str | int
    name: str = ""
    reference: str = ""


@dataclass(frozen=True)
class BulkFile:
    """What a file holds: its rows, how it was read, and its content hash (to spot re-uploads)."""

    rows: list[RawRow]
    file_format: str  # csv | xlsx
    content_hash: str
    headers: dict[str, str] = field(default_factory=dict)  # column -> the header as written
    ignored_headers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # how the file was read, when it is worth saying


class BulkFileError(InvalidInput):
    """The file cannot be used at all; str() says why and what to do."""


def content_hash(content: bytes) -> str:
    """Hex SHA-256 of the file's bytes."""
    return hashlib.sha256(content).hexdigest()


def size_text(size: int) -> str:
    """Bytes as people read them: 2097152 -> "2 MB", 1536 -> "1.5 KB"."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            tenths = size * 10 // scale
            whole, rest = divmod(tenths, 10)
            return f"{whole}.{rest} {unit}" if rest else f"{whole} {unit}"
    return f"{size} bytes"


def read_bulk_file(
    content: bytes, *, file_name: str | None = None, max_bytes: int, max_rows: int
) -> BulkFile:
    """Read a CSV or XLSX payout list; BulkFileError when it is too big or unreadable."""
    if len(content) > max_bytes:
        raise BulkFileError(
            f"The file is {size_text(len(content))}; the limit is {size_text(max_bytes)} "
            "(BULK_MAX_FILE_BYTES). Split it into smaller files.",
            field="file",
        )
    if not content.strip():
        raise BulkFileError("The file is empty.", field="file")
    digest = content_hash(content)
    name = (file_name or "").lower()
    if content.startswith(XLS_MAGIC) or name.endswith(".xls"):
        raise BulkFileError(
            "This is an old Excel (.xls) file; save it as .xlsx or as CSV and send it again.",
            field="file",
        )
    if content.startswith(XLSX_MAGIC):
        table, notes = _xlsx_cells(content, max_rows=max_rows), ()
        file_format = "xlsx"
    else:
        text, encoding_note = _decode(content)
        table = _csv_cells(_CONTROL.sub("\ufffd", text))
        notes = (encoding_note,) if encoding_note else ()
        file_format = "csv"
    return _rows(table, file_format=file_format, digest=digest, max_rows=max_rows, notes=notes)


# -- CSV ------------------------------------------------------------------------------------


def _decode(content: bytes) -> tuple[str, str | None]:
    """The text of a CSV file, and a note when it was not plain UTF-8."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace"), None
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16"), None
        except UnicodeDecodeError:
            raise BulkFileError(
                "The file says it is UTF-16 but is not readable as such; save it as CSV UTF-8.",
                field="file",
            ) from None
    try:
        return content.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    if b"\x00" in content:
        raise BulkFileError(
            "This does not look like a CSV or XLSX file; save the list as CSV or XLSX.",
            field="file",
        )
    # Excel's plain "CSV" on Windows: every byte is a character, so this always decodes
    return content.decode("cp1252", errors="replace"), "read as Windows-1252 (not UTF-8)"


def _delimiter(text: str) -> str:
    """`;`, `,` or tab: whichever the first non-blank line holds most of, outside quotes."""
    for line in text.splitlines():
        if not line.strip():
            continue
        unquoted = re.sub(r'"[^"]*"', "", line)
        counts = {d: unquoted.count(d) for d in (";", ",", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","
    return ","


def _csv_cells(text: str) -> Iterator[tuple[int, list[object]]]:
    """(line number, cells) of every record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    start = 1
    try:
        for cells in reader:
            yield start, list(cells)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BulkFileError(
            f"Line {reader.line_num} of the file cannot be read as CSV ({exc}).", field="file"
        ) from None


# -- XLSX -----------------------------------------------------------------------------------


def _xlsx_cells(content: bytes, *, max_rows: int) -> Iterator[tuple[int, list[object]]]:
    """(row number, cell values) of the first sheet; stops a little past the row limit."""
    from openpyxl import load_workbook  # only bulk uploads need it

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BulkFileError(
            f"The spreadsheet cannot be opened ({type(exc).__name__}); save it again as .xlsx "
            "or CSV.",
            field="file",
        ) from None
    try:
        sheet = book.worksheets[0]
        seen = 0
        # header, blank lines and a margin: enough to tell "over the limit" without reading more
        budget = max_rows + 1
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = list(values)
            if any(_cell_text(c) for c in cells):
                seen += 1
                if seen > budget + 1:
                    return
            yield number, cells
    finally:
        book.close()


# -- rows -----------------------------------------------------------------------------------


def _rows(
    table: Iterator[tuple[int, list[object]]],
    *,
    file_format: str,
    digest: str,
    max_rows: int,
    notes: tuple[str, ...],
) -> BulkFile:
    rows: list[RawRow] = []
    positions: dict[str, int] | None = None
    headers: dict[str, str] = {}
    ignored: tuple[str, ...] = ()
    all_notes = list(notes)
    data_rows = 0
    for line, cells in table:
        texts = [_cell_text(c) for c in cells]
        if not any(texts):
            continue  # blank lines, and lines of empty separators (";;;")
        if positions is None:
            positions, headers, ignored = _header(texts)
            if positions:
                continue
            # no header: the columns are phone, amount, name, reference, in that order
            positions = {column: i for i, column in enumerate(COLUMNS)}
            all_notes.append("no header row: columns read as phone, amount, name, reference")
        data_rows += 1
        if data_rows > max_rows:
            raise BulkFileError(
                f"The file has more than {max_rows:,} rows; at most {max_rows:,} per batch "
                "(BULK_MAX_ROWS). Split it into smaller files.",
                field="file",
            )
        rows.append(_row(line, cells, texts, positions))
    if positions is None:
        raise BulkFileError("The file has no rows.", field="file")
    if not rows:
        raise BulkFileError("The file has a header but no rows to pay.", field="file")
    return BulkFile(
        rows=rows,
        file_format=file_format,
        content_hash=digest,
        headers=headers,
        ignored_headers=ignored,
        notes=tuple(all_notes),
    )


def _header(texts: list[str]) -> tuple[dict[str, int], dict[str, str], tuple[str, ...]]:
    """Column positions named by a header row ({} when the row is data, not a header)."""
    found: dict[str, int] = {}
    for i, text in enumerate(texts):
        key = re.sub(r"[^a-z0-9]", "", text.lower())
        column = next((c for c, names in _EXACT.items() if key in names), None)
        if column is not None and column not in found:
            found[column] = i
    for i, text in enumerate(texts):
        if i in found.values():
            continue
        key = re.sub(r"[^a-z0-9]", "", text.lower())
        for column, words in _CONTAINS:
            if column not in found and key and any(word in key for word in words):
                found[column] = i
                break
    if "phone" in found and "amount" in found:
        headers = {column: texts[i] for column, i in found.items()}
        ignored = tuple(t for i, t in enumerate(texts) if t and i not in found.values())
        return found, headers, ignored
    if texts and _LOOKS_LIKE_PHONE.fullmatch(texts[0]):
        return {}, {}, ()  # the first row is already data
    missing = " and ".join(c for c in ("phone", "amount") if c not in found)
    shown = ", ".join(t for t in texts if t) or "nothing"
    raise BulkFileError(
        f"No {missing} column found. The first row must name the columns: phone, amount, and "
        f"optionally name and reference (found: {shown[:200]}).",
        field="file",
    )


def _row(line: int, cells: list[object], texts: list[str], positions: dict[str, int]) -> RawRow:
    def text(column: str) -> str:
        i = positions.get(column)
        return texts[i] if i is not None and i < len(texts) else ""

    amount_index = positions["amount"]
    amount_cell = cells[amount_index] if amount_index < len(cells) else None
    return RawRow(
        line=line,
        phone=_phone_text(cells[positions["phone"]] if positions["phone"] < len(cells) else ""),
        amount=_amount_value(amount_cell),
        name=text("name"),
        reference=text("reference"),
    )


def _cell_text(value: object) -> str:
    """A cell as text, trimmed (spreadsheet numbers without a spurious ".0")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _CONTROL.sub("\ufffd", str(value).replace("\ufeff", "")).strip()


def _phone_text(value: object) -> str:
    """A phone cell: spreadsheets store 0712345678 as the number 712345678, which still reads."""
    return _cell_text(value)


def _amount_value(value: object) -> str | int:
    """An amount cell: numbers stay numbers when whole; anything else is judged as text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # 1500.0 is whole shillings; 1500.5 is refused by the payout rules, never rounded
        return int(value) if value.is_integer() else repr(value)
    return _cell_text(value)
