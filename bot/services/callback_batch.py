"""Group commit for STK callbacks: one writer stores, applies and commits them in batches.

Each request hands its body to the writer and waits. The writer takes whatever is queued right now
(no timer: under light load a batch is one callback), stores every raw body in one committed INSERT,
then asks the one set of settlement rules (payment_callbacks.judge_callback) about each callback.
The plain "paid" settlements it decides are written in one transaction: the same conditional
updates (the settlement's own columns), audit rows and outbox rows as the per-item path, with one
statement per table. Everything else, and a whole batch whose transaction fails, goes through
CallbackService one by one, in arrival order, exactly as a lone callback would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from enum import Enum
from functools import cache
from functools import partial
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.data import JSON_DUMPS
from tortoise.transactions import in_transaction

from bot.notify.notifier import Notifier
from bot.notify.notifier import OutboxRow
from bot.services.callbacks import CallbackService
from bot.services.callbacks import ack
from bot.services.callbacks import body_text
from bot.services.outcome import ApplyOutcome
from bot.services.payment_callbacks import Settlement
from bot.services.payment_callbacks import judge_callback
from bot.services.payment_callbacks import subject
from models import AuditEvent
from models import CallbackInbox
from models import CallbackKind
from models import Customer
from models import InboxStatus
from models import Notification
from models import NotificationStatus
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Staff
from mpesa.callbacks import StkCallback
from mpesa.callbacks import parse_stk_callback
from mpesa.codes import ResultCategory
from mpesa.codes import describe_result
from mpesa.errors import CallbackParseError
from mpesa.phone import mask_id

log = logging.getLogger(__name__)

# a batch is whatever is queued, up to this many callbacks (SQLite allows 32,766 parameters)
MAX_BATCH = 200

Answer = tuple[int, dict[str, Any]]

_STORE = "INSERT INTO callback_inbox (kind, body, remote_addr, status, error, received_at) VALUES "
_STORE_ROW = "(?, ?, ?, ?, ?, ?)"
_SETTLE_ORDER = (
    "UPDATE orders SET status = ?, paid_receipt = ?, paid_at = ? WHERE id = ? AND status = ?"
)
_AUDIT = (
    "INSERT INTO audit_event (actor, action, subject, outcome, detail, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_OUTBOX = (
    "INSERT INTO notification "
    "(event_key, channel, recipient, payload, status, attempts, next_attempt_at, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING"
)
_MARK = (
    "UPDATE callback_inbox SET status = ?, match_key = ?, error = NULL, processed_at = ? "
    "WHERE id = ? AND status = ?"
)


# PostgreSQL: the same writes, one statement per table over column arrays (see _pg_insert)
_STORE_COLUMNS = ("kind", "body", "remote_addr", "status", "error", "received_at")
_AUDIT_COLUMNS = ("actor", "action", "subject", "outcome", "detail", "created_at")
_OUTBOX_COLUMNS = (
    "event_key",
    "channel",
    "recipient",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_PG_MARK = (
    "UPDATE callback_inbox SET status = $1, match_key = v.match_key, error = NULL, "
    "processed_at = $2 FROM unnest($3::INT[], $4::VARCHAR[]) AS v(id, match_key) "
    "WHERE callback_inbox.id = v.id AND callback_inbox.status = $5"
)


class LostRace(Exception):
    """A conditional update of the batch did not win: the batch is rolled back."""


@dataclass
class _Item:
    body: bytes
    remote: str
    future: asyncio.Future[Answer]
    inbox_id: int = 0
    callback: StkCallback | None = None


@dataclass
class _Settlement:
    """One fast callback and everything its transaction writes."""

    item: _Item
    callback: StkCallback
    payment: Payment
    settlement: Settlement
    order: Order | None = None

    @property
    def paid_at(self) -> datetime:
        """When M-Pesa says the customer paid (the settlement's own column)."""
        return self.settlement.columns["paid_at"]


class IngestBatcher:
    """Ingests STK callbacks through one writer task that commits them in batches."""

    def __init__(
        self,
        callbacks: CallbackService,
        *,
        notifier: Notifier,
        confirm_by_query: bool,
        max_batch: int = MAX_BATCH,
        connection: str = "default",
    ) -> None:
        self._callbacks = callbacks
        self._notifier = notifier
        self._confirm_by_query = confirm_by_query
        self._max_batch = max_batch
        self._connection = connection
        self._queue: list[_Item] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # per-process figures: batches committed and callbacks settled in them
        self.batches = 0
        self.settled = 0

    async def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="stk-ingest-writer")

    async def close(self) -> None:
        """Finish every queued callback, then stop the writer (callbacks after this go inline)."""
        self._closing = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def run(self) -> AsyncIterator[None]:
        """The writer's lifetime as an async generator (for an aiohttp cleanup_ctx)."""
        await self.start()
        yield
        await self.close()

    async def submit(self, body: bytes, remote_addr: str) -> Answer:
        """Ingest one STK callback; return the HTTP status and JSON body once it is committed."""
        if self._task is None or self._closing:
            # shutting down (or never started): the lone path stores and applies it right here
            return await self._callbacks.ingest(CallbackKind.STK, body, remote_addr)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(body, remote_addr, future))
        self._wakeup.set()
        return await future

    # -- the writer ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                await self._process(batch)
            except Exception as exc:
                # nothing may stop the writer; whoever still waits hears of the failure
                log.exception("callback.batch_crashed size=%d", len(batch))
                for item in batch:
                    _fail(item, exc)

    async def _process(self, batch: list[_Item]) -> None:
        try:
            await self._store(batch)
        except Exception:
            log.exception("callback.batch_store_failed size=%d; storing one by one", len(batch))
            for item in batch:
                await self._answer(
                    item, self._callbacks.ingest(CallbackKind.STK, item.body, item.remote)
                )
            return
        candidates = self._candidates(batch)
        settled: list[_Settlement] = []
        if candidates:
            try:
                settled = await self._settle(candidates)
            except Exception:
                # rolled back: every callback of the batch is applied on its own below
                log.exception("callback.batch_failed size=%d; applying one by one", len(batch))
                settled = []
        done = {id(s.item) for s in settled}
        for s in settled:
            self._callbacks.count(CallbackKind.STK, ApplyOutcome.APPLIED.value)
            log.info(
                "callback.applied kind=stk inbox=%s key=%s payment=%s receipt=%s batch=%d",
                s.item.inbox_id,
                mask_id(s.callback.checkout_request_id),
                s.payment.id,
                s.callback.receipt,
                len(settled),
            )
            _resolve(s.item, (200, ack(CallbackKind.STK)))
        for item in batch:
            if id(item) not in done:
                await self._answer(
                    item, self._callbacks.process_stored(item.inbox_id, CallbackKind.STK, item.body)
                )

    async def _answer(self, item: _Item, work: Any) -> None:
        try:
            answer = await work
        except Exception as exc:
            log.exception("callback.failed kind=stk inbox=%s", item.inbox_id or None)
            _fail(item, exc)
            return
        _resolve(item, answer)

    async def _store(self, batch: list[_Item]) -> None:
        """Insert every raw body in one committed statement; give each item its inbox id."""
        db = connections.get(self._connection)
        received_at = _ToDb(db)(CallbackInbox, "received_at", self._callbacks.clock())
        rows: list[list[Any]] = []
        for item in batch:
            text, note = body_text(item.body)
            rows.append(
                [
                    CallbackKind.STK.value,
                    text,
                    item.remote[:64],
                    InboxStatus.RECEIVED.value,
                    note,
                    received_at,
                ]
            )
        if db.capabilities.dialect == "postgres":
            # one statement text for every batch size (asyncpg prepares each text it sees)
            sql = _pg_insert(CallbackInbox, _STORE_COLUMNS, " RETURNING id")
            stored = await db.execute_query_dict(sql, _by_column(rows))
        else:
            sql = _STORE + ", ".join([_STORE_ROW] * len(batch)) + " RETURNING id"
            stored = await db.execute_query_dict(sql, [value for row in rows for value in row])
        # ids grow in row order (VALUES, or the arrays on PostgreSQL); RETURNING promises no order
        ids = sorted(row["id"] for row in stored)
        if len(ids) != len(batch):
            raise RuntimeError(f"stored {len(ids)} of {len(batch)} callbacks")
        for item, inbox_id in zip(batch, ids, strict=True):
            item.inbox_id = inbox_id

    def _candidates(self, batch: list[_Item]) -> list[_Item]:
        """The callbacks that may settle in the batch transaction: parsed, unique successes."""
        if self._confirm_by_query:
            return []
        for item in batch:
            try:
                item.callback = parse_stk_callback(item.body)
            except CallbackParseError:
                item.callback = None
        # a CheckoutRequestID or receipt seen twice in one batch is decided in arrival order
        ids = Counter(i.callback.checkout_request_id for i in batch if i.callback is not None)
        receipts = Counter(i.callback.receipt for i in batch if i.callback and i.callback.receipt)
        fast = []
        categories: dict[tuple[str, str], ResultCategory] = {}  # a batch shares a few results
        for item in batch:
            cb = item.callback
            if cb is None or not cb.receipt:
                continue
            result = (cb.result_code, cb.result_desc)
            if result not in categories:
                categories[result] = describe_result(*result).category
            if (
                ids[cb.checkout_request_id] == 1
                and receipts[cb.receipt] == 1
                and categories[result] is ResultCategory.SUCCESS
            ):
                fast.append(item)
        return fast

    async def _settle(self, items: list[_Item]) -> list[_Settlement]:
        """Settle what can be settled of ``items`` in one transaction; return those settled."""
        async with in_transaction(self._connection) as db:
            found = await self._lock_payments(db, items)
            plan = self._plan(items, found)
            if not plan:
                return []
            await self._load_related(db, plan)
            plan = [s for s in plan if s.order is None or s.order.status == OrderStatus.OPEN]
            if not plan:
                return []
            await self._write(db, plan)
            await self._verify(db, plan)
        self.batches += 1
        self.settled += len(plan)
        return plan

    async def _lock_payments(self, db: BaseDBAsyncClient, items: list[_Item]) -> list[Payment]:
        callbacks = [item.callback for item in items if item.callback is not None]
        checkout_ids = [cb.checkout_request_id for cb in callbacks]
        receipts = [cb.receipt for cb in callbacks]
        # locked until commit on PostgreSQL; SQLite has one writer and one connection per process
        select = _payment_select()
        if db.capabilities.dialect == "postgres":
            # one statement text whatever the batch size: asyncpg prepares it once
            sql = (
                f"{select} WHERE checkout_request_id = ANY($1::text[]) "
                "OR receipt = ANY($2::text[]) ORDER BY id FOR UPDATE"
            )
            _, rows = await db.execute_query(sql, [checkout_ids, receipts])
        else:
            marks = ", ".join("?" * len(callbacks))
            where = f"checkout_request_id IN ({marks}) OR receipt IN ({marks})"
            sql = f"{select} WHERE {where} ORDER BY id"
            _, rows = await db.execute_query(sql, checkout_ids + receipts)
        return read_payments(rows)

    def _plan(self, items: list[_Item], found: list[Payment]) -> list[_Settlement]:
        by_checkout = {p.checkout_request_id: p for p in found}
        stored_receipts = {p.receipt for p in found if p.receipt}
        now = self._callbacks.clock()
        plan: list[_Settlement] = []
        for item in items:
            cb = item.callback
            assert cb is not None  # only parsed callbacks are candidates
            payment = by_checkout.get(cb.checkout_request_id)
            # a receipt already stored elsewhere would fail the unique column: decided alone
            if payment is None or cb.receipt in stored_receipts:
                continue
            verdict = judge_callback(payment, cb, confirm_by_query=False, now=now)
            if isinstance(verdict, Settlement) and verdict.plain_paid:
                plan.append(_Settlement(item, cb, payment, verdict))
        return plan

    async def _load_related(self, db: BaseDBAsyncClient, plan: list[_Settlement]) -> None:
        order_ids = {s.payment.order_id for s in plan if s.payment.order_id is not None}
        if not order_ids:
            return
        orders = {
            o.id: o for o in await Order.filter(id__in=order_ids).select_for_update().using_db(db)
        }
        for s in plan:
            if s.payment.order_id is not None:
                s.order = orders[s.payment.order_id]

    async def _write(self, db: BaseDBAsyncClient, plan: list[_Settlement]) -> None:
        now = datetime.now(UTC)
        to_db = _ToDb(db)  # a batch's settlements mostly share their values: convert each once
        # one moment for the whole batch: it commits at once
        created_at = to_db(AuditEvent, "created_at", now)
        processed_at = to_db(CallbackInbox, "processed_at", self._callbacks.clock())
        first = plan[0].settlement
        columns = sorted(first.values())
        sources = [status.value for status in first.sources]
        pay_sql = (
            f"UPDATE payment SET {', '.join(f'{c} = ?' for c in columns)} "  # noqa: S608 - column names of the settlement
            f"WHERE id = ? AND status IN ({', '.join('?' * len(sources))})"
        )
        meta = Payment._meta
        relations = set(columns) & (meta.fk_fields | meta.o2o_fields)
        pay, settle, audit, marks = [], [], [], []
        for s in plan:
            cb, payment, settlement = s.callback, s.payment, s.settlement
            values = settlement.values()
            if sorted(values) != columns or [v.value for v in settlement.sources] != sources:
                raise LostRace("settlements of one batch must write the same columns")
            pay.append([to_db(Payment, c, values[c]) for c in columns] + [payment.id, *sources])
            # what the per-item path reads back after its update, without the round trip:
            # the row is locked, so it is exactly what was read plus what was written
            if relations:
                for column, value in values.items():
                    setattr(payment, column, value)
            else:
                # no relation among them: all Model.__setattr__ adds is forgetting a pending
                # default, and a payment read from its row has none
                vars(payment).update(values)
            if s.order is not None:
                settle.append(
                    [
                        OrderStatus.PAID.value,
                        cb.receipt,
                        to_db(Order, "paid_at", s.paid_at),
                        s.order.id,
                        OrderStatus.OPEN.value,
                    ]
                )
                s.order.status = OrderStatus.PAID
                s.order.paid_receipt = cb.receipt
                s.order.paid_at = s.paid_at
            audit.append(
                [
                    settlement.actor,
                    settlement.action,
                    subject(payment),
                    settlement.outcome,
                    to_db(AuditEvent, "detail", settlement.detail),
                    created_at,
                ]
            )
            marks.append(
                [
                    InboxStatus.PROCESSED.value,
                    cb.checkout_request_id,
                    processed_at,
                    s.item.inbox_id,
                    InboxStatus.RECEIVED.value,
                ]
            )
        outbox_created = to_db(Notification, "created_at", now)
        due: dict[float, Any] = {}  # first attempt by delay: most rows of a batch share one
        outbox = [
            self._outbox_values(row, outbox_created, due, to_db)
            for row in await self._outbox_rows(db, plan)
        ]
        if db.capabilities.dialect == "postgres":
            await _write_pg(db, columns, sources, pay, audit, outbox, marks)
        else:
            await db.execute_many(pay_sql, pay)
            await db.execute_many(_AUDIT, audit)
            if outbox:
                await db.execute_many(_OUTBOX, outbox)
            await db.execute_many(_MARK, marks)
        if settle:
            await db.execute_many(_dialect(db, _SETTLE_ORDER), settle)

    async def _outbox_rows(self, db: BaseDBAsyncClient, plan: list[_Settlement]) -> list[OutboxRow]:
        """The Notifier's own rows for each paid payment, its related records loaded in bulk."""
        customer_ids = {s.payment.customer_id for s in plan if s.payment.customer_id}
        creator_ids = {s.order.created_by_id for s in plan if s.order and s.order.created_by_id}
        customers = (
            {c.id: c for c in await Customer.filter(id__in=customer_ids).using_db(db)}
            if customer_ids
            else {}
        )
        creators = (
            {c.id: c for c in await Staff.filter(id__in=creator_ids).using_db(db)}
            if creator_ids
            else {}
        )
        rows: list[OutboxRow] = []
        for s in plan:
            rows += self._notifier.payment_rows(
                s.payment,
                order=s.order,
                customer=customers.get(s.payment.customer_id) if s.payment.customer_id else None,
                creator=creators.get(s.order.created_by_id) if s.order else None,
                admin_ids=[],
            )
        return rows

    def _outbox_values(
        self, row: OutboxRow, created_at: Any, due: dict[float, Any], to_db: _ToDb
    ) -> list[Any]:
        if row.delay_s not in due:
            due[row.delay_s] = to_db(Notification, "next_attempt_at", self._notifier.due_at(row))
        return [
            row.event_key[:128],
            row.channel.value,
            row.recipient,
            to_db(Notification, "payload", row.payload),
            NotificationStatus.PENDING.value,
            0,
            due[row.delay_s],
            created_at,
        ]

    async def _verify(self, db: BaseDBAsyncClient, plan: Sequence[_Settlement]) -> None:
        """Check that every conditional update won; raise LostRace (rolling back) otherwise."""
        wanted = {("payment", s.payment.id): s.callback.receipt for s in plan}
        wanted |= {("orders", s.order.id): s.callback.receipt for s in plan if s.order is not None}
        for table, receipt_column, status in (
            ("payment", "receipt", PaymentStatus.PAID.value),
            ("orders", "paid_receipt", OrderStatus.PAID.value),
        ):
            ids = [key for name, key in wanted if name == table]
            if not ids:
                continue
            select = f"SELECT id, status, {receipt_column} AS receipt FROM {table} WHERE "  # noqa: S608 - constant names
            if db.capabilities.dialect == "postgres":
                rows = await db.execute_query_dict(select + "id = ANY($1::INT[])", [ids])
            else:
                rows = await db.execute_query_dict(
                    select + f"id IN ({', '.join('?' * len(ids))})", ids
                )
            now = {row["id"]: (row["status"], row["receipt"]) for row in rows}
            for key in ids:
                if now.get(key) != (status, wanted[(table, key)]):
                    raise LostRace(f"{table} {key} was settled by someone else")


