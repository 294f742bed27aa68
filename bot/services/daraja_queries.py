"""The part every Daraja query shares: the row asked, then its failure or its ids recorded.

Balance and Transaction Status answers come later by callback, under the ConversationID that
Daraja's first answer names; ``accepted`` records those ids and re-applies a result that beat them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable

from models import CallbackKind
from models import DarajaQuery
from models import QueryStatus
from mpesa.errors import DarajaError
from mpesa.models import AsyncAccepted


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
    replay: Callable[[CallbackKind, str | None], Awaitable[None]],
) -> DarajaQuery:
    """Record the ids the result will come under, replay one that came first; the row now."""
    await DarajaQuery.filter(id=query_id).update(
        conversation_id=answer.conversation_id,
        originator_conversation_id=answer.originator_conversation_id,
    )
    await replay(kind, answer.conversation_id)
    return await DarajaQuery.get(id=query_id)
