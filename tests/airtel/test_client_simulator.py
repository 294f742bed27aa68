"""The real AirtelClient against the Airtel simulator over loopback HTTP, callbacks caught."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.callbacks import parse_collection_callback
from airtel.client import AirtelClient
from airtel.client import AirtelConfig
from airtel.codes import Outcome
from airtel.codes import ResultCategory
from airtel.codes import TransactionStatus
from airtel.errors import AuthFailed
from airtel.errors import Declined
from airtel.errors import DuplicateTransaction
from airtel.errors import InvalidRequest
from airtel.errors import OutcomeUnknown
from airtel.security import RsaPadding
from airtel.security import public_key_pem
from airtel.simulator import CLIENT_ID
from airtel.simulator import CLIENT_SECRET
from airtel.simulator import Faults
from airtel.simulator import Portal
from airtel.simulator import SimulatorConfig
from airtel.simulator import create_simulator as create_airtel_simulator
from airtel.simulator.app import SIM_DELIVERER
from airtel.simulator.app import SIM_STATE
from airtel.simulator.state import SimulatorState
from tests.helpers.airtel import private_key
from tests.helpers.clock import Clock
from tests.helpers.receiver import CallbackReceiver

HOOK = "/hooks/7f3c9a2e/airtel/collection"
HASH_KEY = "portal-callback-key"
PAYER = "254733123456"


class Airtel:
    """A simulator on loopback, a receiver at the portal's callback URL, clients on both."""

    def __init__(self, server: TestServer, app: Any, receiver: CallbackReceiver) -> None:
        self.server = server
        self.app = app
        self.receiver = receiver
        self.clients: list[AirtelClient] = []

    @property
    def state(self) -> SimulatorState:
        return self.app[SIM_STATE]

    def config(self, **overrides: Any) -> AirtelConfig:
        base = AirtelConfig(
            base_url=str(self.server.make_url("")).rstrip("/"),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            disbursement_pin="1234",
            public_key=public_key_pem(private_key().public_key()),
        )
        return replace(base, **overrides)

    def client(self, **overrides: Any) -> AirtelClient:
        timeout = overrides.pop("timeout", None)
        client = AirtelClient(self.config(**overrides), timeout=timeout)
        self.clients.append(client)
        return client

    async def drain(self) -> None:
        await self.app[SIM_DELIVERER].drain()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 20, 11, 30, 5, tzinfo=UTC))


@pytest.fixture
async def make_airtel(clock: Clock) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[Airtel, TestServer]] = []

    async def make(**config: Any) -> Airtel:
        receiver = CallbackReceiver()
        await receiver.start()
        portal = config.pop("portal", Portal())
        portal.callback_url = receiver.url(HOOK)
        config.setdefault("private_key", private_key())
        app = create_airtel_simulator(SimulatorConfig(clock=clock, portal=portal, **config))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        airtel = Airtel(server, app, receiver)
        made.append((airtel, server))
        return airtel

    yield make
    for airtel, server in made:
        # the project's own client must never make the simulator warn
        assert [w.message for w in airtel.state.warnings] == []
        for client in airtel.clients:
            await client.aclose()
        await server.close()
        await airtel.receiver.close()


@pytest.fixture
async def airtel(make_airtel) -> Airtel:
    return await make_airtel()


async def test_collection_paid_by_callback_then_confirmed_by_enquiry(airtel):
    client = airtel.client()

    accepted = await client.ussd_push(
        msisdn=PAYER, amount=150, transaction_id="COL000042A", reference="ORDER42"
    )
    callback = parse_collection_callback(await airtel.receiver.next(HOOK))
    status = await client.collection_status("COL000042A")

    assert (accepted.transaction_id, accepted.response_code) == ("COL000042A", "DP00800001006")
    assert (callback.transaction_id, callback.succeeded) == ("COL000042A", True)
    assert (status.status, status.airtel_money_id) == (
        TransactionStatus.SUCCESS,
        callback.airtel_money_id,
    )
    assert airtel.state.collection_balance == 150


async def test_collection_whose_callback_never_comes_is_settled_by_enquiry(airtel, clock):
    client = airtel.client()

    await client.ussd_push(
        msisdn="254733000000", amount=700, transaction_id="COL000043B", reference="ORDER43"
    )
    pending = await client.collection_status("COL000043B")
    clock.advance(10)
    settled = await client.collection_status("COL000043B")
    await airtel.drain()

    assert (pending.status, pending.final, pending.info.outcome) == (
        TransactionStatus.IN_PROGRESS,
        False,
        Outcome.PENDING,
    )
    assert (settled.status, settled.final, bool(settled.airtel_money_id)) == (
        TransactionStatus.SUCCESS,
        True,
        True,
    )
    assert airtel.receiver.bodies(HOOK) == []


