"""The real DarajaClient against the simulator over loopback, callbacks caught by a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mpesa.callbacks import parse_account_balance_result
from mpesa.callbacks import parse_b2c_result
from mpesa.callbacks import parse_b2c_timeout
from mpesa.callbacks import parse_c2b
from mpesa.callbacks import parse_reversal_result
from mpesa.callbacks import parse_stk_callback
from mpesa.callbacks import parse_transaction_status_result
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.errors import AuthFailed
from mpesa.errors import DuplicateRequest
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from mpesa.errors import RateLimited
from mpesa.models import CallbackUrls
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SimulatorConfig
from tests.helpers.receiver import CallbackReceiver
from tests.helpers.simulator import RunningSimulator

PAYER = "254708374149"


def callback_urls(receiver: CallbackReceiver) -> CallbackUrls:
    return CallbackUrls(
        stk=receiver.url("/stk"),
        b2c_result=receiver.url("/b2c/result"),
        b2c_timeout=receiver.url("/b2c/timeout"),
        status_result=receiver.url("/status/result"),
        status_timeout=receiver.url("/status/timeout"),
        balance_result=receiver.url("/balance/result"),
        balance_timeout=receiver.url("/balance/timeout"),
        reversal_result=receiver.url("/reversal/result"),
        reversal_timeout=receiver.url("/reversal/timeout"),
        c2b_confirmation=receiver.url("/c2b/confirm"),
        c2b_validation=receiver.url("/c2b/validate"),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as rec:
        yield rec


@pytest.fixture
async def simulator(simulators) -> RunningSimulator:
    return await simulators(SimulatorConfig(query_pending_s=0.0))


def make_client(
    sim: RunningSimulator, receiver: CallbackReceiver, **overrides: Any
) -> DarajaClient:
    config = DarajaConfig(
        base_url=sim.url,
        consumer_key=overrides.pop("consumer_key", "simulator-key"),
        consumer_secret="simulator-secret",
        shortcode="174379",
        passkey=overrides.pop("passkey", SANDBOX_PASSKEY),
        callbacks=callback_urls(receiver),
        b2c_shortcode="600996",
        initiator_name="testapi",
        # the project's own encryption with the certificate the simulator served
        security_credential=overrides.pop("security_credential", sim.credential()),
    )
    return DarajaClient(config, **overrides)


@pytest.fixture
async def daraja(simulator, receiver) -> AsyncIterator[DarajaClient]:
    async with make_client(simulator, receiver) as client:
        yield client


async def set_faults(sim: RunningSimulator, **faults: Any) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.url}/simulator/faults", json=faults)
        answer.raise_for_status()


async def test_stk_push_then_success_callback_then_query(daraja, receiver):
    accepted = await daraja.stk_push(
        msisdn=PAYER, amount=150, reference="HP7K2Q9X", description="Order"
    )
    callback = parse_stk_callback(await receiver.next("/stk"))
    queried = await daraja.stk_query(accepted.checkout_request_id)

    assert accepted.response_code == "0"
    assert callback.checkout_request_id == accepted.checkout_request_id
    assert (callback.succeeded, callback.amount, callback.phone) == (True, 150, PAYER)
    assert callback.receipt is not None and len(callback.receipt) == 10
    assert (queried.result_code, queried.pending) == ("0", False)


@pytest.mark.parametrize(
    ("phone", "code"),
    [("254711111111", "1"), ("254722000032", "1032"), ("254722000037", "1037")],
)
async def test_stk_failure_outcomes_arrive_parsed(daraja, receiver, phone, code):
    await daraja.stk_push(msisdn=phone, amount=10, reference="HP1", description="Order")

    callback = parse_stk_callback(await receiver.next("/stk"))

    assert (callback.result_code, callback.succeeded, callback.amount) == (code, False, None)


async def test_no_callback_number_is_settled_by_query(daraja, receiver, simulator):
    server = simulator
    accepted = await daraja.stk_push(
        msisdn="254722000000", amount=10, reference="HP1", description="Order"
    )
    async with httpx.AsyncClient() as http:
        await http.post(f"{server.url}/simulator/drain")

    queried = await daraja.stk_query(accepted.checkout_request_id)

    assert receiver.pending("/stk") == 0
    assert (queried.result_code, queried.pending) == ("0", False)


async def test_wrong_passkey_is_refused_as_wrong_credentials(simulator, receiver):
    server = simulator
    async with make_client(server, receiver, passkey="not-the-passkey") as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.stk_push(msisdn=PAYER, amount=10, reference="HP1", description="Order")

    assert caught.value.code == "500.001.1001"
    assert "Wrong credentials" in str(caught.value)
    assert "no prompt was sent" in str(caught.value)


async def test_wrong_consumer_key_is_auth_failed(simulator, receiver):
    server = simulator
    async with make_client(server, receiver, consumer_key="nope") as client:
        with pytest.raises(AuthFailed):
            await client.access_token()


async def test_second_prompt_to_the_same_phone_is_refused(receiver, simulators):
    server = await simulators(SimulatorConfig(query_pending_s=600))
    async with make_client(server, receiver) as client:
        await client.stk_push(msisdn="254722000000", amount=10, reference="HP1", description="O")
        with pytest.raises(InvalidRequest) as caught:
            await client.stk_push(
                msisdn="254722000000", amount=10, reference="HP1", description="O"
            )

    assert "Unable to lock subscriber" in str(caught.value)


async def test_b2c_result_and_duplicate_id(daraja, receiver):
    accepted = await daraja.b2c_payment(
        originator_conversation_id="payout-1", msisdn=PAYER, amount=500, remarks="Refund"
    )
    result = parse_b2c_result(await receiver.next("/b2c/result"))
    with pytest.raises(DuplicateRequest):
        await daraja.b2c_payment(
            originator_conversation_id="payout-1", msisdn=PAYER, amount=500, remarks="Refund"
        )

    assert accepted.originator_conversation_id == "payout-1"
    assert result.conversation_id == accepted.conversation_id
    assert (result.succeeded, result.amount, result.receiver_name) == (True, 500, "John Doe")


async def test_b2c_queue_timeout_then_status_query_finds_it_completed(daraja, receiver):
    await daraja.b2c_payment(
        originator_conversation_id="payout-2", msisdn="254722000099", amount=100, remarks="Pay"
    )
    timeout = parse_b2c_timeout(await receiver.next("/b2c/timeout"))
    await daraja.transaction_status(originator_conversation_id="payout-2")
    status = parse_transaction_status_result(await receiver.next("/status/result"))

    assert timeout.originator_conversation_id == "payout-2"
    assert status.queried_originator_conversation_id == "payout-2"
    assert (status.transaction_status, status.amount) == ("Completed", 100)
    assert status.receipt is not None


async def test_balance_and_reversal_results(daraja, receiver):
    await daraja.stk_push(msisdn=PAYER, amount=150, reference="HP1", description="Order")
    paid = parse_stk_callback(await receiver.next("/stk"))
    await daraja.account_balance()
    balance = parse_account_balance_result(await receiver.next("/balance/result"))
    await daraja.reversal(transaction_id=paid.receipt, amount=150, remarks="Wrong account")
    reversal = parse_reversal_result(await receiver.next("/reversal/result"))

    assert balance.succeeded
    assert any(account.name == "Utility Account" for account in balance.accounts)
    assert (reversal.succeeded, reversal.original_transaction_id) == (True, paid.receipt)


async def test_c2b_register_and_simulate_delivers_validation_then_confirmation(daraja, receiver):
    registered = await daraja.c2b_register_urls()
    await daraja.c2b_simulate(msisdn=PAYER, amount=150, bill_ref_number="HP7K2Q9X")
    validation = parse_c2b(await receiver.next("/c2b/validate"))
    confirmation = parse_c2b(await receiver.next("/c2b/confirm"))

    assert registered.response_code == "0"
    assert (validation.amount, validation.bill_ref_number) == (150, "HP7K2Q9X")
    assert confirmation.trans_id == validation.trans_id


async def test_server_error_on_stk_push_is_outcome_unknown_and_not_resent(simulator, receiver):
    server = simulator
    await set_faults(server, fail_next_n=1)
    async with make_client(server, receiver) as client:
        with pytest.raises(OutcomeUnknown):
            await client.stk_push(msisdn=PAYER, amount=10, reference="HP1", description="O")
    async with httpx.AsyncClient() as http:
        state = (await http.get(f"{server.url}/simulator/state")).json()

    # the injected 500 did not take effect, and the client did not send the push a second time
    assert len(state["prompts"]) == 0


async def test_spike_arrest_on_a_money_post_is_rate_limited(simulator, receiver):
    server = simulator
    await set_faults(server, rate_limit_next_n=1, rate_limit_retry_after_s=7)
    async with make_client(server, receiver) as client:
        with pytest.raises(RateLimited) as caught:
            await client.stk_push(msisdn=PAYER, amount=10, reference="HP1", description="O")

    assert caught.value.retry_after_s == 7


async def test_slow_answer_on_b2c_is_outcome_unknown(simulator, receiver):
    server = simulator
    await set_faults(server, slow_response_s=1.0)
    timeout = httpx.Timeout(connect=2.0, read=0.2, write=2.0, pool=2.0)
    async with make_client(server, receiver, timeout=timeout) as client:
        with pytest.raises(OutcomeUnknown):
            await client.b2c_payment(
                originator_conversation_id="slow-1", msisdn=PAYER, amount=50, remarks="Pay"
            )
    # the request did land: the result still arrives, which is why we never resend blindly
    result = parse_b2c_result(await receiver.next("/b2c/result"))
    assert result.succeeded


async def test_a_credential_for_another_password_gets_result_2001(simulator, receiver):
    credential = simulator.credential("not-the-initiator-password")
    async with make_client(simulator, receiver, security_credential=credential) as client:
        accepted = await client.b2c_payment(
            originator_conversation_id="payout-9", msisdn=PAYER, amount=500, remarks="Refund"
        )
    result = parse_b2c_result(await receiver.next("/b2c/result"))

    assert accepted.response_code == "0"  # refused only in the asynchronous result
    assert (result.result_code, result.succeeded, result.receipt) == ("2001", False, None)


async def test_the_make_demo_scenario_succeeds(capsys):
    from mpesa.simulator.demo import run_demo

    assert await run_demo() == 0
    out = capsys.readouterr().out
    assert "success (code 0)" in out
    assert "cancelled (code 1032)" in out
