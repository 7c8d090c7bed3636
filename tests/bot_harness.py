"""The Telegram bot's test harness, a pytest plugin (registered in conftest.py).

Fixtures: `sample_db` (a store holding the bundled sample, built once per test module),
`db_path` (a fresh copy of it per test) and `bot` (the bot polling a fresh fake Bot API
over that copy). Helpers: `running_bot`, `started`, `Harness`, `plain`, `refused_upload`.
Used by test_bot_e2e and test_security; a module that defines its own `db_path` or `bot`
fixture overrides these.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from fake_telegram import Call, FakeTelegram

import articlebot.bot.app as bot_app
from articlebot.bot.app import build_application
from articlebot.bot.config import BotConfig
from articlebot.bot.library import Library
from articlebot.corpus.ingest import add_paths
from articlebot.corpus.sample import sample_files
from articlebot.corpus.store import Store

TOKEN = "123:TEST"
ADMIN_ID = 1001
RATE_LIMIT = 3  # questions per user per window in these tests
MAX_UPLOAD = 64 * 1024

QUESTION = "世界旅游城市联合会有多少会员"
TITLE = "北京：打造共建“一带一路”高标准建设的试验示范"
BOT_USERNAME = "articlebot_test_bot"

UNIQUE_WORD = "阿尔法贝塔测试词"
UPLOAD_TITLE = f"{UNIQUE_WORD}：一篇测试用的新闻"
UPLOAD_MD = f"""# {UPLOAD_TITLE}

{UNIQUE_WORD}是一个只在测试中出现的词语，用来检验机器人能否找到刚刚加入文章库的文章。

第二段讲述这次测试的背景：管理员通过私聊把一个 Markdown 文件发给机器人，机器人下载、解析并保存它。

第三段说明结果：加入之后，任何用户提问都应该能检索到这篇文章的段落。
""".encode()

ANSWER_WAIT = 8.0  # seconds: first searches load jieba; later ones take milliseconds


# --- the store, built once and copied per test -----------------------------------------------


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("sample-store") / "articles.db"
    store = Store.open(db)
    try:
        report = add_paths(store, sample_files())
    finally:
        store.close()
    assert not report.failed and report.added >= 30
    Library(db).close()  # builds and saves the index beside the store, so copies load it
    return db


@pytest.fixture
def db_path(sample_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "articles.db"
    for source in sample_db.parent.iterdir():
        if source.name.startswith(sample_db.name):
            destination = tmp_path / (target.name + source.name[len(sample_db.name) :])
            if source.is_dir():
                shutil.copytree(source, destination)
            else:
                shutil.copy2(source, destination)
    return target


# --- the running bot ---------------------------------------------------------------------------


@dataclass
class Harness:
    fake: FakeTelegram
    library: Library
    config: BotConfig
    application: object
    since: int = 0  # calls before this index were made during startup
    expect_errors: bool = False  # set by tests that make the bot fail on purpose
    log_records: list[logging.LogRecord] = field(default_factory=list)

    def mark(self) -> int:
        return self.fake.mark()

    async def reply_to(self, chat_id: int, since: int, predicate=None, timeout: float = ANSWER_WAIT) -> Call:
        """The next successful sendMessage to `chat_id` at or after `since`."""
        return await self.fake.wait_for(
            "sendMessage",
            lambda c: c["chat_id"] == chat_id and (predicate is None or predicate(c)),
            timeout=timeout,
            since=since,
        )

    async def ask(self, chat_id: int, text: str, **kwargs) -> Call:
        mark = self.mark()
        self.fake.feed_message(chat_id, text, **kwargs)
        return await self.reply_to(chat_id, mark)

    def sent_to(self, chat_id: int, since: int = 0, method: str = "sendMessage") -> list[Call]:
        return self.fake.calls_of(method, lambda c: c.get("chat_id") == chat_id, since=since)

    async def settle(self) -> None:
        await self.fake.wait_idle(quiet=0.3, timeout=5)


def plain(call: Call) -> str:
    """The message text as Telegram shows it (the fake parsed the HTML)."""
    return call.result["text"]


class _Collect(logging.Handler):
    def __init__(self, records: list):
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@asynccontextmanager
async def started(application, start_updates):
    """Run an application between initialize and shutdown the way Application.run_polling
    and run_webhook do: post_init, start_updates(), start ... stop the updater, stop,
    post_stop, shutdown, post_shutdown."""
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await start_updates()
        await application.start()
        try:
            yield application
        finally:
            if application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


@asynccontextmanager
async def running_bot(db_path: Path, **overrides):
    """The bot polling a fresh fake, started and stopped the way Application.run_polling
    does (initialize, post_init, start_polling, start ... stop, post_stop, shutdown,
    post_shutdown), with the event loop left to pytest-asyncio."""
    records: list[logging.LogRecord] = []
    collector = _Collect(records)
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        async with FakeTelegram(TOKEN, username=BOT_USERNAME) as fake:
            settings = dict(
                token=TOKEN,
                base_url=fake.base_url,
                base_file_url=fake.base_file_url,
                admins=frozenset({ADMIN_ID}),
                rate_limit=RATE_LIMIT,
                rate_window=60.0,
                max_upload_bytes=MAX_UPLOAD,
            )
            config = BotConfig(**{**settings, **overrides})
            library = await asyncio.to_thread(Library, db_path)
            application = build_application(config, library)
            poll = lambda: application.updater.start_polling(  # noqa: E731
                poll_interval=0, timeout=1, allowed_updates=getattr(bot_app, "ALLOWED_UPDATES", None)
            )
            try:
                async with started(application, poll):
                    harness = Harness(fake, library, config, application, since=fake.mark(), log_records=records)
                    yield harness
            finally:
                library.close()  # safe twice
        refused = fake.errors()
        assert not refused, f"the fake Bot API refused calls the bot made: {refused}"
        if not harness.expect_errors:
            errors = [r for r in records if r.levelno >= logging.ERROR]
            assert not errors, f"the bot logged errors: {[r.getMessage() for r in errors]}"
    finally:
        root.removeHandler(collector)


@pytest_asyncio.fixture
async def bot(db_path):
    async with running_bot(db_path) as harness:
        yield harness


async def refused_upload(bot: Harness, chat_id: int, **feed) -> Call:
    """Feeds the sample upload as `feed` says; asserts the bot refused it (no download, the
    corpus unchanged) and returns its reply."""
    before = await bot.library.stats()
    mark = bot.mark()
    bot.fake.feed_document(chat_id, UPLOAD_MD, "upload.md", **feed)
    reply = await bot.reply_to(chat_id, mark)
    await bot.settle()
    assert not bot.fake.calls_of("getFile", since=mark), "the bot asked for a file it must refuse"
    assert UPLOAD_TITLE not in plain(reply)
    after = await bot.library.stats()
    assert (after.articles, after.paragraphs) == (before.articles, before.paragraphs)
    return reply
