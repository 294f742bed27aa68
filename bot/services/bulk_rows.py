"""Checking the rows of a bulk payout, before anything is sent: the validation report.

Every row meets exactly the rules of /send (bot/services/payout_rules.py); duplicates within the
list are refused, and a phone that appears on several rows is pointed out.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.services.bulk_files import RawRow
from bot.services.errors import InvalidInput
from bot.services.payout_rules import payout_amount
from bot.services.payout_rules import payout_remarks
from bot.services.payout_rules import payout_route

NAME_LIMIT = 128
REFERENCE_LIMIT = 100
RAW_LIMIT = 32  # how much of a rejected cell we keep to show back
_PLAIN_NUMBER = re.compile(r"[+-][0-9 ]+")


@dataclass(frozen=True)
class CheckedRow:
    """A row as written and as checked: either valid (msisdn, amount) or with its error."""

    line: int
    raw_phone: str
    raw_amount: str
    name: str
    reference: str
    msisdn: str | None = None
    amount: int | None = None
    error: str | None = None
    warning: str | None = None

    @property
    def valid(self) -> bool:
        """True when the row can be paid."""
        return self.error is None


def check_rows(
    rows: Sequence[RawRow], *, settings: Settings, description: str = ""
) -> list[CheckedRow]:
    """Check every row with the payout rules; flag duplicates and repeated phones."""
    checked = [_check(row, settings=settings, description=description) for row in rows]
    first_of: dict[tuple[str, int, str], int] = {}
    phone_line: dict[str, int] = {}
    result = []
    for row in checked:
        if not row.valid or row.msisdn is None or row.amount is None:
            result.append(row)
            continue
        key = (row.msisdn, row.amount, row.reference.casefold())
        if key in first_of:
            result.append(
                _replace(
                    row,
                    error=f"Duplicate of line {first_of[key]} (same phone, amount and reference)",
                )
            )
            continue
        first_of[key] = row.line
        if row.msisdn in phone_line:
            row = _replace(row, warning=f"Same phone as line {phone_line[row.msisdn]}")
        else:
            phone_line[row.msisdn] = row.line
        result.append(row)
    return result


def _check(row: RawRow, *, settings: Settings, description: str) -> CheckedRow:
    raw_phone = str(row.phone).strip()
    raw_amount = str(row.amount).strip() if not isinstance(row.amount, int) else str(row.amount)
    name = " ".join(str(row.name or "").split())
    reference = " ".join(str(row.reference or "").split())
    base = CheckedRow(row.line, raw_phone[:64], raw_amount[:RAW_LIMIT], name, reference)
    try:
        if not raw_phone:
            raise InvalidInput("No phone number", field="phone")
        routed = payout_route(raw_phone, settings=settings)
        msisdn = routed.msisdn
        if raw_amount == "":
            raise InvalidInput("No amount", field="amount")
        amount = payout_amount(row.amount, settings=settings, provider=routed.provider)
        if len(name) > NAME_LIMIT:
            raise InvalidInput(f"The name is longer than {NAME_LIMIT} characters", field="name")
        # the reference is the payout's Remarks; without one, the batch's description
        payout_remarks(reference or description)
    except InvalidInput as exc:
        return _replace(
            base, name=name[:NAME_LIMIT], reference=reference[:REFERENCE_LIMIT], error=str(exc)
        )
    return _replace(base, msisdn=msisdn, amount=amount)


def _replace(row: CheckedRow, **changes: Any) -> CheckedRow:
    return dataclasses.replace(row, **changes)


def rows_from_json(items: Any) -> list[RawRow]:
    """API rows (``[{"phone", "amount", "name"?, "reference"?}]``) as raw rows, line = position.

    Amounts must be JSON integers, as everywhere in the API; a string or a fraction is kept as
    text so the row is refused with the reason rather than guessed.
    """
    if not isinstance(items, list):
        raise InvalidInput("rows must be a list of {phone, amount, name, reference}.", field="rows")
    rows = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            rows.append(RawRow(position, "", "", reference=""))
            continue
        amount = item.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            amount = "" if amount is None else f"{json.dumps(amount)[:20]} (not a JSON integer)"
        rows.append(
            RawRow(
                line=position,
                phone=_text(item.get("phone")),
                amount=amount,
                name=_text(item.get("name")),
                reference=_text(item.get("reference")),
            )
        )
    return rows


def json_rows_hash(rows: Iterable[RawRow]) -> str:
    """A content hash of API rows, so the same list sent twice is recognised like a file."""
    canonical = json.dumps(
        [[r.phone, str(r.amount), r.name, r.reference] for r in rows], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)[:64]


# -- CSV documents --------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A cell for a CSV people open in Excel: formulas are neutralised ("=1+1" -> "'=1+1")."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "@", "\t", "\r"):
        return "'" + text
    if text[:1] in ("+", "-") and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text  # "+254712345678" and "-50" stay as they are
    return text


def csv_document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a BOM (Excel then reads names with accents right), comma separated."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


REJECTED_HEADER = ("line", "phone", "amount", "name", "reference", "reason")


def rejected_csv(rows: Iterable[Any]) -> bytes:
    """The rejected rows (checked or stored), as written, with each reason: fix, upload again."""
    return csv_document(
        REJECTED_HEADER,
        (
            (r.line, r.raw_phone, r.raw_amount, r.name, r.reference, r.error)
            for r in rows
            if r.error is not None
        ),
    )
