"""An in-process Telegram Bot API: PTB's request layer answered locally, for the demo and tests.

It answers like the real Bot API (message ids per chat, ``ok``/``result`` envelopes, 400 errors
with Telegram's descriptions) and enforces the limits that bite in production: 4,096 characters per
message after entity parsing, 64 bytes of callback data, well-formed HTML with Telegram's tag set.
Every call is recorded; an optional listener sees each one (the demo prints a transcript from it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from typing import Any

from telegram.request import BaseRequest
from telegram.request import RequestData

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
ANSWER_TEXT_LIMIT = 200
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip


@dataclass
class ApiCall:
    """One Bot API request: method name and its parameters (files as their names)."""

    method: str
    params: dict[str, Any]
    result: Any = None


@dataclass
class BotIdentity:
    """Who the fake bot is (what getMe answers)."""

    id: int = 7_000_000_001
    username: str = "HouseholdPlanetPayBot"
    first_name: str = "Household Planet Pay"


class HtmlCheck(HTMLParser):
    """Checks Telegram-HTML: only allowed tags, properly nested, and counts the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text_length = 0
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        # Telegram counts UTF-16 code units
        self.text_length += len(data.encode("utf-16-le")) // 2


def check_html(text: str) -> tuple[int, str | None]:
    """Return (visible length, error or None) for a parse_mode=HTML text."""
    checker = HtmlCheck()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return checker.text_length, checker.error


class BadRequestError(Exception):
    """What the fake answers with HTTP 400 (Telegram's ``description``)."""


