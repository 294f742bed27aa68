"""Daraja's synchronous answers: tolerant of extra fields and of numbers sent as strings."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator

from mpesa.models.base import DarajaNamed


class DarajaResponse(DarajaNamed):
    """Base of every synchronous answer: tolerant of extra fields and of numbers sent as strings."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        coerce_numbers_to_str=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


class StkPushResponse(DarajaResponse):
    """Daraja accepted an STK Push for processing; ``checkout_request_id`` keys everything after."""

    merchant_request_id: str = Field(alias="MerchantRequestID")
    checkout_request_id: str = Field(alias="CheckoutRequestID")
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription", default="")
    customer_message: str = Field(alias="CustomerMessage", default="")


class StkQueryResponse(DarajaResponse):
    """An STK Push Query answer: a final ``result_code``, or ``pending`` while still processing."""

    merchant_request_id: str | None = Field(alias="MerchantRequestID", default=None)
    checkout_request_id: str = Field(alias="CheckoutRequestID")
    result_code: str | None = Field(alias="ResultCode", default=None)
    result_desc: str = Field(alias="ResultDesc", default="")
    pending: bool = False


class AsyncAccepted(DarajaResponse):
    """Daraja queued a B2C, status, balance or reversal request; the result comes by callback."""

    conversation_id: str = Field(alias="ConversationID")
    originator_conversation_id: str = Field(alias="OriginatorConversationID")
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription", default="")


class C2BRegisterResponse(DarajaResponse):
    """Daraja's answer to C2B register/simulate (its id field is misspelled by Safaricom)."""

    originator_conversation_id: str | None = Field(alias="OriginatorCoversationID", default=None)
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription", default="")


class OAuthToken(DarajaResponse):
    """The OAuth answer; ``expires_in`` is "3599" or 3599 depending on the doc generation."""

    # read as sent: the client checks them (a token must be a non-empty string)
    access_token: object = Field(alias="access_token", default=None)
    expires_in: object = Field(alias="expires_in", default=None)


class ErrorBody(DarajaResponse):
    """Daraja's error envelope ``{"requestId", "errorCode", "errorMessage"}`` (fields may lack)."""

    # read as sent (a code may be a number): the fault mapping turns them into text
    request_id: object = Field(alias="requestId", default=None)
    error_code: object = Field(alias="errorCode", default=None)
    error_message: object = Field(alias="errorMessage", default=None)
    # a few refusals carry only the description of a normal answer
    response_description: object = Field(alias="ResponseDescription", default=None)


class GatewayFaultDetail(DarajaResponse):
    """``fault.detail`` of an Apigee gateway refusal."""

    error_code: object = Field(alias="errorcode", default=None)


class GatewayFaultBody(DarajaResponse):
    """``fault`` of an Apigee gateway refusal."""

    fault_string: object = Field(alias="faultstring", default=None)
    detail: GatewayFaultDetail | None = Field(alias="detail", default=None)

    @field_validator("detail", mode="before")
    @classmethod
    def _detail_object(cls, value: object) -> object:
        return value if isinstance(value, dict) else None


class GatewayFault(DarajaResponse):
    """The Apigee gateway's own refusal ``{"fault": {"faultstring", "detail": {"errorcode"}}}``."""

    fault: GatewayFaultBody = Field(alias="fault")
