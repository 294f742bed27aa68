"""A local Airtel Money simulator: an aiohttp app that answers like Airtel's Open API on loopback.

Run it with ``python -m airtel.simulator --port 8766`` (or ``mpesa-bot simulator --provider
airtel``) and point the Airtel client's ``base_url`` at it; tests serve
``create_simulator(SimulatorConfig(...))``.

Credentials: client id ``simulator-client-id``, secret ``simulator-client-secret``; country KE,
currency KES; disbursement PIN ``1234``, encrypted with the simulator's RSA public key (served at
``GET /v1/rsa/encryption-keys`` as Airtel does, and as PEM at ``GET /simulator/public-key``).

What it checks (and answers in Airtel's envelopes, HTTP 200 with body code 400 unless noted):
the token (HTTP 403 ``invalid_token``), ``X-Country`` (missing: HTTP 400 ROUTER110), ``X-Currency``,
``Content-Type`` (HTTP 415), every body field and its type, 9-digit MSISDNs, whole-shilling
amounts within limits, unique transaction ids (ESB000041 / DP00900001017), the encrypted PIN
(PKCS#1 v1.5, OAEP-SHA1 or OAEP-SHA256; "Incorrect Encrypted Pin" / "Incorrect Pin"), the
message signature when sent or required, v2's ``payee.currency`` and ``transaction.type``.
Unknown fields are accepted with a warning (with a "did you mean"), listed in
``GET /simulator/state``. Unknown paths answer HTTP 404 in the standard envelope.

The portal (``POST /simulator/portal``): ``callback_url`` (collection callbacks go there; none
are sent without it), ``callback_hash_key`` (callbacks then carry a ``hash``), ``hash_input``,
``require_signing``. Control endpoints (no token needed): ``GET /simulator/state``, ``POST
/simulator/faults`` (partial JSON of ``Faults`` fields), ``POST /simulator/reset``, ``POST
/simulator/drain``, ``POST /simulator/expire-tokens``, ``GET /simulator/public-key``.

Outcomes are chosen by phone number: see ``outcome_table()`` (printed at start-up).
"""

from airtel.simulator.app import SIM_DELIVERER, SIM_STATE, create_simulator
from airtel.simulator.config import (
    CLIENT_ID,
    CLIENT_SECRET,
    DISBURSEMENT_PIN,
    Faults,
    Level,
    Portal,
    SimulatorConfig,
)
from airtel.simulator.scenarios import outcome_table

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DISBURSEMENT_PIN",
    "SIM_DELIVERER",
    "SIM_STATE",
    "Faults",
    "Level",
    "Portal",
    "SimulatorConfig",
    "create_simulator",
    "outcome_table",
]
