"""Bot benchmark: answers/s and reply latency of the Telegram bot under many users.

    python bench/bench_bot.py [--paragraphs 100000] [--users 200] [--questions 2000]
        [--concurrency 50] [--db PATH] [--seed 0] [--readme bench/README.md | --no-readme]
        [--profile OUT.prof] [--no-send-throttle] [--concurrent-updates N]

Run from the repository root.

1. The store: N synthetic paragraphs (bench/synthetic.py, words joined without spaces),
   10 to an article whose title is the first words of its first paragraph, added with
   Store.add. An existing --db is reused (it must hold N paragraphs); the default --db
   lives in the temp directory, keyed by N and the seed. The bot's Library then builds
   the search index once (timed) and saves it beside the store, so later runs load it.
   Build times are kept in <db>.bench.json, so a run that reuses the store reports them.
2. The search alone: the first questions are asked of Library.search one at a time (the
   bot's single worker thread), giving the search's own cost and the most answers/s that
   worker can give.
3. The bot: tests/fake_telegram.py's FakeTelegram and the application from
   bot.app.build_application, started as tests/bot_harness.py does (initialize,
   post_init, start_polling(poll_interval=0, timeout=1), start), with a per-user limit
   high enough never to refuse a question.
4. The users: --users private chats send --questions questions (the synthetic queries),
   question i from user i % users. A user waits for the answer before asking again, and
   at most --concurrency questions are outstanding at once. A question's latency runs
   from feed_message to the time the fake recorded the bot's successful sendMessage to
   that chat (Call.time); with one outstanding question per chat, the next reply to a
   chat answers its question. A few warm-up questions from another chat come first.

The fake server and the bot share one process and one event loop, so every figure
includes the fake's own cost (HTTP server, HTML validation of every message).

Diagnostics (the bot as shipped is measured without them): --no-send-throttle builds the
bot with PTB's AIORateLimiter minus its 30 calls/s overall and 20/min per group limits
(retries kept), --concurrent-updates N lets PTB handle N updates at once (the bot uses
PTB's default, one at a time), --profile runs cProfile on the event-loop thread (the
search worker thread is not profiled: step 2 measures it).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import shlex  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict, deque  # noqa: E402
from contextlib import ExitStack, asynccontextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from importlib import metadata  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
from fake_telegram import Call, FakeTelegram  # noqa: E402
from telegram.ext import AIORateLimiter, ApplicationBuilder  # noqa: E402

import articlebot.bot.app as bot_app  # noqa: E402
from articlebot.bot.config import BotConfig  # noqa: E402
from articlebot.bot.library import Library  # noqa: E402
from articlebot.bot.replies import format_no_answer  # noqa: E402
from articlebot.corpus.models import Article, Paragraph  # noqa: E402
from articlebot.corpus.parse import ID_LENGTH  # noqa: E402
from articlebot.corpus.store import Store  # noqa: E402
from bench.synthetic import generate  # noqa: E402

TOKEN = "123:BENCH"
ARTICLE_PARAGRAPHS = 10
TITLE_WORDS = 4
FIRST_USER = 10_000_000  # chat id of user 0 (private chat id == user id)
WARMUP_CHAT = 1
WARMUP_QUESTIONS = 5
SOLO_QUESTIONS = 10  # asked one at a time before the run: the latency of a quiet bot
PAUSE = 1.2  # seconds: lets AIORateLimiter's bucket (30 calls, draining 30/s) empty
SEARCH_SAMPLE = 500  # questions timed on Library.search alone
REPLY_TIMEOUT = 300.0  # seconds: a question left unanswered this long fails the run
TARGET_RATE = 200.0  # answers/s
TARGET_P99_MS = 50.0
PTB_OVERALL_RATE = 30  # AIORateLimiter's default: calls with a chat_id per second
MB = 1024 * 1024


# --- the store ------------------------------------------------------------------------------


def default_db(paragraphs: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / "articlebot-bench" / f"bot-{paragraphs}-seed{seed}.db"


def meta_path(db: Path) -> Path:
    return db.with_name(db.name + ".bench.json")


def index_dir(db: Path) -> Path:
    return db.with_name(db.name + ".index")


def make_article(number: int, docs: list[list[str]], published: datetime) -> Article:
    """One synthetic article from word lists: a paragraph per list (words joined without
    spaces, as Chinese is written), titled with the first words of the first paragraph.
    Id and content hash come from its text as for a parsed file."""
    title = "".join(docs[0][:TITLE_WORDS])
    paragraphs = ["".join(words) for words in docs]
    text = "\n\n".join([title, *paragraphs])
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    article_id = digest[:ID_LENGTH]
    return Article(
        id=article_id,
        title=title,
        source_path=f"bench:{number}",
        content_hash=digest,
        paragraphs=tuple(Paragraph(article_id=article_id, index=i, text=p) for i, p in enumerate(paragraphs)),
        published=published,
    )


def synthetic_articles(docs: list[list[str]]) -> list[Article]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        make_article(n, docs[i : i + ARTICLE_PARAGRAPHS], start + timedelta(hours=n))
        for n, i in enumerate(range(0, len(docs), ARTICLE_PARAGRAPHS))
    ]


def fill_store(db: Path, articles: list[Article]) -> float:
    """Add the articles to a new store at `db`; returns the seconds it took."""
    db.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with Store.open(db) as store:
        statuses = Counter(store.add(article) for article in articles)
    if statuses != Counter(added=len(articles)):
        raise SystemExit(f"unexpected add results {dict(statuses)}: synthetic articles collided")
    return time.perf_counter() - started


def stored_paragraphs(db: Path) -> int:
    with Store.open(db) as store:
        return store.paragraph_count()


def open_library(db: Path) -> tuple[Library, float, bool]:
    """The bot's Library over `db`: (library, seconds to open it, whether it built the index)."""
    building = not (index_dir(db) / "manifest.json").exists()
    started = time.perf_counter()
    library = Library(db, sample_when_empty=False)
    return library, time.perf_counter() - started, building