async def test_a_failed_collection_explains_why(airtel):
    client = airtel.client()

    await client.ussd_push(
        msisdn="254733000001", amount=150, transaction_id="COL000044C", reference="ORDER44"
    )
    callback = parse_collection_callback(await airtel.receiver.next(HOOK))
    status = await client.collection_status("COL000044C")

    assert (callback.status, status.info.category) == (
        TransactionStatus.FAILED,
        ResultCategory.INSUFFICIENT_FUNDS,
    )


async def test_push_to_a_number_not_on_airtel_money_is_declined(airtel):
    with pytest.raises(Declined, match="Msisdn Not Found"):
        await airtel.client().ussd_push(
            msisdn="254733999999", amount=150, transaction_id="COL1", reference="ORDER1"
        )
    assert airtel.state.collections == {}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param({"ambiguous_next_n": 1}, OutcomeUnknown, id="ambiguous-answer"),
        pytest.param({"drop_connection_next_n": 1}, OutcomeUnknown, id="dropped-connection"),
        pytest.param({"slow_response_s": 5.0}, OutcomeUnknown, id="timeout-after-effect"),
    ],
)
async def test_ambiguous_disbursement_is_settled_by_enquiry_with_no_second_post(
    make_airtel, fault, error
):
    airtel = await make_airtel(faults=Faults(**fault))
    client = airtel.client(timeout=httpx.Timeout(5.0, read=0.2))

    with pytest.raises(error):
        await client.disburse(
            msisdn=PAYER, amount=500, transaction_id="DSB000042", reference="PAYOUT42"
        )
    status = await client.disbursement_status("DSB000042")

    assert (status.status, status.succeeded) == (TransactionStatus.SUCCESS, True)
    assert airtel.state.count_calls("POST", "/standard/v1/disbursements/") == 1
    assert airtel.state.disbursement_balance == 99_500


async def test_ambiguous_payout_number_moves_money_once(airtel):
    client = airtel.client()

    with pytest.raises(OutcomeUnknown) as caught:
        await client.disburse(
            msisdn="254734000001", amount=500, transaction_id="DSB000043", reference="PAYOUT43"
        )
    status = await client.disbursement_status("DSB000043")

    assert caught.value.code == "DP00900001000"
    assert status.succeeded
    assert airtel.state.count_calls("POST", "/standard/v1/disbursements/") == 1
    assert airtel.state.disbursement_balance == 99_500


async def test_timed_out_payout_is_settled_as_failed_by_enquiry(airtel):
    client = airtel.client()

    with pytest.raises(OutcomeUnknown):
        await client.disburse(
            msisdn="254734000003", amount=500, transaction_id="DSB000044", reference="PAYOUT44"
        )
    status = await client.disbursement_status("DSB000044")

    assert (status.status, status.info.outcome) == (TransactionStatus.FAILED, Outcome.FAILED)
    assert airtel.state.disbursement_balance == 100_000


async def test_in_progress_payout_is_unknown_until_the_enquiry_says(airtel, clock):
    client = airtel.client()

    with pytest.raises(OutcomeUnknown):
        await client.disburse(
            msisdn="254734000002", amount=500, transaction_id="DSB000045", reference="PAYOUT45"
        )
    first = await client.disbursement_status("DSB000045")
    clock.advance(10)
    second = await client.disbursement_status("DSB000045")

    assert (first.status, second.status) == (
        TransactionStatus.IN_PROGRESS,
        TransactionStatus.SUCCESS,
    )


async def test_duplicate_transaction_id_is_refused_and_moves_money_once(airtel):
    client = airtel.client()
    arguments = {
        "msisdn": PAYER,
        "amount": 500,
        "transaction_id": "DSB000046",
        "reference": "PAYOUT46",
    }

    paid = await client.disburse(**arguments)
    with pytest.raises(DuplicateTransaction):
        await client.disburse(**arguments)
    status = await client.disbursement_status("DSB000046")

    assert status.airtel_money_id == paid.airtel_money_id
    assert airtel.state.disbursement_balance == 99_500


async def test_duplicate_push_id_is_refused(airtel):
    client = airtel.client()
    arguments = {"msisdn": PAYER, "amount": 150, "transaction_id": "COL1", "reference": "ORDER1"}

    await client.ussd_push(**arguments)
    with pytest.raises(DuplicateTransaction):
        await client.ussd_push(**arguments)
    assert len(airtel.state.collections) == 1