def _db(model: type[Any], field: str, value: Any) -> Any:
    """``value`` as Tortoise itself sends it to the database for ``model.field``."""
    column = model._meta.fields_map[field]
    if value is None and column.null:
        return None  # what to_db_value answers for it, without running the validators
    return column.to_db_value(value, model)


def _json_db(model: type[Any], field: str, value: dict[str, Any] | list[Any]) -> Any:
    """``_db`` for a JSON column, with one encoder made once instead of one per value."""
    column = model._meta.fields_map[field]
    if _JSON is None or column.encoder is not JSON_DUMPS:
        return _db(model, field, value)
    column.validate(value)  # what JSONField.to_db_value does first, then it encodes
    return _JSON.encode(value)


# Tortoise's JSON_DUMPS is json.dumps with keywords (or orjson's, when that is installed):
# the same keywords on one encoder give the same text without building an encoder per call
_JSON = (
    json.JSONEncoder(**JSON_DUMPS.keywords)
    if isinstance(JSON_DUMPS, partial) and JSON_DUMPS.func is json.dumps
    else None
)
_MISSING = object()
# values one converted column may hand to many rows (never a dict or list from a JSON column)
_SHAREABLE = (str, int, float, Enum, datetime, date, time, timedelta)


class _ToDb:
    """``_db`` for one batch, converting each distinct (field, value) once (the same answer).

    On SQLite a date or time is also handed over as the text its registered sqlite3 adapter
    makes (what the driver would do for every row, through a Python call per value).
    """

    def __init__(self, db: BaseDBAsyncClient) -> None:
        self._seen: dict[tuple[Any, ...], Any] = {}
        self._sqlite = db.capabilities.dialect == "sqlite"

    def __call__(self, model: type[Any], field: str, value: Any) -> Any:
        if value is None and model._meta.fields_map[field].null:
            return None  # what _db answers for it
        if isinstance(value, dict | list):  # JSON: unhashable, and mostly different each time
            return _json_db(model, field, value)
        # equal is not the same: 1, 1.0 and True; one instant in two time zones
        key = (model, field, type(value), value, getattr(value, "tzinfo", None))
        converted = self._seen.get(key, _MISSING)
        if converted is _MISSING:
            converted = _db(model, field, value)
            if self._sqlite and isinstance(converted, date | time):
                adapter = sqlite3.adapters.get((type(converted), sqlite3.PrepareProtocol))
                if adapter is not None:
                    converted = adapter(converted)
            self._seen[key] = converted
        return converted