def prepare(args: argparse.Namespace) -> tuple[Library, list[str], dict]:
    """The library over a store of args.paragraphs paragraphs (built or reused), the
    questions, and what is known of how the store and index were built."""
    t0 = time.perf_counter()
    docs, queries = generate(args.paragraphs, n_queries=WARMUP_QUESTIONS + SOLO_QUESTIONS + args.questions, seed=args.seed)
    print(f"generated {len(docs)} paragraphs and {len(queries)} questions in {time.perf_counter() - t0:.1f} s", flush=True)
    meta = json.loads(meta_path(args.db).read_text()) if meta_path(args.db).exists() else {}
    if args.db.exists():
        found = stored_paragraphs(args.db)
        if found != args.paragraphs:
            raise SystemExit(f"{args.db} holds {found} paragraphs, not {args.paragraphs}: pass another --db")
        print(f"reusing the store {args.db}", flush=True)
    else:
        articles = synthetic_articles(docs)
        meta = {"paragraphs": args.paragraphs, "articles": len(articles), "seed": args.seed, "store_build_s": fill_store(args.db, articles)}
        print(f"stored {len(articles)} articles in {meta['store_build_s']:.1f} s", flush=True)
    del docs
    library, seconds, built = open_library(args.db)
    if built:
        meta.update(index_build_s=seconds, index_built_at=datetime.now(UTC).isoformat(timespec="seconds"))
        meta_path(args.db).write_text(json.dumps(meta, indent=1))
    meta["index_open_s"], meta["index_built_now"] = seconds, built
    print(f"{'built' if built else 'loaded'} the index in {seconds:.1f} s", flush=True)
    return library, ["".join(words) for words in queries], meta


def disk_mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / MB
    return path.stat().st_size / MB if path.exists() else 0.0


def store_mb(db: Path) -> float:
    return sum(disk_mb(db.with_name(db.name + suffix)) for suffix in ("", "-wal", "-shm"))


