"""End-to-end tests of the Telegram bot against the in-process fake Bot API (offline).

Each test starts a fresh fake server and a fresh application (polling the fake on
127.0.0.1) over its own copy of a store holding the bundled sample, feeds updates as
Telegram would, and asserts on the Bot API calls the bot made. The fake refuses what
Telegram would refuse (bad HTML, too long, bad callback data...), and every test ends by
checking that the bot made no call the fake refused and logged no error. The fixtures
(`bot`, `db_path`) and the harness are in bot_harness.py, a plugin registered in conftest.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from bot_harness import (
    ADMIN_ID,
    ANSWER_WAIT,
    BOT_USERNAME,
    MAX_UPLOAD,
    QUESTION,
    RATE_LIMIT,
    TITLE,
    UNIQUE_WORD,
    UPLOAD_MD,
    UPLOAD_TITLE,
    plain,
    refused_upload,
    running_bot,
)
from fake_telegram import Call

from articlebot.bot.replies import format_no_answer
from articlebot.corpus.parse import parse_bytes

HOSTILE_WORD = "欧米伽测试词"
HOSTILE_MD = (
    f"# 标题 &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt; {HOSTILE_WORD}\n\n"
    f"{HOSTILE_WORD}：a &lt; b &amp;&amp; c &gt; d；&lt;script&gt;alert(document.cookie)&lt;/script&gt; "
    "以及 &amp;amp; &amp;nbsp; &amp;#0; 还有 &lt;b&gt;不是粗体&lt;/i&gt; 和 &lt;a href=x&gt;。\n\n"
    f"第二段 {HOSTILE_WORD} `<script>x</script>` 与 `a & b < c > d` 还有 `</b></pre>`。\n"
).encode()


pytestmark = pytest.mark.asyncio


# --- start-up -----------------------------------------------------------------------------------


async def test_startup_registers_commands(bot):
    calls = bot.fake.calls_of("setMyCommands", since=0)
    assert calls, "setMyCommands was not called at startup"
    names = {c["command"] for call in calls for c in call["commands"]}
    assert {"search", "help", "stats", "start"} <= names
    assert bot.fake.calls_of("getMe") and bot.fake.calls_of("deleteWebhook")
    poll = await bot.fake.wait_for("getUpdates", ok=None)  # polling the fake
    assert set(poll.get("allowed_updates") or ["message", "callback_query", "inline_query"]) >= {
        "message",
        "callback_query",
        "inline_query",
    }
    assert not bot.fake.unknown_calls


# --- questions ------------------------------------------------------------------------------------


async def test_private_question_gets_passage_with_title_and_fact(bot):
    call = await bot.ask(2001, QUESTION)
    assert call["parse_mode"] == "HTML"
    assert TITLE in plain(call)
    assert "223" in plain(call)
    assert "223" in call["text"] and "世界旅游城市联合会" in plain(call)


async def test_group_message_without_mention_is_ignored(bot):
    group, user = -3001, 3001
    mark = bot.mark()
    bot.fake.feed_message(group, QUESTION, user_id=user, chat_type="group")
    other = bot.fake.feed_message(group, "大家好", user_id=user + 1, chat_type="group")
    # a reply to another member's message is not addressed to the bot either
    bot.fake.feed_message(group, QUESTION, user_id=user, chat_type="group", reply_to_message_id=other["message_id"])
    # a mention of someone else is not a mention of the bot
    bot.fake.feed_message(group, f"@someone_else {QUESTION}", user_id=user, chat_type="group")
    # then one that is addressed to the bot: its answer shows the others were handled
    bot.fake.feed_message(group, f"@{BOT_USERNAME} {QUESTION}", user_id=user + 2, chat_type="group")
    await bot.reply_to(group, mark)
    await bot.settle()
    assert len(bot.sent_to(group, since=mark)) == 1


@pytest.mark.parametrize("text", [f"@{BOT_USERNAME} {QUESTION}", f"{QUESTION} @{BOT_USERNAME.upper()}"])
async def test_group_mention_is_answered(bot, text):
    group = -3002
    mark = bot.mark()
    fed = bot.fake.feed_message(group, text, user_id=3002, chat_type="group")
    call = await bot.reply_to(group, mark)
    assert TITLE in plain(call) and "223" in plain(call)
    # in a group the answer quotes the question it answers
    assert call.result.get("reply_to_message", {}).get("message_id") == fed["message_id"]


async def test_group_reply_to_bot_is_answered(bot):
    group, user = -3003, 3003
    first = await bot.ask(group, f"@{BOT_USERNAME} 北京", user_id=user, chat_type="group")
    mark = bot.mark()
    follow_up = bot.fake.feed_message(group, QUESTION, user_id=user, chat_type="group", reply_to_bot=True)
    assert follow_up["reply_to_message"]["message_id"] == first.result["message_id"]
    call = await bot.reply_to(group, mark)
    assert TITLE in plain(call) and "223" in plain(call)


async def test_group_search_command(bot):
    group, user = -3004, 3004
    for text in (f"/search {QUESTION}", f"/search@{BOT_USERNAME} {QUESTION}"):
        call = await bot.ask(group, text, user_id=user, chat_type="group")
        assert TITLE in plain(call) and "223" in plain(call)
    # without a question: a usage hint, not a search for nothing
    usage = await bot.ask(group, "/search", user_id=user + 1, chat_type="group")
    assert "/search" in plain(usage)


async def test_english_user_gets_english_no_answer(bot):
    question = "xyzzy plugh frobnicate"
    call = await bot.ask(2002, question, language_code="en")
    assert format_no_answer(question, "en") in call["text"]
    assert not re.search(r"[\u4e00-\u9fff]", plain(call)), plain(call)
    chinese = await bot.ask(2003, question, language_code="zh-hans")
    assert format_no_answer(question, "zh") in chinese["text"]
    assert plain(chinese) != plain(call)


# --- inline mode -------------------------------------------------------------------------------------


async def test_inline_query_answers_with_articles(bot):
    mark = bot.mark()
    query = bot.fake.feed_inline_query("世界旅游城市联合会 会员", user_id=4001)
    call = await bot.fake.wait_for("answerInlineQuery", lambda c: str(c["inline_query_id"]) == query["id"], since=mark, timeout=ANSWER_WAIT)
    results = call["results"]
    assert 1 <= len(results) <= 10
    assert all(r["type"] == "article" for r in results)
    assert len({r["id"] for r in results}) == len(results)
    assert any(TITLE in r["title"] for r in results)
    best = next(r for r in results if TITLE in r["title"])
    assert "223" in best["input_message_content"]["message_text"] + best.get("description", "")


# --- the "more" button -----------------------------------------------------------------------------


def _more_button(call: Call) -> str:
    rows = (call.get("reply_markup") or {}).get("inline_keyboard", [])
    data = [b["callback_data"] for row in rows for b in row if b.get("callback_data", "").startswith("more:")]
    assert data, f'no "more" button in {call!r}'
    return data[0]


async def test_more_button_shows_next_passages(bot):
    chat = 2004
    first = await bot.ask(chat, "北京")
    data = _more_button(first)
    assert re.fullmatch(r"more:[^:]+:\d+", data) and len(data.encode()) <= 64
    offset = int(data.rsplit(":", 1)[1])
    assert offset == bot.config.answers
    mark = bot.mark()
    bot.fake.feed_callback(data, first.result["message_id"], chat_id=chat)
    await bot.fake.wait_for("answerCallbackQuery", since=mark)  # the button stops spinning
    # the next page may replace the message or follow it
    page = await bot.fake.wait_for(("sendMessage", "editMessageText"), lambda c: c["chat_id"] == chat, since=mark, timeout=ANSWER_WAIT)
    text = plain(page)
    assert text != plain(first)
    assert re.search(rf"(^|\n){offset + 1}\. ", text), text  # numbering continues
    assert not re.search(r"(^|\n)1\. ", text), text
    hits = await bot.library.search("北京", offset + bot.config.page_size)
    assert hits[offset].title in text


async def test_full_text_button_sends_the_whole_paragraphs(bot):
    chat = 2024
    first = await bot.ask(chat, "世界旅游城市联合会有多少会员")
    rows = first["reply_markup"]["inline_keyboard"]
    full = [b["callback_data"] for row in rows for b in row if b["callback_data"].startswith("full:")]
    assert full and len(full[0].encode()) <= 64
    hits = await bot.library.search("世界旅游城市联合会有多少会员", bot.config.answers)
    assert plain(first).startswith(hits[0].snippet[:20])  # the answering sentence first
    mark = bot.mark()
    bot.fake.feed_callback(full[0], first.result["message_id"], chat_id=chat)
    await bot.fake.wait_for("answerCallbackQuery", since=mark)
    page = await bot.fake.wait_for("sendMessage", lambda c: c["chat_id"] == chat, since=mark, timeout=ANSWER_WAIT)
    text = plain(page)
    assert hits[0].text[:40] in text and text.startswith("1. ")  # the whole paragraph, numbered


@pytest.mark.parametrize("data", ["more:unknownpage:3", "something-else", "more:x"])
async def test_expired_more_button_gets_notice(bot, data):
    chat = 2005
    first = await bot.ask(chat, "北京")
    mark = bot.mark()
    bot.fake.feed_callback(data, first.result["message_id"], chat_id=chat)
    answered = await bot.fake.wait_for("answerCallbackQuery", since=mark)
    assert answered.get("text"), "an expired page needs a notice"
    await bot.settle()
    assert not bot.sent_to(chat, since=mark)
    assert not bot.fake.calls_of("editMessageText", since=mark)


# --- uploads -------------------------------------------------------------------------------------------


async def test_admin_uploads_article_then_it_is_found(bot):
    expected = parse_bytes(UPLOAD_MD, "upload.md")
    before = await bot.library.stats()
    mark = bot.mark()
    bot.fake.feed_document(ADMIN_ID, UPLOAD_MD, "upload.md", user_id=ADMIN_ID)
    reply = await bot.reply_to(ADMIN_ID, mark)
    assert bot.fake.calls_of("getFile", since=mark)
    assert UPLOAD_TITLE in plain(reply)
    assert str(len(expected.paragraphs)) in plain(reply)
    assert expected.id in plain(reply)
    after = await bot.library.stats()
    assert after.articles == before.articles + 1
    answer = await bot.ask(2006, f"{UNIQUE_WORD}是什么")
    assert UPLOAD_TITLE in plain(answer) and UNIQUE_WORD in plain(answer)


async def test_non_admin_upload_is_refused(bot):
    await refused_upload(bot, 2007, user_id=2007)
    answer = await bot.ask(2007, f"{UNIQUE_WORD}是什么")
    assert UPLOAD_TITLE not in plain(answer)


async def test_forwarded_upload_from_admin_is_refused(bot):
    await refused_upload(bot, ADMIN_ID, user_id=ADMIN_ID, forward_from=2008)


async def test_oversized_upload_is_refused_before_download(bot):
    reply = await refused_upload(bot, ADMIN_ID, user_id=ADMIN_ID, file_size=MAX_UPLOAD + 1)
    assert re.search(r"\d", plain(reply))  # says how big / what the limit is


# --- hostile article text -----------------------------------------------------------------------------


async def test_article_full_of_markup_gives_valid_html(bot):
    article = await bot.library.add_document(HOSTILE_MD, "hostile.md")
    assert "<script>" in article.title and any("<script>" in p.text for p in article.paragraphs)
    call = await bot.ask(2009, HOSTILE_WORD)
    text = plain(call)
    assert article.title in text  # shown literally, not interpreted
    assert "<script>" in text and "&" in text
    assert not call.result.get("entities") or all(
        e["type"] in {"bold", "italic", "code", "text_link", "pre", "blockquote", "underline"} for e in call.result["entities"]
    )
    mark = bot.mark()
    query = bot.fake.feed_inline_query(HOSTILE_WORD, user_id=2009)
    inline = await bot.fake.wait_for(
        "answerInlineQuery", lambda c: str(c["inline_query_id"]) == query["id"], since=mark, timeout=ANSWER_WAIT
    )
    assert inline["results"] and any(article.title in r["title"] for r in inline["results"])
    # the "more" page of such an article is valid too (every refused call fails the test)
    if (call.get("reply_markup") or {}).get("inline_keyboard"):
        mark = bot.mark()
        bot.fake.feed_callback(_more_button(call), call.result["message_id"], chat_id=2009)
        await bot.reply_to(2009, mark)


async def test_hostile_and_huge_questions_give_valid_replies(bot):
    for text in ("<script>alert(1)</script> &nbsp; &amp; </b>", "问" * 5000, "😀" * 3000 + " <b>"):
        call = await bot.ask(2018, text)
        assert plain(call).strip()
    assert bot.fake.calls_of("sendMessage", lambda c: "<script>" in plain(c))  # shown, not parsed


LONG_WORD = "长段落测试词"
LONG_MD = ("# 长段落测试词的文章\n\n" + (f"{LONG_WORD}😀 a &amp; b &lt; c；" + "字" * 40) * 150 + "\n").encode()


async def test_many_long_passages_fit_telegram_limit(db_path):
    # ten passages of ~470 characters (emoji count twice in UTF-16) would be ~5000: the bot
    # must trim them to 4096; the fake refuses anything longer (and every refusal fails)
    async with running_bot(db_path, answers=10, page_size=10, rate_limit=10) as bot:
        article = await bot.library.add_document(LONG_MD, "long.md")
        assert len(article.paragraphs) >= 15
        first = await bot.ask(2019, LONG_WORD)
        assert LONG_WORD in plain(first)
        mark = bot.mark()
        bot.fake.feed_callback(_more_button(first), first.result["message_id"], chat_id=2019)
        page = await bot.fake.wait_for(("sendMessage", "editMessageText"), lambda c: c["chat_id"] == 2019, since=mark)
        assert LONG_WORD in plain(page)
        mark = bot.mark()
        query = bot.fake.feed_inline_query(LONG_WORD, user_id=2019)
        inline = await bot.fake.wait_for("answerInlineQuery", lambda c: str(c["inline_query_id"]) == query["id"], since=mark)
        assert inline["results"]


# --- limits and faults --------------------------------------------------------------------------------


async def test_flood_gets_rate_limit_message(bot):
    chat = 2010
    mark = bot.mark()
    for i in range(RATE_LIMIT + 3):
        bot.fake.feed_message(chat, f"{QUESTION}{'？' * i}")
    await bot.fake.wait_for("sendMessage", lambda c: c["chat_id"] == chat and TITLE not in plain(c), since=mark, timeout=ANSWER_WAIT)
    await bot.settle()
    sent = bot.sent_to(chat, since=mark)
    answers = [c for c in sent if TITLE in plain(c)]
    notices = [c for c in sent if TITLE not in plain(c)]
    assert len(answers) == RATE_LIMIT
    assert len(notices) == 1, "the limit is told once, not once per refused question"
    assert re.search(r"频繁|太快|稍后|秒|too (fast|many)|seconds", plain(notices[0])), plain(notices[0])
    # another user is not affected
    other = await bot.ask(2011, QUESTION)
    assert TITLE in plain(other)


async def test_bot_api_429_is_retried(bot):
    chat = 2012
    mark = bot.mark()
    bot.fake.fail_next("sendMessage", status=429, retry_after=1)
    call = await bot.ask(chat, QUESTION)
    assert TITLE in plain(call)
    statuses = [c.status for c in bot.fake.calls_of("sendMessage", lambda c: c["chat_id"] == chat, since=mark, ok=None)]
    assert statuses == [429, 200]
    tries = bot.fake.calls_of("sendMessage", since=mark, ok=None)
    assert tries[1].time - tries[0].time >= 0.9  # waited retry_after


async def test_bot_api_500_then_recovers(bot):
    bot.expect_errors = True  # the failed send is logged as an error: that is expected
    chat = 2013
    mark = bot.mark()
    bot.fake.fail_next("sendMessage", status=500, times=1)
    bot.fake.feed_message(chat, QUESTION)
    await bot.fake.wait_for("sendMessage", lambda c: c["chat_id"] == chat, since=mark, ok=False)
    await bot.settle()
    later = await bot.ask(chat, f"{QUESTION}？")
    assert TITLE in plain(later) and "223" in plain(later)
    assert bot.application.running and bot.application.updater.running


async def test_get_updates_failure_then_polling_resumes(bot):
    bot.expect_errors = True  # PTB logs the failed poll
    bot.fake.fail_next("getUpdates", status=502, times=1)
    await bot.fake.wait_for("getUpdates", ok=False, since=bot.since)
    call = await bot.ask(2017, QUESTION)
    assert TITLE in plain(call)


# --- commands ---------------------------------------------------------------------------------------------


async def test_stats_shows_numbers(bot):
    stats = await bot.library.stats()
    call = await bot.ask(2014, "/stats")
    text = plain(call)
    assert str(stats.articles) in text and str(stats.paragraphs) in text


@pytest.mark.parametrize("command", ["/start", "/help"])
async def test_start_and_help(bot, command):
    call = await bot.ask(2015, command)
    assert plain(call).strip()
    english = await bot.ask(2016, command, language_code="en")
    assert re.search(r"[A-Za-z]{4,}", plain(english))
    assert plain(english) != plain(call)
    if command == "/help":
        assert "/search" in plain(call) and "/search" in plain(english)


async def test_unknown_command_in_private_chat_gets_help(bot):
    call = await bot.ask(2017, "/frobnicate")
    assert "/search" in plain(call)


async def test_typing_is_shown_only_for_slow_searches(bot, monkeypatch):
    import articlebot.bot.app as app_module

    # an answer before TYPING_AFTER needs no "typing…"; the threshold is raised so that this
    # holds on any machine (how fast searches really are is bench/'s business)
    monkeypatch.setattr(app_module, "TYPING_AFTER", 30.0)
    quick = await bot.ask(2018, "世界旅游城市联合会有多少会员")
    assert "223" in plain(quick)
    assert not bot.sent_to(2018, method="sendChatAction")

    monkeypatch.setattr(app_module, "TYPING_AFTER", 0.05)
    search = bot.library.search

    async def slow_search(question, k):
        await asyncio.sleep(0.3)
        return await search(question, k)

    monkeypatch.setattr(bot.library, "search", slow_search)
    slow = await bot.ask(2019, "世界旅游城市联合会有多少会员")
    assert "223" in plain(slow)
    assert bot.sent_to(2019, method="sendChatAction")
