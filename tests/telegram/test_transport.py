"""The in-process Bot API answers like Telegram and enforces its limits."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.telegram.transport import InProcessBotApi
from bot.telegram.transport import check_html


@pytest.fixture
async def bot():
    api = InProcessBotApi()
    bot = Bot("123:TEST", request=api, get_updates_request=InProcessBotApi())
    async with bot:
        yield bot, api


async def test_get_me_and_send_then_edit(bot):
    bot, api = bot

    sent = await bot.send_message(42, "<b>Sent</b>", parse_mode=ParseMode.HTML)
    edited = await bot.edit_message_text("<b>Paid</b>", 42, sent.message_id, parse_mode="HTML")

    assert bot.username == "HouseholdPlanetPayBot"
    assert (sent.message_id, edited.text) == (1, "<b>Paid</b>")
    assert [call.method for call in api.calls] == ["getMe", "sendMessage", "editMessageText"]
    assert api.message(42, 1)["text"] == "<b>Paid</b>"


async def test_message_ids_count_per_chat(bot):
    bot, _ = bot

    ids = [(await bot.send_message(chat, "hi")).message_id for chat in (1, 2, 1)]

    assert ids == [1, 1, 2]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>open", "can't parse entities"),
        ("<div>x</div>", "can't parse entities"),
        ("x" * 4097, "message is too long"),
        ("", "message text is empty"),
    ],
)
async def test_bad_messages_are_refused_like_telegram(bot, text, error):
    bot, _ = bot

    with pytest.raises(BadRequest) as caught:
        await bot.send_message(42, text, parse_mode="HTML")

    assert error in str(caught.value).lower()


async def test_long_html_counts_only_visible_text(bot):
    bot, api = bot
    longest = "<b>" + "x" * 4096 + "</b>"  # 4,103 characters, 4,096 of them visible

    sent = await bot.send_message(42, longest, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(42, "<b>" + "x" * 4097 + "</b>", parse_mode="HTML")

    assert api.message(42, sent.message_id)["text"] == longest
    assert [m["text"] for m in api.chat_messages(42)] == [longest]


async def test_callback_data_over_64_bytes_is_refused(bot):
    bot, _ = bot
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="x" * 65)]])

    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(42, "hi", reply_markup=markup)


async def test_editing_to_the_same_content_is_refused(bot):
    bot, _ = bot
    sent = await bot.send_message(42, "same")

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("same", 42, sent.message_id)


def test_check_html_counts_entities_as_one_character():
    assert check_html("a &amp; b") == (5, None)


async def test_a_button_answer_over_200_characters_is_refused(bot):
    bot, _ = bot

    with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
        await bot.answer_callback_query("1", text="x" * 201)