# --- the search alone -----------------------------------------------------------------------


async def time_search(library: Library, questions: list[str], k: int) -> list[float]:
    """Seconds per Library.search call, one call at a time (as the bot's worker runs them)."""
    seconds = []
    for question in questions:
        started = time.perf_counter()
        await library.search(question, k)
        seconds.append(time.perf_counter() - started)
    return seconds


# --- the bot against the fake ---------------------------------------------------------------


def unthrottled_rate_limiter(**kwargs) -> AIORateLimiter:
    """AIORateLimiter as build_application makes it, without the overall and group limits."""
    return AIORateLimiter(**{**kwargs, "overall_max_rate": 0, "group_max_rate": 0})


def builder_with_concurrency(updates: int) -> type[ApplicationBuilder]:
    class Builder(ApplicationBuilder):
        def __init__(self):
            super().__init__()
            self.concurrent_updates(updates)

    return Builder


def diagnostic_patches(args: argparse.Namespace) -> ExitStack:
    """Patch the names build_application looks up in bot.app (the bot's code is unchanged)."""
    stack = ExitStack()
    if args.no_send_throttle:
        stack.enter_context(mock.patch.object(bot_app, "AIORateLimiter", unthrottled_rate_limiter))
    if args.concurrent_updates:
        stack.enter_context(mock.patch.object(bot_app, "ApplicationBuilder", builder_with_concurrency(args.concurrent_updates)))
    return stack


@asynccontextmanager
async def running_bot(fake: FakeTelegram, library: Library, args: argparse.Namespace):
    """The application polling `fake`, started and stopped as tests/bot_harness.py does
    (post_shutdown closes the library)."""
    config = BotConfig(token=TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url, rate_limit=10**6)
    with diagnostic_patches(args):
        application = bot_app.build_application(config, library)
    try:
        await application.initialize()
        await application.post_init(application)
        await application.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=bot_app.ALLOWED_UPDATES)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
    finally:
        await application.shutdown()
        await application.post_shutdown(application)