async def test_bad_pin_is_refused(airtel):
    with pytest.raises(InvalidRequest, match="Incorrect Pin") as caught:
        await airtel.client(disbursement_pin="9999").disburse(
            msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1"
        )
    assert caught.value.code == "DP00900001013"
    assert airtel.state.disbursements == {}


async def test_pin_encrypted_with_another_key_is_refused(airtel):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(InvalidRequest, match="Incorrect Encrypted Pin"):
        await airtel.client(public_key=public_key_pem(stranger.public_key())).disburse(
            msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1"
        )


async def test_pin_padding_is_a_setting_that_must_match_airtels(make_airtel):
    airtel = await make_airtel(pin_paddings=(RsaPadding.OAEP_SHA256,))

    with pytest.raises(InvalidRequest, match="Incorrect Encrypted Pin"):
        await airtel.client().disburse(
            msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1"
        )
    paid = await airtel.client(pin_padding=RsaPadding.OAEP_SHA256).disburse(
        msisdn=PAYER, amount=500, transaction_id="DSB2", reference="PAYOUT2"
    )
    assert paid.status is TransactionStatus.SUCCESS


async def test_the_client_fetches_the_simulators_key_when_none_is_configured(airtel):
    client = airtel.client(public_key=None)

    paid = await client.disburse(
        msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1"
    )

    assert paid.balance_cents == 9_950_000


async def test_v2_disbursement_and_enquiry(airtel):
    client = airtel.client(disbursement_version="v2")

    await client.disburse(msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1")
    status = await client.disbursement_status("DSB1")

    assert status.succeeded
    assert airtel.state.disbursements["DSB1"].version == "v2"


async def test_kyc_of_an_unregistered_number_is_none(airtel):
    client = airtel.client()

    assert await client.lookup_user("0733999999") is None
    user = await client.lookup_user(PAYER)
    assert (user.msisdn, user.name, user.can_receive) == (PAYER, "JOHN DOE", True)
    barred = await client.lookup_user("254734000004")
    assert barred.can_receive is False


async def test_callback_hash_is_verified_and_a_forged_one_detected(make_airtel):
    airtel = await make_airtel(portal=Portal(callback_hash_key=HASH_KEY))

    await airtel.client().ussd_push(
        msisdn=PAYER, amount=150, transaction_id="COL1", reference="ORDER1"
    )
    received = await airtel.receiver.next_received(HOOK)
    genuine = parse_collection_callback(received.raw, hash_key=HASH_KEY)
    forged_body = received.raw.replace(b'"COL1"', b'"COL9"')
    forged = parse_collection_callback(forged_body, hash_key=HASH_KEY)

    assert (genuine.verified, genuine.succeeded) == (True, True)
    assert (forged.transaction_id, forged.verified) == ("COL9", False)


async def test_signed_requests_pass_a_simulator_that_requires_signing(make_airtel):
    airtel = await make_airtel(portal=Portal(require_signing=True))

    with pytest.raises(InvalidRequest, match="X-signature"):
        await airtel.client().ussd_push(
            msisdn=PAYER, amount=150, transaction_id="COL1", reference="ORDER1"
        )
    client = airtel.client(signing=True)
    await client.ussd_push(msisdn=PAYER, amount=150, transaction_id="COL2", reference="ORDER2")
    await client.disburse(msisdn=PAYER, amount=500, transaction_id="DSB1", reference="PAYOUT1")
    assert (list(airtel.state.collections), list(airtel.state.disbursements)) == (
        ["COL2"],
        ["DSB1"],
    )


async def test_refund_of_a_paid_collection(airtel):
    client = airtel.client()
    await client.ussd_push(msisdn=PAYER, amount=150, transaction_id="COL1", reference="ORDER1")
    receipt = parse_collection_callback(await airtel.receiver.next(HOOK)).airtel_money_id

    refunded = await client.refund(airtel_money_id=receipt)
    with pytest.raises(Declined, match="already refunded"):
        await client.refund(airtel_money_id=receipt)

    assert refunded.airtel_money_id == receipt
    assert airtel.state.collection_balance == 0


async def test_balance_and_expired_tokens(airtel):
    client = airtel.client()
    await client.balance()

    airtel.state.expire_tokens()
    balance = await client.balance()

    assert (balance.balance_cents, balance.currency) == (0, "KES")


async def test_wrong_credentials_are_auth_failed(airtel):
    with pytest.raises(AuthFailed, match="Invalid client authentication"):
        await airtel.client(client_secret="wrong").balance()


async def test_the_simulator_refuses_a_wrong_country(airtel):
    with pytest.raises(InvalidRequest, match="Invalid Country Code"):
        await airtel.client(country="UG").balance()