def read_payments(rows: Sequence[Any]) -> list[Payment]:
    """Payments from the driver's full rows, exactly as ``Model._init_from_db`` builds them.

    Tortoise sets each of the 40 columns with its own call (some 40 µs a row, most of the
    batch's locking SELECT); here the driver's values land in the instance in one update, and
    the columns Tortoise converts go through its own converters, each distinct value once.
    """
    meta = Payment._meta
    renamed = [(key, name) for key, name, _ in meta.db_native_fields if key != name]
    by_type = [(key, name, field.field_type) for key, name, field in meta.db_default_fields]
    by_field = [(key, name, field) for key, name, field in meta.db_complex_fields]
    custom_pk = meta.db_pk_column not in meta.generated_db_fields
    seen: dict[tuple[Any, ...], Any] = {}
    # what each converted column makes of NULL (most of a payment's columns), when immutable
    nulls = {key: field.to_python_value(None) for key, _, field in by_field}
    nulls = {
        key: value for key, value in nulls.items() if value is None or isinstance(value, _SHAREABLE)
    }
    payments: list[Payment] = []
    if not rows:
        return payments
    # the driver's rows (sqlite3.Row, asyncpg Record) by position: the names are looked up once,
    # where dict(row) looks each one up by name (sqlite3.Row compares every name, 40 x 40)
    names = list(rows[0].keys())
    for row in rows:
        values = dict(zip(names, row, strict=True))
        for key, name in renamed:
            values[name] = values.pop(key)
        for key, name, field_type in by_type:
            raw = values.pop(key)
            values[name] = None if raw is None else field_type(raw)
        for key, name, field in by_field:
            raw = values.pop(key)
            if raw is None and key in nulls:
                values[name] = nulls[key]
                continue
            memo = (key, type(raw), raw, getattr(raw, "tzinfo", None))
            try:
                value = seen.get(memo, _MISSING)
            except TypeError:  # an unhashable value from the driver: converted every time
                value = memo = None
            if value is _MISSING or memo is None:
                value = field.to_python_value(raw)
                if memo is not None and (value is None or isinstance(value, _SHAREABLE)):
                    seen[memo] = value  # immutable: payments may share it
            values[name] = value
        payment = Payment.__new__(Payment)
        vars(payment).update(
            values,
            _partial=False,
            _saved_in_db=True,
            _custom_generated_pk=custom_pk,
            _await_when_save={},
        )
        payments.append(payment)
    return payments