class Replies:
    """Hands each successful sendMessage the fake records to the question waiting in that
    chat (first come, first served), reading the fake's call log once, in order."""

    def __init__(self, fake: FakeTelegram):
        self.fake = fake
        self.cursor = fake.mark()
        self.waiting: dict[int, deque[asyncio.Future]] = defaultdict(deque)
        self.unexpected: list[Call] = []

    def expect(self, chat_id: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[chat_id].append(future)
        return future

    async def route(self) -> None:
        while True:
            try:
                call = await self.fake.wait_for("sendMessage", since=self.cursor, timeout=3600)
            except AssertionError:  # an hour without a reply: keep waiting (the questions time out)
                continue
            self.cursor = call.index + 1
            queue = self.waiting.get(int(call["chat_id"]))
            if queue:
                queue.popleft().set_result(call)
            else:
                self.unexpected.append(call)


@dataclass
class Sample:
    chat_id: int
    question: str
    fed: float  # time.monotonic() when fed to the fake
    replied: float  # Call.time of the answering sendMessage
    text: str  # the HTML the bot sent
    typing: float = float("nan")  # Call.time of the bot's sendChatAction for this question

    @property
    def latency_ms(self) -> float:
        return (self.replied - self.fed) * 1000

    @property
    def split_ms(self) -> tuple[float, float]:
        """(feed -> sendChatAction, sendChatAction -> answer): waiting to be handled, handling."""
        return (self.typing - self.fed) * 1000, (self.replied - self.typing) * 1000


def attach_typing(samples: list[Sample], calls: list[Call]) -> None:
    """Give each sample the time of the first sendChatAction to its chat between its feed
    and its reply (a chat has one question outstanding at a time)."""
    actions: dict[int, list[float]] = defaultdict(list)
    for call in calls:
        if call.method == "sendChatAction" and call.ok:
            actions[int(call["chat_id"])].append(call.time)
    for sample in samples:
        sample.typing = next((t for t in actions[sample.chat_id] if sample.fed <= t <= sample.replied), float("nan"))


async def ask(fake: FakeTelegram, replies: Replies, chat_id: int, question: str) -> Sample:
    reply = replies.expect(chat_id)
    fed = time.monotonic()
    fake.feed_message(chat_id, question)
    call = await asyncio.wait_for(reply, REPLY_TIMEOUT)
    return Sample(chat_id, question, fed, call.time, call["text"])


async def solo(fake: FakeTelegram, replies: Replies, questions: list[str]) -> list[Sample]:
    """Questions asked alone (each once the previous one was answered), on a quiet bot."""
    await asyncio.sleep(PAUSE)
    mark = fake.mark()
    samples = [await ask(fake, replies, WARMUP_CHAT, question) for question in questions]
    attach_typing(samples, fake.calls[mark:])
    await asyncio.sleep(PAUSE)
    return samples


async def simulate(fake: FakeTelegram, replies: Replies, questions: list[str], users: int, concurrency: int) -> list[Sample]:
    """Question i comes from user i % users; a user asks again only once answered, and at
    most `concurrency` questions are outstanding."""
    slots = asyncio.Semaphore(concurrency)
    busy: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # asyncio locks are FIFO

    async def user_asks(chat_id: int, question: str) -> Sample:
        async with busy[chat_id], slots:
            return await ask(fake, replies, chat_id, question)

    return await asyncio.gather(*(user_asks(FIRST_USER + i % users, q) for i, q in enumerate(questions)))


@dataclass
class Run:
    samples: list[Sample]
    solo: list[Sample]
    calls: Counter  # Bot API methods the bot called during the timed run
    refused: list[Call]
    unexpected: list[Call]
    log_records: list[logging.LogRecord]
    concurrent_updates: int
    load: tuple[float, float]  # 1-minute load average before and after the timed run
    profile: cProfile.Profile | None = None


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_bot(library: Library, warmup: list[str], alone: list[str], questions: list[str], args: argparse.Namespace) -> Run:
    collector = _Collect()
    logging.getLogger().addHandler(collector)
    try:
        async with FakeTelegram(TOKEN) as fake, running_bot(fake, library, args) as application:
            replies = Replies(fake)
            router = asyncio.create_task(replies.route())
            for question in warmup:
                await ask(fake, replies, WARMUP_CHAT, question)
            solo_samples = await solo(fake, replies, alone)
            mark = fake.mark()
            profile = cProfile.Profile() if args.profile else None
            if profile:
                profile.enable()
            load_before = os.getloadavg()[0]
            samples = await simulate(fake, replies, questions, args.users, args.concurrency)
            if profile:
                profile.disable()
            calls = Counter(c.method for c in fake.calls[mark:] if c.method != "getUpdates")
            attach_typing(samples, fake.calls[mark:])
            router.cancel()
            return Run(
                samples,
                solo_samples,
                calls,
                fake.errors(),
                replies.unexpected,
                collector.records,
                application.concurrent_updates,
                (load_before, os.getloadavg()[0]),
                profile,
            )
    finally:
        logging.getLogger().removeHandler(collector)


# --- results --------------------------------------------------------------------------------


def is_no_answer(sample: Sample) -> bool:
    return sample.text == format_no_answer(" ".join(sample.question.split())[: bot_app.MAX_QUESTION], "zh")


def is_answer(sample: Sample) -> bool:
    return sample.text.startswith("<b>1. ")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarize(run: Run, search_s: list[float], meta: dict, args: argparse.Namespace) -> dict:
    samples = run.samples
    latencies = np.array([s.latency_ms for s in samples])
    wall = max(s.replied for s in samples) - min(s.fed for s in samples)
    no_answer = sum(is_no_answer(s) for s in samples)
    answers = sum(is_answer(s) for s in samples)
    search_ms = np.array(search_s) * 1000
    return {
        "questions": len(samples),
        "wall_s": wall,
        "rate": len(samples) / wall,
        "mean": float(latencies.mean()),
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "p99": float(np.percentile(latencies, 99)),
        "max": float(latencies.max()),
        "answers": answers,
        "no_answer": no_answer,
        "other": len(samples) - answers - no_answer,
        "solo_p50": float(np.median([s.latency_ms for s in run.solo])),
        "solo_max": max(s.latency_ms for s in run.solo),
        "solo_split": np.nanmedian([s.split_ms for s in run.solo], axis=0).tolist(),
        "solo_n": len(run.solo),
        "split_p50": np.nanpercentile([s.split_ms for s in samples], 50, axis=0).tolist(),
        "split_p99": np.nanpercentile([s.split_ms for s in samples], 99, axis=0).tolist(),
        "search_mean": float(search_ms.mean()),
        "search_p99": float(np.percentile(search_ms, 99)),
        "search_n": len(search_ms),
        "calls_per_question": {m: n / len(samples) for m, n in sorted(run.calls.items())},
        "chat_calls_per_question": sum(n for m, n in run.calls.items() if m in ("sendMessage", "sendChatAction")) / len(samples),
        "concurrent_updates": run.concurrent_updates,
        "load": run.load,
        "refused": len(run.refused),
        "unexpected": len(run.unexpected),
        "logged": len(run.log_records),
        "articles": meta.get("articles", args.paragraphs // ARTICLE_PARAGRAPHS),
        "store_mb": store_mb(args.db),
        "index_mb": disk_mb(index_dir(args.db)),
        **meta,
    }


def index_cell(r: dict) -> str:
    if r["index_built_now"]:
        return f"{r['index_build_s']:.1f} s"
    if "index_build_s" in r:
        return f"{r['index_build_s']:.1f} s (built {r['index_built_at'][:10]}; loaded now in {r['index_open_s']:.1f} s)"
    return f"not measured (index reused; loaded in {r['index_open_s']:.1f} s)"


def setup_label(args: argparse.Namespace) -> str:
    changes = []
    if args.no_send_throttle:
        changes.append("AIORateLimiter without its overall/group limits")
    if args.concurrent_updates:
        changes.append(f"concurrent_updates={args.concurrent_updates}")
    return "diagnostic: " + ", ".join(changes) if changes else "the bot as shipped"


def table(r: dict, args: argparse.Namespace) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "**not met**"

    rows = [
        (
            "answers/s (questions / wall time, first feed to last reply)",
            f"{r['rate']:.1f}",
            f">= {TARGET_RATE:.0f}: {mark(r['rate'] >= TARGET_RATE)}",
        ),
        (
            "reply latency p50 / p95 / p99 / max",
            f"{r['p50']:.0f} / {r['p95']:.0f} / {r['p99']:.0f} / {r['max']:.0f} ms",
            f"p99 <= {TARGET_P99_MS:.0f} ms: {mark(r['p99'] <= TARGET_P99_MS)}",
        ),
        (
            "latency split, p50 / p99: feed -> sendChatAction (delivery, queue); sendChatAction -> answer (search, reply)",
            f"{r['split_p50'][0]:.0f} / {r['split_p99'][0]:.0f} ms; {r['split_p50'][1]:.0f} / {r['split_p99'][1]:.0f} ms",
            "",
        ),
        (
            f"one question alone (median / max of {r['solo_n']}, asked one at a time before the run)",
            f"{r['solo_p50']:.1f} / {r['solo_max']:.1f} ms (split {r['solo_split'][0]:.1f} + {r['solo_split'][1]:.1f} ms)",
            "",
        ),
        ("questions / users / concurrency", f"{r['questions']} / {args.users} / {args.concurrency}", ""),
        ('replies: passages / "no answer" / other', f"{r['answers']} / {r['no_answer']} / {r['other']}", ""),
        (
            "search alone (Library.search, one at a time)",
            f"mean {r['search_mean']:.1f} ms, p99 {r['search_p99']:.1f} ms over {r['search_n']} questions "
            f"(<= {1000 / r['search_mean']:.0f} answers/s on the one worker)",
            "",
        ),
        ("Bot API calls per question", ", ".join(f"{m} {n:.2f}" for m, n in r["calls_per_question"].items()), ""),
        ("store", f"{r['paragraphs']} paragraphs, {r['articles']} articles, {r['store_mb']:.0f} MB (+ index {r['index_mb']:.0f} MB)", ""),
        ("index build (Library over a new store)", index_cell(r), ""),
        ("refused calls / unmatched replies / bot warnings+errors", f"{r['refused']} / {r['unexpected']} / {r['logged']}", ""),
        ("bot setup", f"{setup_label(args)}; updates handled {r['concurrent_updates']} at a time", ""),
        (
            "machine",
            f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"python-telegram-bot {metadata.version('python-telegram-bot')}; "
            f"load average (1 min) {r['load'][0]:.1f} before the run, {r['load'][1]:.1f} after",
            "",
        ),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), ""),
    ]
    lines = ["| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def reading(r: dict, args: argparse.Namespace) -> str:
    """What the figures say, derived from them (the ceilings are upper bounds, not measurements)."""
    lines = []
    if not args.no_send_throttle and r["chat_calls_per_question"]:
        ceiling = PTB_OVERALL_RATE / r["chat_calls_per_question"]
        lines.append(
            f"- PTB's AIORateLimiter lets at most {PTB_OVERALL_RATE} calls with a chat_id through per second, and the bot "
            f"makes {r['chat_calls_per_question']:.2f} per question (sendChatAction + sendMessage): at most "
            f"{ceiling:.0f} answers/s, measured {r['rate']:.1f}."
        )
    lines.append(
        f"- The search worker alone would allow about {1000 / r['search_mean']:.0f} answers/s ({r['search_mean']:.1f} ms per search)."
    )
    if r["concurrent_updates"] == 1:
        lines.append(
            "- PTB handles the updates one at a time (concurrent_updates=1): while one question waits for its "
            "search or its two Bot API round trips, no other question moves."
        )
    lines.append(
        f"- The users keep {args.concurrency} questions outstanding, so the mean latency is {args.concurrency} / "
        f"answers/s (Little's law): {args.concurrency * 1000 / r['rate']:.0f} ms expected, {r['mean']:.0f} ms measured. "
        f"A p99 <= {TARGET_P99_MS:.0f} ms at this concurrency needs more than "
        f"{args.concurrency * 1000 / TARGET_P99_MS:.0f} answers/s; a question asked alone took {r['solo_p50']:.1f} ms."
    )
    return "\n".join(lines)


def command_line() -> str:
    return "python " + shlex.join(sys.argv)


def report(r: dict, args: argparse.Namespace) -> str:
    paragraphs = f"{r['paragraphs']:,}".replace(",", " ")
    title = (
        f"### {paragraphs} paragraphs, {r['questions']} questions from {args.users} users, "
        f"concurrency {args.concurrency} ({setup_label(args)})"
    )
    return "\n\n".join([title, f"`{command_line()}`", table(r, args), reading(r, args)]) + "\n"


SECTION_INTRO = """## Bot

`bench/bench_bot.py` measures the Telegram bot end to end: a synthetic store (jieba dictionary
words, Zipf frequencies, bench/synthetic.py), the bot's own `build_application` polling the
in-process fake Bot API of the tests (`tests/fake_telegram.py`), and many private chats
asking at once. Latency runs from feeding the update into the fake to the moment the fake
records the bot's `sendMessage` to that chat; answers/s is questions / wall time from the
first feed to the last reply. Targets: >= 200 answers/s, p99 <= 50 ms.

The fake server and the bot share one process and one event loop (and, for the search, the
GIL with the bot's worker thread), so the figures include the fake's own cost: its HTTP
server and its Telegram-like HTML check of every message.
"""


def append_to_readme(path: Path, block: str) -> None:
    """Add `block` at the end of the "## Bot" section (created at the end of the file when
    missing), leaving every other section as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if "\n## Bot\n" not in "\n" + text:
        with open(path, "a", encoding="utf-8") as f:
            f.write(("\n" if text and not text.endswith("\n") else "") + ("\n" if text else "") + SECTION_INTRO + "\n" + block)
        return
    start = ("\n" + text).index("\n## Bot\n")
    following = text.find("\n## ", start + 1)
    if following == -1:
        with open(path, "a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") else "\n") + "\n" + block)
        return
    path.write_text(text[: following + 1] + "\n" + block + "\n" + text[following + 1 :], encoding="utf-8")


def print_profile(profile: cProfile.Profile, out: Path) -> None:
    """Save the profile and show where the event-loop thread's time went, by package."""
    profile.dump_stats(out)
    stats = pstats.Stats(profile)
    shares: Counter = Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        shares[profile_group(filename)] += tottime
    total = sum(shares.values())
    print(f"\nevent-loop thread, own time by package ({total:.1f} s; profile saved to {out}):")
    for group, seconds in shares.most_common(12):
        print(f"  {group:<28} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    stats.sort_stats("tottime").print_stats(15)


def profile_group(filename: str) -> str:
    for marker, group in (
        ("fake_telegram", "the fake (tests/fake_telegram.py)"),
        ("/bot/", "bot/"),
        ("/telegram/", "python-telegram-bot"),
        ("/httpx/", "httpx"),
        ("/httpcore/", "httpcore"),
        ("/aiohttp/", "aiohttp (the fake's server)"),
        ("/aiolimiter/", "aiolimiter"),
        ("/asyncio/", "asyncio"),
        ("bench_bot", "this benchmark"),
        ("/json/", "json"),
    ):
        if marker in filename:
            return group
    return "built-ins (select, sockets...)" if filename == "~" else "other"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--db", type=Path, help="store to build or reuse (default: in the temp directory, per size and seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readme", type=Path, default=ROOT / "bench" / "README.md", help="append the results here")
    parser.add_argument("--no-readme", action="store_true", help="print the results only")
    parser.add_argument("--profile", type=Path, help="cProfile the event-loop thread during the run, save the stats here")
    parser.add_argument("--no-send-throttle", action="store_true", help="diagnostic: AIORateLimiter without its limits")
    parser.add_argument("--concurrent-updates", type=int, default=0, help="diagnostic: let PTB handle N updates at once")
    args = parser.parse_args(argv)
    if min(args.paragraphs, args.users, args.questions, args.concurrency) < 1:
        parser.error("--paragraphs, --users, --questions and --concurrency must be at least 1")
    args.db = (args.db or default_db(args.paragraphs, args.seed)).expanduser().resolve()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    library, questions, meta = prepare(args)
    warmup, questions = questions[:WARMUP_QUESTIONS], questions[WARMUP_QUESTIONS:]
    k = BotConfig(token=TOKEN).answers + bot_app.MORE_PAGES * BotConfig(token=TOKEN).page_size  # what the bot asks for

    async def bench() -> tuple[list[float], Run]:
        await time_search(library, warmup, k)  # loads the tokenizer's dictionary
        search_s = await time_search(library, questions[SOLO_QUESTIONS:][:SEARCH_SAMPLE], k)
        print(f"search alone: {1000 * sum(search_s) / len(search_s):.1f} ms per question", flush=True)
        alone, rest = questions[:SOLO_QUESTIONS], questions[SOLO_QUESTIONS:]
        return search_s, await run_bot(library, warmup, alone, rest, args)

    try:
        search_s, run = asyncio.run(bench())
    finally:
        library.close()  # post_shutdown closed it already when the bot ran; safe twice
    results = summarize(run, search_s, meta, args)
    block = report(results, args)
    print("\n" + block)
    for record in run.log_records[:5]:
        print(f"bot logged: {record.levelname} {record.getMessage()}")
    if run.profile:
        print_profile(run.profile, args.profile)
    if not args.no_readme:
        append_to_readme(args.readme, block)
        print(f"appended to {args.readme}")


if __name__ == "__main__":
    main()
