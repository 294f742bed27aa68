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

from __future__ import annotations

import importlib
from typing import Any

# loaded on first use: `mpesa-bot` imports the command line module on every start, and the
# simulator itself (aiohttp, cryptography) only when it is served
_HOMES = {
    "CLIENT_ID": "airtel.simulator.config",
    "CLIENT_SECRET": "airtel.simulator.config",
    "DISBURSEMENT_PIN": "airtel.simulator.config",
    "SIM_DELIVERER": "airtel.simulator.app",
    "SIM_STATE": "airtel.simulator.app",
    "Faults": "airtel.simulator.config",
    "Level": "airtel.simulator.config",
    "Portal": "airtel.simulator.config",
    "SimulatorConfig": "airtel.simulator.config",
    "create_simulator": "airtel.simulator.app",
    "outcome_table": "airtel.simulator.scenarios",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'airtel.simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
