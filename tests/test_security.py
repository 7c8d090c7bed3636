"""Security tests of the Telegram bot, end to end against the fake Bot API (offline).

What README's "Security" section promises, each tested here so that it fails if the code
were wrong: only the configured admins (by user id) change the corpus, whoever administers
a group; forwarded commands are not orders; a user's file name never becomes a path; the
type is checked before any download; the token (and the webhook secret) never reach a log
line, even with every logger at DEBUG; the webhook refuses requests without Telegram's
secret-token header. The fixtures (`bot`, `db_path`) and the running-bot harness are in
bot_harness.py, a plugin registered in conftest.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import tempfile
import threading
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx  # a dependency of python-telegram-bot
import pytest
from bot_harness import (
    ADMIN_ID,
    BOT_USERNAME,
    MAX_UPLOAD,
    QUESTION,
    TITLE,
    UPLOAD_MD,
    UPLOAD_TITLE,
    Harness,
    plain,
    refused_upload,
    running_bot,
    started,
)
from fake_telegram import FakeTelegram
from telegram.ext import Application

import articlebot.bot.app as bot_app
from articlebot.bot import replies
from articlebot.bot.app import build_application, prepare_webhook, run, setup_logging
from articlebot.bot.config import BotConfig, ConfigError
from articlebot.bot.library import Library
from articlebot.corpus.store import Store

# A token shaped like BotFather's (bot id, colon, 35 characters of A-Za-z0-9_-).
REAL_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
TOKEN_FORMS = (REAL_TOKEN, quote(REAL_TOKEN, safe=""), REAL_TOKEN.split(":", 1)[1])

ADMINS_ONLY = replies.message("admins_only", "zh")
BAD_TYPE = replies.format_bad_type("zh")
GROUP = -100500  # a group where GROUP_OWNER and GROUP_ADMIN are Telegram admins, not bot admins
GROUP_OWNER, GROUP_ADMIN = 5001, 5002


async def _some_article_id(harness: Harness) -> str:
    hits = await harness.library.search(QUESTION, 1)
    assert hits and hits[0].title == TITLE
    return hits[0].article_id


async def _still_there(harness: Harness, article_id: str) -> bool:
    hits = await harness.library.search(QUESTION, 10)
    return any(h.article_id == article_id for h in hits)


async def _make_group(harness: Harness) -> None:
    """GROUP, where Telegram reports GROUP_OWNER as creator and GROUP_ADMIN as administrator
    (should the bot ever ask), and the bot's admin as a plain member."""
    fake = harness.fake
    fake.set_chat_member(GROUP, GROUP_OWNER, "creator")
    fake.set_chat_member(GROUP, GROUP_ADMIN, "administrator")
    fake.set_chat_member(GROUP, ADMIN_ID, "member")
    telegram_bot = harness.application.bot
    admins = await telegram_bot.get_chat_administrators(GROUP)
    assert {(m.user.id, m.status) for m in admins} == {(GROUP_OWNER, "creator"), (GROUP_ADMIN, "administrator")}
    assert (await telegram_bot.get_chat_member(GROUP, ADMIN_ID)).status == "member"


# --- 1. who may change the corpus -----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("user", [GROUP_OWNER, GROUP_ADMIN])
async def test_group_admins_who_are_not_bot_admins_cannot_upload(bot, user):
    await _make_group(bot)
    reply = await refused_upload(bot, GROUP, user_id=user, chat_type="supergroup")
    assert plain(reply) == ADMINS_ONLY
    assert not bot.fake.downloads


@pytest.mark.asyncio
@pytest.mark.parametrize("user", [GROUP_OWNER, GROUP_ADMIN])
async def test_group_admins_who_are_not_bot_admins_cannot_remove(bot, user):
    await _make_group(bot)
    article_id = await _some_article_id(bot)
    before = await bot.library.stats()
    for text in (f"/remove {article_id}", f"/remove@{BOT_USERNAME} {article_id}"):
        reply = await bot.ask(GROUP, text, user_id=user, chat_type="supergroup")
        assert plain(reply) == ADMINS_ONLY
    assert (await bot.library.stats()).articles == before.articles
    assert await _still_there(bot, article_id)


@pytest.mark.asyncio
async def test_non_admin_cannot_remove_in_private(bot):
    article_id = await _some_article_id(bot)
    before = await bot.library.stats()
    reply = await bot.ask(2101, f"/remove {article_id}")
    assert plain(reply) == ADMINS_ONLY
    assert (await bot.library.stats()).articles == before.articles
    assert await _still_there(bot, article_id)


