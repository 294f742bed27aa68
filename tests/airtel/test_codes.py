"""Airtel's code tables: the transaction status decides, then DP, ESB, ROUTER and HTTP."""

from __future__ import annotations

import pytest

from airtel.codes import Api
from airtel.codes import Outcome
from airtel.codes import ResultCategory
from airtel.codes import TransactionStatus
from airtel.codes import all_codes
from airtel.codes import describe

# airtel.md §8.5: the "outcome unknown, enquire later" set, by the API that reports it
UNKNOWN = [
    (Api.COLLECTION, {"status": "TA"}),
    (Api.DISBURSEMENT, {"status": "TA"}),
    (Api.COLLECTION, {"response_code": "DP00800001000"}),
    (Api.DISBURSEMENT, {"response_code": "DP00900001000"}),
    (Api.DISBURSEMENT, {"response_code": "DP00900001014"}),
    (Api.DISBURSEMENT, {"response_code": "DP00900001011"}),
    (Api.DISBURSEMENT, {"response_code": "DP00900001017"}),
    (Api.COLLECTION, {"result_code": "ESB000001"}),
    (Api.COLLECTION, {"result_code": "ESB000004"}),
    (Api.COLLECTION, {"result_code": "ESB000041"}),
    (Api.COLLECTION, {"router_code": "ROUTER117"}),
    (Api.DISBURSEMENT, {"http_status": 408}),
    (Api.DISBURSEMENT, {"http_status": 429}),
    (Api.COLLECTION, {"http_status": 503}),
    (Api.REFUND, {"response_code": "DP00800009999", "success": False}),
    (Api.DISBURSEMENT, {}),
]


@pytest.mark.parametrize(("api", "fields"), UNKNOWN)
def test_the_enquire_later_set_is_outcome_unknown(api, fields):
    assert describe(api=api, **fields).outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("api", "fields"),
    [(Api.COLLECTION, {"status": "TIP"}), (Api.DISBURSEMENT, {"response_code": "DP00900001006"})],
)
def test_in_progress_is_pending_and_asks_for_an_enquiry(api, fields):
    info = describe(api=api, **fields)

    assert (info.outcome, info.outcome.enquire) == (Outcome.PENDING, True)


def test_the_transaction_status_wins_over_the_response_code():
    # a TS has been seen with DP00800001006 ("in process") beside it (airtel.md §5.3)
    info = describe(api=Api.COLLECTION, status="TS", response_code="DP00800001006")

    assert (info.outcome, info.code, info.meaning) == (Outcome.SUCCESS, "TS", "The customer paid.")


def test_a_failure_keeps_the_reason_its_code_gives():
    info = describe(api=Api.COLLECTION, status="TF", response_code="DP00800001007")

    assert (info.category, info.retryable) == (ResultCategory.INSUFFICIENT_FUNDS, True)


def test_a_failure_with_a_non_failure_code_is_a_plain_failure():
    info = describe(api=Api.COLLECTION, status="TF", response_code="DP00800001001")

    assert (info.outcome, info.code) == (Outcome.FAILED, "TF")


def test_expired_is_final_and_failed():
    info = describe(api=Api.COLLECTION, status="te")

    assert (info.outcome, info.category, TransactionStatus.EXPIRED.final) == (
        Outcome.FAILED,
        ResultCategory.TIMED_OUT,
        True,
    )


def test_a_specific_esb_code_beats_a_generic_refusal():
    duplicate = describe(api=Api.COLLECTION, response_code="DP00800001008", result_code="ESB000041")
    validation = describe(
        api=Api.COLLECTION, response_code="DP00800001008", result_code="ESB000008"
    )

    assert (duplicate.duplicate, duplicate.outcome) == (True, Outcome.UNKNOWN)
    assert (validation.outcome, validation.alert_admin) == (Outcome.REFUSED, True)


def test_merchant_out_of_funds_alerts_an_admin():
    info = describe(api=Api.DISBURSEMENT, response_code="DP00900001007")

    assert (info.outcome, info.category, info.alert_admin) == (
        Outcome.FAILED,
        ResultCategory.INSUFFICIENT_FUNDS,
        True,
    )


def test_codes_are_read_loosely():
    assert describe(api=Api.COLLECTION, response_code=" dp00800001002 ").category is (
        ResultCategory.WRONG_PIN
    )


def test_a_plain_4xx_is_a_refusal_naming_the_base_url():
    info = describe(api=Api.COLLECTION, http_status=404)

    assert (info.outcome, info.code) == (Outcome.REFUSED, "HTTP 404")
    assert "AIRTEL_BASE_URL" in info.next_step


def test_an_unknown_code_on_a_non_money_api_is_a_failure():
    assert describe(api=Api.KYC, response_code="DP02299999999").outcome is Outcome.FAILED


def test_kyc_not_found_is_not_registered():
    info = describe(api=Api.KYC, response_code="DP02200000002")

    assert (info.outcome, info.category) == (Outcome.NOT_FOUND, ResultCategory.NOT_REGISTERED)


@pytest.mark.parametrize("api", list(Api))
def test_every_row_says_what_to_do(api):
    for code, info in all_codes(api).items():
        assert info.meaning.endswith(".") and info.next_step.endswith("."), code
        if info.outcome is Outcome.REFUSED:
            assert info.alert_admin, code
