"""The part every Daraja query shares: the row asked, then its failure or its ids recorded.

Balance and Transaction Status answers come later by callback, under the ConversationID that
Daraja's first answer names; ``accepted`` records those ids and re-applies a result that beat them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.outcome import ReplayUnmatched
from bot.services.outcome import replay_early
from models import CallbackKind
from models import DarajaQuery
from models import Payout
from models import QueryKind
from models import QueryStatus
from models import Reversal
from models import Staff
from mpesa.errors import DarajaError
from mpesa.models import AsyncAccepted

if TYPE_CHECKING:
    from bot.services.intents import Intents
    from bot.services.intents import Lease


async def status_asked(
    record: Payout | Reversal,
    *,
    next_query_at: datetime,
    intents: Intents,
    lease: Lease | None,
    asked_by: Staff | None,
    chat_id: int | None,
) -> DarajaQuery:
    """Record a Transaction Status question about a payout or reversal (caller's transaction):
    the query row, one more ask counted, the next one due at ``next_query_at``, and the
    reconciler's lease (when it holds one) released."""
    about = {"payout": record} if isinstance(record, Payout) else {"reversal": record}
    query = await DarajaQuery.create(
        kind=QueryKind.TRANSACTION_STATUS, requested_by=asked_by, chat_id=chat_id, **about
    )
    await intents.asked(record, lease=lease, next_query_at=next_query_at)
    return query


async def failed(query_id: int, exc: DarajaError) -> DarajaQuery:
    """Record that Daraja could not be asked (FAILED, with its reason); the row as it is now."""
    await DarajaQuery.filter(id=query_id).update(
        status=QueryStatus.FAILED, result={"error": str(exc)}
    )
    return await DarajaQuery.get(id=query_id)


async def accepted(
    query_id: int,
    answer: AsyncAccepted,
    kind: CallbackKind,
    replay_unmatched: ReplayUnmatched | None,
) -> DarajaQuery:
    """Record the ids the result will come under, replay one that came first; the row now."""
    await DarajaQuery.filter(id=query_id).update(
        conversation_id=answer.conversation_id,
        originator_conversation_id=answer.originator_conversation_id,
    )
    await replay_early(replay_unmatched, kind, answer.conversation_id)
    return await DarajaQuery.get(id=query_id)