@pytest.mark.asyncio
async def test_forwarded_remove_is_not_an_order(bot):
    article_id = await _some_article_id(bot)
    before = await bot.library.stats()
    cases = [
        (ADMIN_ID, 2102),  # an admin passes on someone else's "/remove": not the admin's order
        (2103, ADMIN_ID),  # a non-admin forwards an admin's own "/remove": no admin rights
    ]
    for sender, author in cases:
        reply = await bot.ask(sender, f"/remove {article_id}", user_id=sender, forward_from=author)
        assert "/search" in plain(reply), plain(reply)  # the help text, as for any non-command
        assert article_id not in plain(reply)
    await bot.settle()
    assert (await bot.library.stats()).articles == before.articles
    assert await _still_there(bot, article_id)
    # the same command typed by the admin works: the refusals above were not a bad id
    reply = await bot.ask(ADMIN_ID, f"/remove {article_id}")
    assert article_id in plain(reply)
    assert (await bot.library.stats()).articles == before.articles - 1
    assert not await _still_there(bot, article_id)


@pytest.mark.asyncio
async def test_bot_admin_upload_in_a_group_is_added_other_files_ignored(bot):
    """As README's Security section says: in a group too, an article file from a bot admin
    is added (and from anyone else refused); other files in groups are none of the bot's
    business: no reply, no download."""
    await _make_group(bot)
    before = await bot.library.stats()
    mark = bot.mark()
    bot.fake.feed_document(GROUP, b"MZ\x90\x00", "tool.exe", user_id=ADMIN_ID, chat_type="supergroup")
    bot.fake.feed_document(GROUP, b"PK\x03\x04", "photos.zip", user_id=GROUP_OWNER, chat_type="supergroup")
    bot.fake.feed_document(GROUP, UPLOAD_MD, "upload.md", user_id=ADMIN_ID, chat_type="supergroup")
    reply = await bot.reply_to(GROUP, mark)
    await bot.settle()
    assert UPLOAD_TITLE in plain(reply)
    assert len(bot.sent_to(GROUP, since=mark)) == 1  # the two other files got no reply
    assert [c["file_id"] for c in bot.fake.calls_of("getFile", since=mark)] == [
        f.file_id for f in bot.fake.files.values() if f.file_name == "upload.md"
    ]
    assert len(bot.fake.downloads) == 1
    assert (await bot.library.stats()).articles == before.articles + 1


# --- 2. a user's file name is never a path ----------------------------------------------------------


def _names_containing(marker: str, *roots: Path, deep: bool = True) -> list[Path]:
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        entries = root.rglob("*") if deep else root.iterdir()
        found += [p for p in entries if marker in p.name]
    return found


@pytest.mark.asyncio
async def test_hostile_file_names_are_labels_not_paths(db_path, tmp_path, monkeypatch):
    marker = f"evil{uuid.uuid4().hex[:8]}"
    workdir = tmp_path / "cwd" / "a" / "b"  # so "../../x" from here would land in tmp_path/cwd
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    names = [
        f"../../{marker}.md",
        f"../../../../../../../../tmp/{marker}.md",
        f"{tempfile.gettempdir()}/{marker}.md",
        f"/etc/{marker}passwd.md",
        f"a/../../{marker}.md",
        f"..\\..\\{marker}.md",
        f"~/{marker}.md",
        f"{marker}\x00.md",
        f"{marker}.exe\x00.md",
        f"./.{marker}.md",
        f"{marker}{'x' * 300}.md",
    ]
    added: dict[str, str] = {}  # article id -> the name it was sent as
    async with running_bot(db_path) as harness:
        before = await harness.library.stats()
        for i, name in enumerate(names):
            data = UPLOAD_MD + f"\n第{i + 4}段：文件名测试。\n".encode()  # distinct bytes, distinct ids
            mark = harness.mark()
            message = harness.fake.feed_document(ADMIN_ID, data, name, user_id=ADMIN_ID)
            assert message["document"]["file_name"] == name  # sent to the bot as is
            reply = await harness.reply_to(ADMIN_ID, mark)
            assert UPLOAD_TITLE in plain(reply), (name, plain(reply))
            article_id = re.search(r"ID：([0-9a-f]{12})", plain(reply))[1]
            assert article_id not in added
            added[article_id] = name
        assert (await harness.library.stats()).articles == before.articles + len(names)
        assert len(harness.fake.downloads) == len(names)
    store = Store.open(db_path)
    try:
        sources = {a.id: a.source_path for a in store.list_articles()}
    finally:
        store.close()
    unique_ids = {f.file_unique_id for f in harness.fake.files.values()}
    for article_id, name in added.items():
        source = sources[article_id]
        prefix, _, label = source.partition("/")
        assert prefix.startswith("telegram:") and prefix[len("telegram:") :] in unique_ids, source
        assert label and not any(c in label for c in "/\\\x00~"), (name, source)
        assert not label.startswith("."), (name, source)
        assert marker in label and len(label) <= 80
    # nothing named after the uploads was written anywhere the bot could have written
    roots = [tmp_path, Path(tempfile.gettempdir()), Path.home(), Path("/etc")]
    assert not _names_containing(marker, tmp_path), "a file name became a path under tmp_path"
    assert not _names_containing(marker, *roots[1:], deep=False), "a file name became a path"
    assert not _names_containing(marker, Path(bot_app.__file__).parents[1], deep=False)