@cache
def _payment_select() -> str:
    """SELECT of every payment column (known once Tortoise is initialised), without its WHERE."""
    columns = ", ".join(f'"{column}"' for column in sorted(Payment._meta.db_fields))
    return f"SELECT {columns} FROM payment"  # noqa: S608 - the model's own column names


_PLACEHOLDERS: dict[str, str] = {}


def _dialect(db: BaseDBAsyncClient, sql: str) -> str:
    """``sql`` with ``?`` placeholders rewritten as ``$1, $2, ...`` for PostgreSQL."""
    if db.capabilities.dialect != "postgres":
        return sql
    converted = _PLACEHOLDERS.get(sql)
    if converted is None:
        parts = sql.split("?")
        converted = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        if len(_PLACEHOLDERS) < 1024:  # the IN lists vary with the batch size
            _PLACEHOLDERS[sql] = converted
    return converted


async def _write_pg(
    db: BaseDBAsyncClient,
    columns: list[str],
    sources: list[str],
    pay: list[list[Any]],
    audit: list[list[Any]],
    outbox: list[list[Any]],
    marks: list[list[Any]],
) -> None:
    """The batch's writes on PostgreSQL: one statement per table over column arrays.

    asyncpg's executemany binds and sends every row from Python; unnest() takes each column as
    one parameter, and each statement's text is the same whatever the batch size.
    """
    by_column = _by_column(pay)  # the settlement's columns, then the id, then the sources
    ids = by_column[len(columns)]
    await db.execute_query(_pg_settle(tuple(columns)), [ids, *by_column[: len(columns)], sources])
    await db.execute_query(_pg_insert(AuditEvent, _AUDIT_COLUMNS), _by_column(audit))
    if outbox:
        sql = _pg_insert(Notification, _OUTBOX_COLUMNS, " ON CONFLICT (event_key) DO NOTHING")
        await db.execute_query(sql, _by_column(outbox))
    status, _, processed_at, _, expected = marks[0]  # the same for every row of a batch
    inbox_ids = [row[3] for row in marks]
    keys = [row[1] for row in marks]
    await db.execute_query(_PG_MARK, [status, processed_at, inbox_ids, keys, expected])


