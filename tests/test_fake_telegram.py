"""Tests of the fake Bot API server itself, with python-telegram-bot's Bot as the client."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
import telegram
from fake_telegram import FakeTelegram, HtmlError, parse_html, utf16_len
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter

TOKEN = "123:TEST"


@pytest_asyncio.fixture
async def fake():
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def bot(fake):
    client = telegram.Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
    async with client:
        yield client


# --- the HTML checker on its own ------------------------------------------------------


@pytest.mark.parametrize(
    "html, plain",
    [
        ("plain", "plain"),
        ("<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code>", "bold it u s c"),
        ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
        ('<pre><code class="language-python">x &lt; 1</code></pre>', "x < 1"),
        ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ("&lt;script&gt; &amp; &quot; &#20013; &#x4e2d;", '<script> & " 中 中'),
        ("a > b", "a > b"),
        ("<B>upper</B>", "upper"),
        ("<b><i>nested</i></b>", "nested"),
    ],
)
def test_parse_html_accepts_telegram_html(html, plain):
    assert parse_html(html)[0] == plain


@pytest.mark.parametrize(
    "html, message",
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<br>", 'Unsupported start tag "br"'),
        ("a < b", 'Unsupported start tag ""'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("<b>x", "Can't find end tag corresponding to start tag b"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("Q&A", 'Unescaped "&"'),
        ("&nbsp;", 'Unescaped "&"'),
        ("中文<p>", 'Unsupported start tag "p" at byte offset 6'),
    ],
)
def test_parse_html_refuses_what_telegram_refuses(html, message):
    with pytest.raises(HtmlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_html(html)


def test_parse_html_entities_use_utf16_offsets():
    plain, entities = parse_html("😀 <b>粗体</b>")
    assert plain == "😀 粗体"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]
    assert utf16_len("😀") == 2


# --- the server through PTB ------------------------------------------------------------


@pytest.mark.asyncio
async def test_get_me_and_unknown_token(fake, bot):
    me = await bot.get_me()
    assert me.username == "articlebot_test_bot" and me.supports_inline_queries
    assert fake.base_url.startswith("http://127.0.0.1:")
    wrong = telegram.Bot("999:WRONG", base_url=fake.base_url)
    with pytest.raises(telegram.error.InvalidToken):
        await wrong.get_me()


@pytest.mark.asyncio
async def test_updates_long_poll_and_offset(fake, bot):
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - started >= 0.9  # waited for the long-poll timeout

    async def feed_later():
        await asyncio.sleep(0.2)
        fake.feed_message(555, "你好")

    task = asyncio.create_task(feed_later())
    # answered when the update arrived, long before the poll's own timeout (a generous
    # deadline for an event that must happen, not a measure of speed)
    updates = await asyncio.wait_for(bot.get_updates(timeout=60), 30)
    await task
    assert len(updates) == 1 and updates[0].message.text == "你好"
    assert updates[0].effective_user.language_code == "zh-hans"
    # not confirmed yet: delivered again; confirmed by offset: gone
    assert len(await bot.get_updates()) == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1) == ()
    assert fake.calls_of("getUpdates")[0]["timeout"] == 1


@pytest.mark.asyncio
async def test_feed_message_entities_parse_in_ptb(fake, bot):
    fake.feed_message(-100, "/search@articlebot_test_bot 北京 @articlebot_test_bot", user_id=7, chat_type="group")
    fake.feed_message(-100, "嗯", user_id=7, chat_type="group")
    update, plain = await bot.get_updates()
    message = update.message
    assert message.chat.type == "group" and message.from_user.id == 7
    commands = message.parse_entities(["bot_command"])
    assert list(commands.values()) == ["/search@articlebot_test_bot"]
    assert list(message.parse_entities(["mention"]).values()) == ["@articlebot_test_bot"]
    assert plain.message.entities == ()


@pytest.mark.asyncio
async def test_send_message_validates_html_and_length(fake, bot):
    fake.feed_message(10, "hi")
    sent = await bot.send_message(10, "<b>标题</b> &lt;ok&gt;", parse_mode=ParseMode.HTML)
    assert sent.text == "标题 <ok>" and sent.entities[0].type == "bold"
    assert fake.messages[(10, sent.message_id)]["text"] == "标题 <ok>"
    with pytest.raises(BadRequest, match='(?i)can\'t parse entities: Unsupported start tag "script"'):
        await bot.send_message(10, "<script>x</script>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(10, "a & b", parse_mode=ParseMode.HTML)
    # plain text is not parsed
    await bot.send_message(10, "a & b <script>")
    # 4096 UTF-16 units pass (tags do not count), 4097 fail; astral characters count twice
    await bot.send_message(10, "<b>" + "字" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)Message is too long"):
        await bot.send_message(10, "字" * 4097, parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)Message is too long"):
        await bot.send_message(10, "😀" * 2049)
    with pytest.raises(BadRequest, match="(?i)Message text is empty"):
        await bot.send_message(10, "  <b> </b>  ", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)Chat not found"):
        await bot.send_message(99999, "who?")
    refused = fake.calls_of("sendMessage", ok=False)
    assert len(refused) == 6 and all(c.status == 400 for c in refused)
    assert len(fake.errors()) == 6


@pytest.mark.asyncio
async def test_inline_keyboard_callback_and_edit(fake, bot):
    fake.feed_message(11, "hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("更多", callback_data="more:abc:3")]])
    sent = await bot.send_message(11, "第一页", reply_markup=markup)
    with pytest.raises(BadRequest, match="(?i)Button_data_invalid"):
        await bot.send_message(11, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]]))
    query = fake.feed_callback("more:abc:3", sent.message_id)
    await bot.get_updates()  # the callback is delivered as PTB parses it
    updates = await bot.get_updates()
    callback = updates[-1].callback_query
    assert callback.data == "more:abc:3" and callback.message.message_id == sent.message_id
    assert callback.id == query["id"]
    await bot.answer_callback_query(callback.id, text="好")
    with pytest.raises(BadRequest, match="(?i)Query is too old"):
        await bot.answer_callback_query(callback.id)
    edited = await bot.edit_message_text("第二页 <i>i</i>", chat_id=11, message_id=sent.message_id, parse_mode=ParseMode.HTML)
    assert edited.text == "第二页 i"
    with pytest.raises(BadRequest, match="(?i)Message is not modified"):
        await bot.edit_message_text("第二页 <i>i</i>", chat_id=11, message_id=sent.message_id, parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)Message to edit not found"):
        await bot.edit_message_text("x", chat_id=11, message_id=123456)
    await bot.edit_message_reply_markup(chat_id=11, message_id=sent.message_id, reply_markup=markup)


@pytest.mark.asyncio
async def test_reply_to_bot_message(fake, bot):
    fake.feed_message(-200, "@articlebot_test_bot 你好", user_id=8, chat_type="group")
    sent = await bot.send_message(-200, "答")
    fake.feed_message(-200, "还有呢", user_id=8, chat_type="group", reply_to_bot=True)
    updates = await bot.get_updates()
    reply = updates[-1].message
    assert reply.reply_to_message.message_id == sent.message_id
    assert reply.reply_to_message.from_user.id == fake.bot_id
    answer = await bot.send_message(-200, "再答", reply_to_message_id=reply.message_id)
    assert answer.reply_to_message.message_id == reply.message_id
    with pytest.raises(BadRequest, match="(?i)Message to be replied not found"):
        await bot.send_message(-200, "x", reply_to_message_id=987654)


@pytest.mark.asyncio
async def test_inline_query_answer_validation(fake, bot):
    def article(n, text="<b>x</b>"):
        return InlineQueryResultArticle(str(n), f"t{n}", InputTextMessageContent(text, parse_mode=ParseMode.HTML))

    query = fake.feed_inline_query("北京", user_id=31)
    update = (await bot.get_updates())[-1]
    assert update.inline_query.query == "北京" and update.inline_query.id == query["id"]
    with pytest.raises(BadRequest, match="(?i)Results_too_much"):
        await bot.answer_inline_query(query["id"], [article(n) for n in range(51)])
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.answer_inline_query(query["id"], [article(1, "<script>")])
    with pytest.raises(BadRequest, match="(?i)Result_id_duplicate"):
        await bot.answer_inline_query(query["id"], [article(1), article(1)])
    await bot.answer_inline_query(query["id"], [article(n) for n in range(3)])
    call = await fake.wait_for("answerInlineQuery")
    assert len(call["results"]) == 3
    with pytest.raises(BadRequest, match="(?i)Query is too old"):
        await bot.answer_inline_query(query["id"], [])


@pytest.mark.asyncio
async def test_documents_get_file_and_download(fake, bot):
    message = fake.feed_document(12, "# 标题\n\n正文".encode(), "a.md", forward_from=99)
    update = (await bot.get_updates())[-1]
    document = update.message.document
    assert document.file_name == "a.md" and document.file_size == len("# 标题\n\n正文".encode())
    assert update.message.forward_origin.sender_user.id == 99
    assert message["document"]["file_id"] == document.file_id
    file = await bot.get_file(document.file_id)
    assert file.file_path.endswith(".md")
    assert bytes(await file.download_as_bytearray()) == "# 标题\n\n正文".encode()
    with pytest.raises(BadRequest, match="(?i)Invalid file_id"):
        await bot.get_file("nope")
    big = fake.feed_document(12, b"small", "big.md", file_size=50 * 1024 * 1024)
    assert big["document"]["file_size"] == 50 * 1024 * 1024
    with pytest.raises(BadRequest, match="(?i)File is too big"):
        await bot.get_file(big["document"]["file_id"])


@pytest.mark.asyncio
async def test_commands_webhook_and_catch_all(fake, bot):
    await bot.set_my_commands([BotCommand("search", "搜索"), BotCommand("help", "帮助")])
    assert [c.command for c in await bot.get_my_commands()] == ["search", "help"]
    with pytest.raises(BadRequest, match="(?i)Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(telegram.error.Conflict):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()
    fake.feed_message(13, "x")
    await bot.send_chat_action(13, "typing")
    assert await bot.set_my_description("描述")  # not modelled: recorded, answered True
    assert [c.method for c in fake.unknown_calls] == ["setMyDescription"]
    assert fake.unknown_calls[0]["description"] == "描述"


@pytest.mark.asyncio
async def test_fault_injection(fake, bot):
    fake.feed_message(14, "x")
    fake.fail_next("sendMessage", status=429, retry_after=2)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(14, "a")
    assert info.value.retry_after in (2, __import__("datetime").timedelta(seconds=2))
    fake.fail_next("sendMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(14, "b")
    await bot.send_message(14, "c")
    statuses = [c.status for c in fake.calls_of("sendMessage", ok=None)]
    assert statuses == [429, 500, 500, 200]


@pytest.mark.asyncio
async def test_wait_for_and_form_encoding(fake, bot):
    fake.feed_message(15, "x")
    mark = fake.mark()

    async def later():
        await asyncio.sleep(0.1)
        await bot.send_message(15, "123")  # a numeric-looking text stays a string

    task = asyncio.create_task(later())
    call = await fake.wait_for("sendMessage", lambda c: c["chat_id"] == 15, since=mark, timeout=3)
    await task
    assert call["text"] == "123" and call.result["text"] == "123"
    with pytest.raises(AssertionError, match="no successful editMessageText call"):
        await fake.wait_for("editMessageText", timeout=0.2)


@pytest.mark.asyncio
async def test_updates_parse_as_ptb_updates(fake, bot):
    fake.feed_message(16, "hello", language_code="en")
    raw = fake.updates[-1]
    update = Update.de_json(raw, bot)
    assert update.effective_user.language_code == "en"
    assert update.effective_chat.type == "private" and update.message.date is not None