# --- 3. the type is checked before anything is downloaded ---------------------------------------------


@pytest.mark.asyncio
async def test_non_article_types_are_refused_before_download(bot):
    files = [
        ("setup.exe", b"MZ\x90\x00\x03" + b"\x00" * 64, "application/x-msdownload"),
        ("articles.zip", b"PK\x03\x04" + b"\x00" * 64, "application/zip"),
        ("notes.md.exe", b"MZ\x90\x00", None),
        ("payload.exe", UPLOAD_MD, "text/markdown"),  # the declared type does not decide
        ("README", UPLOAD_MD, "text/plain"),  # no extension
        ("page.html.", b"<html></html>", "text/html"),
        ("script.sh", b"#!/bin/sh\nrm -rf /\n", "application/x-sh"),
    ]
    for name, data, mime in files:
        before = await bot.library.stats()
        mark = bot.mark()
        bot.fake.feed_document(ADMIN_ID, data, name, user_id=ADMIN_ID, mime_type=mime)
        reply = await bot.reply_to(ADMIN_ID, mark)
        assert plain(reply) == BAD_TYPE, name
        assert not bot.fake.calls_of("getFile", since=mark, ok=None), f"{name}: getFile before the type check"
        assert (await bot.library.stats()).articles == before.articles
    await bot.settle()
    assert not bot.fake.calls_of("getFile", since=bot.since, ok=None)
    assert not bot.fake.downloads
    # the control: an article file is fetched, so the checks above would have seen a download
    mark = bot.mark()
    bot.fake.feed_document(ADMIN_ID, UPLOAD_MD, "upload.MD", user_id=ADMIN_ID, mime_type="application/octet-stream")
    assert UPLOAD_TITLE in plain(await bot.reply_to(ADMIN_ID, mark))
    assert bot.fake.calls_of("getFile", since=mark) and len(bot.fake.downloads) == 1


@pytest.mark.asyncio
async def test_oversized_article_refused_before_download(bot):
    mark = bot.mark()
    bot.fake.feed_document(ADMIN_ID, UPLOAD_MD, "big.md", user_id=ADMIN_ID, file_size=MAX_UPLOAD + 1)
    reply = await bot.reply_to(ADMIN_ID, mark)
    assert UPLOAD_TITLE not in plain(reply)
    await bot.settle()
    assert not bot.fake.calls_of("getFile", since=mark, ok=None) and not bot.fake.downloads


# --- 4. the token never reaches a log line -----------------------------------------------------------

# Every logger that could see a Bot API url, a request or a traceback.
LIBRARY_LOGGERS = (
    "telegram",
    "telegram.ext",
    "httpx",
    "httpcore",
    "apscheduler",
    "tornado",
    "aiohttp",
    "asyncio",
    "bot",
    "articlebot",
    "corpus",
    "retrieval",
)