@dataclass
class InProcessBotApi(BaseRequest):
    """A PTB request object that answers Bot API calls in memory and records them."""

    identity: BotIdentity = field(default_factory=BotIdentity)
    listener: Callable[[ApiCall], None] | None = None
    calls: list[ApiCall] = field(default_factory=list)
    _message_ids: dict[int, itertools.count] = field(default_factory=dict)
    _messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    _received: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    files: dict[str, bytes] = field(default_factory=dict)  # what users "uploaded", by file_id

    def __post_init__(self) -> None:
        super().__init__()

    def add_file(self, content: bytes, file_name: str) -> dict[str, Any]:
        """Keep a file a user sends; the Document object their message carries."""
        file_id = f"upload-{len(self.files) + 1}"
        self.files[file_id] = content
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": file_name,
            "file_size": len(content),
        }

    def received(self, message: dict[str, Any]) -> None:
        """A message a user sent (fed as an update): a reply to it carries it, as Telegram's do."""
        self._received[(int(message["chat"]["id"]), int(message["message_id"]))] = message

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (polling mode), as if a user had just acted."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Answer one Bot API call like Telegram would."""
        if "/file/bot" in url:
            # a file download (getFile's file_path under the file base URL)
            content = self.files.get(url.rsplit("/", 1)[-1])
            return (200, content) if content is not None else (404, b"Not Found")
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        if api_method == "getUpdates":
            call = ApiCall(api_method, params, await self._get_updates(params))
            self.calls.append(call)
            return 200, json.dumps({"ok": True, "result": call.result}).encode()
        if request_data is not None and request_data.contains_files:
            for name, value in request_data.multipart_data.items():
                params[name] = {"filename": value[0], "content": value[1]}
        call = ApiCall(api_method, params)
        try:
            call.result = self._answer(api_method, params)
        except BadRequestError as exc:
            self.calls.append(call)
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
            return 400, json.dumps(body).encode()
        self.calls.append(call)
        if self.listener is not None:
            self.listener(call)
        return 200, json.dumps({"ok": True, "result": call.result}).encode()

    # -- answers ----------------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"_on_{method}", None)
        if handler is not None:
            return handler(params)
        return True  # setMyCommands, answerCallbackQuery, deleteWebhook, sendChatAction, ...

    def _on_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.identity.id,
            "is_bot": True,
            "first_name": self.identity.first_name,
            "username": self.identity.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling: pending updates from ``offset`` on, else wait up to ``timeout`` seconds."""
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                return []
        return list(self._updates)

    def _on_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        # Telegram refuses a toast or alert over 200 characters
        if len(str(params.get("text", ""))) > ANSWER_TEXT_LIMIT:
            raise BadRequestError("MESSAGE_TOO_LONG")
        return True

    def _on_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _on_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        self._check_text(text, params, MESSAGE_LIMIT)
        self._check_markup(params.get("reply_markup"))
        return self._store(int(params["chat_id"]), {"text": text}, params)

    def _on_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = str(params.get("caption", ""))
        self._check_text(caption, params, CAPTION_LIMIT, allow_empty=True)
        document = params.get("document")
        name = document.get("filename", "file") if isinstance(document, dict) else "file"
        extra = {"document": {"file_id": f"doc-{name}", "file_unique_id": name, "file_name": name}}
        if caption:
            extra["caption"] = caption
        return self._store(int(params["chat_id"]), extra, params)

    def _on_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            raise BadRequestError("wrong file_id or the file is temporarily unavailable")
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}",
        }

    def _on_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = str(params.get("caption", ""))
        self._check_text(caption, params, CAPTION_LIMIT, allow_empty=True)
        photo = params.get("photo")
        name = photo.get("filename", "photo") if isinstance(photo, dict) else "photo"
        size = {"width": 320, "height": 320, "file_size": 0}
        extra: dict[str, Any] = {
            "photo": [{"file_id": f"photo-{name}", "file_unique_id": name, **size}]
        }
        if caption:
            extra["caption"] = caption
        return self._store(int(params["chat_id"]), extra, params)

    def _on_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        self._check_text(text, params, MESSAGE_LIMIT)
        self._check_markup(params.get("reply_markup"))
        key = (int(params["chat_id"]), int(params["message_id"]))
        stored = self._messages.get(key)
        if stored is None:
            raise BadRequestError("message to edit not found")
        markup = params.get("reply_markup")
        if stored.get("text") == text and stored.get("reply_markup") == markup:
            raise BadRequestError(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        stored.update({"text": text, "edit_date": int(time.time())})
        stored.pop("reply_markup", None)
        if markup:
            stored["reply_markup"] = markup
        return stored

    def _on_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_markup(params.get("reply_markup"))
        key = (int(params["chat_id"]), int(params["message_id"]))
        stored = self._messages.get(key)
        if stored is None:
            raise BadRequestError("message to edit not found")
        stored.pop("reply_markup", None)
        if params.get("reply_markup"):
            stored["reply_markup"] = params["reply_markup"]
        return stored

    def _on_deleteMessage(self, params: dict[str, Any]) -> bool:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if self._messages.pop(key, None) is None:
            raise BadRequestError("message to delete not found")
        return True

    # -- helpers ----------------------------------------------------------------------------

    def _store(self, chat_id: int, content: dict[str, Any], params: dict[str, Any]) -> dict:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message_id = next(counter)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {
                "id": self.identity.id,
                "is_bot": True,
                "first_name": self.identity.first_name,
                "username": self.identity.username,
            },
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        answered = params.get("reply_parameters")
        if isinstance(answered, dict):
            key = (int(answered.get("chat_id") or chat_id), int(answered["message_id"]))
            quoted = self._received.get(key) or self._messages.get(key)
            if quoted is not None:
                # Telegram nests one level only
                message["reply_to_message"] = {
                    k: v for k, v in quoted.items() if k != "reply_to_message"
                }
        self._messages[(chat_id, message_id)] = message
        return message

    @staticmethod
    def _check_text(
        text: str, params: dict[str, Any], limit: int, *, allow_empty: bool = False
    ) -> None:
        if params.get("parse_mode") == "HTML":
            length, error = check_html(text)
            if error:
                raise BadRequestError(f"can't parse entities: {error}")
        else:
            length = len(text.encode("utf-16-le")) // 2
        if length == 0 and not allow_empty:
            raise BadRequestError("message text is empty")
        if length > limit:
            raise BadRequestError("message is too long")

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise BadRequestError("BUTTON_DATA_INVALID")

    # -- what tests and the demo read ------------------------------------------------------

    def sent(self, method: str | None = None) -> list[ApiCall]:
        """Recorded calls, optionally of one method."""
        return [call for call in self.calls if method is None or call.method == method]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a message the bot sent (after edits)."""
        return self._messages.get((chat_id, message_id))

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message still in a chat, oldest first, as currently shown."""
        return [m for (chat, _), m in sorted(self._messages.items()) if chat == chat_id]


# -- updates as Telegram would send them (the demo and tests play users with these) --------------

_message_ids = itertools.count(100_000)
_query_ids = itertools.count(1)


def user_payload(user_id: int, first_name: str) -> dict[str, Any]:
    """A Telegram User object for a person."""
    return {"id": user_id, "is_bot": False, "first_name": first_name}


def text_message(user_id: int, first_name: str, text: str) -> dict[str, Any]:
    """A private-chat Message; a leading /command carries its bot_command entity."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": first_name},
        "from": user_payload(user_id, first_name),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message


def contact_message(
    user_id: int, first_name: str, phone_number: str, *, contact_user_id: int | None = None
) -> dict[str, Any]:
    """The message Telegram sends when a user taps a request_contact button."""
    message = text_message(user_id, first_name, "")
    del message["text"]
    message["contact"] = {
        "phone_number": phone_number,
        "first_name": first_name,
        "user_id": user_id if contact_user_id is None else contact_user_id,
    }
    return message


def callback_query(
    user_id: int, first_name: str, data: str, shown: dict[str, Any]
) -> dict[str, Any]:
    """A button press on the bot's message ``shown`` (as the bot last sent or edited it)."""
    return {
        "id": str(next(_query_ids)),
        "from": user_payload(user_id, first_name),
        "chat_instance": str(shown["chat"]["id"]),
        "data": data,
        "message": shown,
    }
