"""Status lifecycles: the allowed moves, and refusal of everything else."""

from __future__ import annotations

import pytest

from models.enums import PAYMENT_TRANSITIONS
from models.enums import PAYOUT_TRANSITIONS
from models.enums import IllegalTransition
from models.enums import PaymentStatus
from models.enums import PayoutStatus
from models.enums import check_transition
from models.enums import sources_for


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (PaymentStatus.CREATED, PaymentStatus.PENDING),
        (PaymentStatus.PENDING, PaymentStatus.PAID),
        (PaymentStatus.PENDING, PaymentStatus.CANCELLED),
        (PaymentStatus.UNKNOWN, PaymentStatus.FAILED),
        (PaymentStatus.REVIEW, PaymentStatus.PAID),
    ],
)
def test_allowed_payment_moves_pass_the_check_and_the_conditional_update(current, wanted):
    check_transition("payment", PAYMENT_TRANSITIONS, current, wanted)  # raises when refused

    # the claim is UPDATE ... WHERE status IN sources_for(wanted): the move must be in it
    assert current in sources_for(PAYMENT_TRANSITIONS, wanted)


@pytest.mark.parametrize("current", list(PaymentStatus))
def test_the_check_refuses_exactly_the_moves_the_table_does_not_list(current):
    refused = set()
    for wanted in PaymentStatus:
        try:
            check_transition("payment", PAYMENT_TRANSITIONS, current, wanted)
        except IllegalTransition:
            refused.add(wanted)

    assert refused == set(PaymentStatus) - PAYMENT_TRANSITIONS[current]


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (PaymentStatus.PAID, PaymentStatus.CANCELLED),
        (PaymentStatus.PAID, PaymentStatus.PENDING),
        (PaymentStatus.CANCELLED, PaymentStatus.PAID),
        (PaymentStatus.CREATED, PaymentStatus.PAID),
    ],
)
def test_illegal_payment_moves_are_errors(current, wanted):
    with pytest.raises(IllegalTransition) as caught:
        check_transition("payment", PAYMENT_TRANSITIONS, current, wanted)

    assert str(caught.value) == f"payment cannot go from {current.value} to {wanted.value}"


def test_every_status_has_an_entry_and_final_ones_lead_nowhere():
    assert set(PAYMENT_TRANSITIONS) == set(PaymentStatus)
    assert set(PAYOUT_TRANSITIONS) == set(PayoutStatus)
    for status in PayoutStatus:
        if status.is_final:
            assert PAYOUT_TRANSITIONS[status] == frozenset()


def test_sources_for_lists_where_a_status_can_be_reached_from():
    assert set(sources_for(PAYOUT_TRANSITIONS, PayoutStatus.SUBMITTING)) == {
        PayoutStatus.AWAITING_CONFIRMATION,
        PayoutStatus.AWAITING_APPROVAL,
    }
    assert sources_for(PAYMENT_TRANSITIONS, PaymentStatus.CREATED) == []


def test_retryable_payment_statuses():
    assert PaymentStatus.CANCELLED.can_retry
    assert PaymentStatus.TIMED_OUT.can_retry
    assert not PaymentStatus.PAID.can_retry
    assert not PaymentStatus.PENDING.can_retry