@contextmanager
def logs_as_the_cli_sets_them_up(token: str):
    """Logging configured by bot.app.setup_logging (what `articlebot bot` calls) on a root
    logger with no handler, as in a fresh process; then every logger turned to DEBUG
    (httpx included, which setup_logging keeps at WARNING). Yields the text the real
    handler wrote, with its real formatter (tracebacks included)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    for handler in saved_handlers:
        root.removeHandler(handler)
    stream = io.StringIO()
    try:
        setup_logging(token, logging.DEBUG)
        assert len(root.handlers) == 1, root.handlers
        root.handlers[0].setStream(stream)  # the StreamHandler basicConfig made, filter and all
        root.setLevel(logging.DEBUG)
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked: " + next(line for line in text.splitlines() if secret in line)


def _bot_config(fake: FakeTelegram, **overrides) -> BotConfig:
    settings = dict(
        token=fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        admins=frozenset({ADMIN_ID}),
        max_upload_bytes=MAX_UPLOAD,
    )
    return BotConfig(**{**settings, **overrides})


@pytest.mark.asyncio
async def test_token_is_redacted_from_every_log_line_at_debug(db_path):
    with logs_as_the_cli_sets_them_up(REAL_TOKEN) as stream:
        async with FakeTelegram(REAL_TOKEN, username=BOT_USERNAME) as fake:
            config = _bot_config(fake)
            library = await asyncio.to_thread(Library, db_path)
            application = build_application(config, library)  # after setup_logging, as the CLI does
            poll = lambda: application.updater.start_polling(  # noqa: E731
                poll_interval=0, timeout=1, allowed_updates=bot_app.ALLOWED_UPDATES
            )
            async with started(application, poll):
                harness = Harness(fake, library, config, application)
                answer = await harness.ask(2201, QUESTION)  # a plain question
                assert TITLE in plain(answer)
                # the Bot API fails a send: PTB raises in the handler, the error handler logs it
                fake.fail_next("sendMessage", status=500, times=1)
                mark = fake.mark()
                fake.feed_message(2202, QUESTION)
                await harness.reply_to(2202, mark)  # the apology, after the failed answer
                # polling fails once: the updater logs the exception and polls again
                fake.fail_next("getUpdates", status=502, times=1)
                await fake.wait_for("getUpdates", ok=False, since=mark)
                # a handler raises an exception whose message carries both forms of the token
                leaky = RuntimeError(f"could not reach {application.bot.base_url}/getMe ({TOKEN_FORMS[1]})")

                async def failing_stats():
                    raise leaky

                library.stats = failing_stats
                apology = await harness.ask(2203, "/stats")
                assert plain(apology) == replies.text_of("error", "zh")
                # an upload: getFile, then a download from the file url (token in the path too)
                mark = fake.mark()
                fake.feed_document(ADMIN_ID, UPLOAD_MD, "upload.md", user_id=ADMIN_ID)
                assert UPLOAD_TITLE in plain(await harness.reply_to(ADMIN_ID, mark))
                assert fake.downloads
                await harness.settle()
            # no Bot API call carried the token in its parameters (the apology says nothing)
            assert_no_secret(repr([c.params for c in fake.calls]), *TOKEN_FORMS)
    text = stream.getvalue()
    assert_no_secret(text, *TOKEN_FORMS)
    # ... while the lines that would have held it were logged, redacted:
    httpx_lines = [line for line in text.splitlines() if " httpx: " in line]
    assert any("/bot<token>/getMe" in line for line in httpx_lines), httpx_lines[:5]
    assert any("/file/bot<token>/documents/" in line for line in httpx_lines), httpx_lines
    assert any(" DEBUG telegram." in line and "/bot<token>" in line for line in text.splitlines())
    assert any(" DEBUG httpcore." in line for line in text.splitlines())
    assert "could not reach http://127.0.0.1" in text and "/bot<token>/getMe (<token>)" in text
    assert text.count("Traceback (most recent call last)") >= 3  # 500, getUpdates, the handler
    assert "Exception while handling an update" in text


def test_a_rejected_token_is_not_printed(db_path):
    """A token Telegram refuses: PTB's InvalidToken quotes the whole token, which `run`
    would let out in a traceback on stderr. run() turns it into a ConfigError (one line,
    no token), and the log lines say nothing either."""
    wrong = "123456:XYZ-wrongTokenTypedInTheEnvironment99"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeTelegram(REAL_TOKEN)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(5)
    try:
        with logs_as_the_cli_sets_them_up(wrong) as stream:
            config = _bot_config(fake, token=wrong)
            application = build_application(config, Library(db_path))  # closed by post_shutdown
            asyncio.set_event_loop(asyncio.new_event_loop())  # run_polling runs (and closes) it
            try:
                with pytest.raises(ConfigError) as info:
                    run(application, config)
            finally:
                asyncio.set_event_loop(None)
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    printed = "".join(traceback.format_exception(info.value))  # what an uncaught error shows
    secrets = (wrong, quote(wrong, safe=""), wrong.split(":", 1)[1])
    assert_no_secret(printed, *secrets)
    assert "TELEGRAM_BOT_TOKEN" in str(info.value)
    text = stream.getvalue()
    assert_no_secret(text, *secrets)
    assert "Invalid token" in text and "<token>" in text


# --- 5. the webhook checks Telegram's secret header -------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_config_always_has_a_secret():
    url = "https://bot.example.org/tg/hook"
    made = BotConfig(token=REAL_TOKEN, webhook_url=url)
    other = BotConfig(token=REAL_TOKEN, webhook_url=url)
    assert made.secret_token and other.secret_token and made.secret_token != other.secret_token
    assert len(made.secret_token) >= 32
    BotConfig(token=REAL_TOKEN, webhook_url=url, secret_token=made.secret_token)  # a valid one
    assert BotConfig(token=REAL_TOKEN, webhook_url=url, secret_token="given_S3cret").secret_token == "given_S3cret"
    assert BotConfig(token=REAL_TOKEN).secret_token is None  # polling needs none
    from_env = BotConfig.from_env({"TELEGRAM_BOT_TOKEN": REAL_TOKEN}, webhook_url=url, secret_token=None)
    assert from_env.secret_token
    for config in (made, from_env):
        assert config.secret_token not in repr(config) and REAL_TOKEN not in repr(config)


def test_run_serves_the_webhook_with_prepare_webhook(monkeypatch, db_path):
    """run() (what `articlebot bot` calls) passes exactly prepare_webhook's arguments, which
    the webhook test below starts the server with."""
    seen = {}
    monkeypatch.setattr(Application, "run_webhook", lambda self, **kwargs: seen.update(webhook=kwargs))
    monkeypatch.setattr(Application, "run_polling", lambda self, **kwargs: seen.update(polling=kwargs))
    config = BotConfig(token=REAL_TOKEN, webhook_url="https://bot.example.org/tg/hook", port=_free_port())
    library = Library(db_path)
    try:
        application = build_application(config, library)
        run(application, config)
        assert seen == {"webhook": prepare_webhook(config)}
        assert seen["webhook"]["secret_token"] == config.secret_token and seen["webhook"]["url_path"] == "tg/hook"
        seen.clear()
        polling = BotConfig(token=REAL_TOKEN)
        run(build_application(polling, library), polling)
        assert list(seen) == ["polling"]
    finally:
        library.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", ["given-Secret_123", None], ids=["configured", "generated"])
async def test_webhook_refuses_requests_without_the_secret(db_path, secret):
    port = _free_port()
    with logs_as_the_cli_sets_them_up(REAL_TOKEN) as stream:
        async with FakeTelegram(REAL_TOKEN, username=BOT_USERNAME) as fake:
            config = _bot_config(fake, webhook_url="https://bot.example.org/tg/hook", listen="127.0.0.1", port=port, secret_token=secret)
            assert config.secret_token and (secret is None or config.secret_token == secret)
            library = await asyncio.to_thread(Library, db_path)
            application = build_application(config, library)
            webhook = prepare_webhook(config)
            async with started(application, lambda: application.updater.start_webhook(**webhook)):
                registered = fake.calls_of("setWebhook")[-1]
                assert registered["url"] == config.webhook_url and registered["secret_token"] == config.secret_token
                harness = Harness(fake, library, config, application)
                article_id = await _some_article_id(harness)
                url = f"http://127.0.0.1:{port}/tg/hook"
                header = "X-Telegram-Bot-Api-Secret-Token"
                # forged updates: an admin's /remove, an admin's question
                forged = [
                    ({}, fake.message_update(ADMIN_ID, f"/remove {article_id}")),
                    ({header: "wrong-secret"}, fake.message_update(ADMIN_ID, f"/remove {article_id}")),
                    ({header: config.secret_token[:-1]}, fake.message_update(2301, QUESTION)),
                    ({header: config.secret_token + "x"}, fake.message_update(2302, QUESTION)),
                    ({header: ""}, fake.message_update(2303, QUESTION)),
                ]
                mark = fake.mark()
                async with httpx.AsyncClient(timeout=5) as client:
                    for headers, update in forged:
                        response = await client.post(url, json=update, headers=headers)
                        assert response.status_code == 403, (headers, response.status_code)
                    genuine = fake.message_update(2304, QUESTION)
                    response = await client.post(url, json=genuine, headers={header: config.secret_token})
                    assert response.status_code == 200
                answer = await harness.reply_to(2304, mark)
                assert TITLE in plain(answer)
                await harness.settle()
                answered = {c["chat_id"] for c in fake.calls_of("sendMessage", since=mark, ok=None)}
                assert answered == {2304}, answered  # nothing reached the handlers but the genuine one
                assert await _still_there(harness, article_id)
    text = stream.getvalue()
    assert_no_secret(text, *TOKEN_FORMS, config.secret_token)
    assert "setWebhook" in text  # PTB logged the call (its parameters hold the secret) at DEBUG