def _by_column(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as columns (the arrays unnest() reads)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _pg_array(model: type[Any], column: str) -> str:
    """The array type a column's values are sent as: its own type, a VARCHAR without length.

    Casting to VARCHAR(n) would cut a longer value; the column itself refuses it, as before.
    """
    sql_type = model._meta.fields_map[column].get_for_dialect("postgres", "SQL_TYPE")
    return sql_type.split("(", 1)[0] + "[]"


@cache
def _pg_insert(model: type[Any], columns: tuple[str, ...], suffix: str = "") -> str:
    """INSERT of many rows from one array per column ($1 = the first column's values, ...)."""
    arrays = ", ".join(f"${n}::{_pg_array(model, c)}" for n, c in enumerate(columns, 1))
    table = model._meta.db_table
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}){suffix}"  # noqa: S608 - the model's own names


@cache
def _pg_settle(columns: tuple[str, ...]) -> str:
    """The settlement UPDATE of many payments: $1 ids, then one array per column, then the
    statuses they may leave (the conditional update of the per-item path, row by row)."""
    arrays = ", ".join(f"${n}::{_pg_array(Payment, c)}" for n, c in enumerate(columns, 2))
    assign = ", ".join(f'"{c}" = v."{c}"' for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f"UPDATE payment SET {assign} FROM unnest($1::INT[], {arrays}) AS v(id, {names}) "  # noqa: S608 - the settlement's column names
        f"WHERE payment.id = v.id AND payment.status = ANY(${len(columns) + 2}::VARCHAR[])"
    )


def _resolve(item: _Item, answer: Answer) -> None:
    if not item.future.done():  # a request whose client went away is still applied
        item.future.set_result(answer)


def _fail(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
