"""Daraja's bodies as typed models: the only home of Daraja's field names.

``requests`` holds what we send, ``responses`` Daraja's synchronous answers, ``callbacks`` what
Daraja posts to our URLs (and what we answer), ``values`` the lenient types callbacks need.
"""

from mpesa.models.callbacks import (
    AccountBalanceResult,
    B2CResult,
    BalanceAccount,
    C2BPayment,
    QueueTimeout,
    ReversalResult,
    StkCallback,
    TransactionStatusResult,
)
from mpesa.models.requests import (
    AccountBalanceRequest,
    B2CRequest,
    C2BRegisterRequest,
    C2BSimulateRequest,
    CallbackUrls,
    DarajaRequest,
    ReversalRequest,
    StkPushRequest,
    StkQueryRequest,
    TransactionStatusRequest,
)
from mpesa.models.responses import (
    AsyncAccepted,
    C2BRegisterResponse,
    DarajaResponse,
    ErrorBody,
    GatewayFault,
    OAuthToken,
    StkPushResponse,
    StkQueryResponse,
)

__all__ = [
    "AccountBalanceRequest",
    "AccountBalanceResult",
    "AsyncAccepted",
    "B2CRequest",
    "B2CResult",
    "BalanceAccount",
    "C2BPayment",
    "C2BRegisterRequest",
    "C2BRegisterResponse",
    "C2BSimulateRequest",
    "CallbackUrls",
    "DarajaRequest",
    "DarajaResponse",
    "ErrorBody",
    "GatewayFault",
    "OAuthToken",
    "QueueTimeout",
    "ReversalRequest",
    "ReversalResult",
    "StkCallback",
    "StkPushRequest",
    "StkPushResponse",
    "StkQueryRequest",
    "StkQueryResponse",
    "TransactionStatusRequest",
    "TransactionStatusResult",
]
