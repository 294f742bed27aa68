"""The shop REST API (/api/v1): bearer keys, JSON errors, idempotency, rate limit, OpenAPI."""

from bot.web.api.routes import API_PREFIX
from bot.web.api.routes import BOT_USERNAME
from bot.web.api.routes import register_api

__all__ = ["API_PREFIX", "BOT_USERNAME", "register_api"]
