"""The Telegram bot: thin async handlers over Library (search, ingest) and bot.replies (text).

Handlers only decide who may do what, call the Library (which works on its own thread)
and send what bot.replies formats. All state lives in one `Handlers` object built from
the configuration (reachable as application.bot_data["articlebot"]).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlparse

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from articlebot.bot import replies
from articlebot.bot.config import BotConfig, ConfigError
from articlebot.bot.library import Library
from articlebot.bot.ratelimit import RateLimiter
from articlebot.corpus.errors import AmbiguousId, ArticlebotError, ArticleNotFound, ParseError
from articlebot.corpus.formats import has_article_suffix
from articlebot.retrieval.search import Hit

log = logging.getLogger(__name__)

# Only what the handlers use: Telegram then does not even send the rest.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
MORE_PAGES = 3  # a question fetches answers + MORE_PAGES * page_size hits, paged by "more"
PAGE_TTL = 600.0  # seconds a result list stays pageable
MAX_PAGES_KEPT = 1000  # result lists kept in memory at most (the oldest go first)
MAX_QUESTION = 300  # characters of a question searched (the rest is noise, and costs CPU)
TYPING_AFTER = 0.5  # seconds a search may take before the user is shown "typing…"
INLINE_RESULTS = 10
INLINE_CACHE_SECONDS = 60  # Telegram caches inline answers; short, as the library changes
INLINE_RATE_FACTOR = 3  # inline queries come as the user types: allow more of them


# --- logging ------------------------------------------------------------------------------


class TokenFilter(logging.Filter):
    """Replaces the bot token with "<token>" in a record's message, args and traceback.

    The token is part of every Bot API url, so any logged url or network error would
    leak it. Attached to the root handlers, it sees the records of every logger."""

    def __init__(self, token: str, replacement: str = "<token>"):
        super().__init__()
        self.secrets = [s for s in {token, quote(token, safe="")} if s]
        self.replacement = replacement

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, self.replacement)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler's own error report
            return True
        # Format now and drop the args, so no arg can carry the token past this point.
        record.msg, record.args = self.redact(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_in_logs(secret: str) -> None:
    """Also hide `secret` (e.g. the webhook secret, which PTB logs at DEBUG as a setWebhook
    parameter) wherever setup_logging installed the token filter."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, TokenFilter) and secret and secret not in f.secrets:
                f.secrets.append(secret)


def setup_logging(token: str, level: int = logging.INFO) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request url at INFO, and the url holds the token.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TokenFilter) for f in handler.filters):
            handler.addFilter(TokenFilter(token))


# --- result lists for the "more" button ----------------------------------------------------


@dataclass(frozen=True)
class Page:
    query: str
    hits: list[Hit]
    created: float


class ResultPages:
    """Result lists kept in memory so "more" can page through them without searching
    again. Callback data holds only the short id (it is limited to 64 bytes)."""

    def __init__(self, ttl: float = PAGE_TTL, max_kept: int = MAX_PAGES_KEPT, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_kept, self.clock = ttl, max_kept, clock
        self._pages: OrderedDict[str, Page] = OrderedDict()

    def put(self, query: str, hits: list[Hit]) -> str:
        now = self.clock()
        while self._pages and (len(self._pages) >= self.max_kept or now - next(iter(self._pages.values())).created >= self.ttl):
            self._pages.popitem(last=False)
        page_id = secrets.token_urlsafe(6)  # 8 characters of [A-Za-z0-9_-]
        self._pages[page_id] = Page(query, hits, now)
        return page_id

    def get(self, page_id: str) -> Page | None:
        page = self._pages.get(page_id)
        if page is None or self.clock() - page.created >= self.ttl:
            return None
        return page


# --- handlers ------------------------------------------------------------------------------


def _lang(update: Update) -> str:
    user = update.effective_user
    return replies.language_of(user.language_code if user else None)


def _message(update: Update) -> Message:
    """The update's message: the handlers that call this are registered for messages only."""
    message = update.effective_message
    assert message is not None
    return message


def _user_id(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


def _safe_name(name: str | None) -> str:
    """A file name reduced to a harmless label: it is never used as a path."""
    cleaned = re.sub(r"[^\w.-]+", "_", name or "").strip("._")[:80]
    return cleaned or "document"


def _buttons(page_id: str, offset: int, shown: int, more: bool, lang: str) -> InlineKeyboardMarkup:
    """ "Full text" (the whole paragraphs of the answers shown) and, when answers remain,
    "More" (the next ones)."""
    row = [InlineKeyboardButton(replies.text_of("full", lang) + " ▾", callback_data=replies.full_callback_data(page_id, offset, shown))]
    if more:
        label = replies.text_of("more", lang) + " ▸"
        row.append(InlineKeyboardButton(label, callback_data=replies.more_callback_data(page_id, offset + shown)))
    return InlineKeyboardMarkup([row])


class Handlers:
    def __init__(self, config: BotConfig, library: Library, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.library = library
        self.limiter = RateLimiter(config.rate_limit, config.rate_window, clock)
        self.inline_limiter = RateLimiter(config.rate_limit * INLINE_RATE_FACTOR, config.rate_window, clock)
        self.pages = ResultPages(clock=clock)

    def is_admin(self, update: Update) -> bool:
        return update.effective_user is not None and update.effective_user.id in self.config.admins

    # --- life cycle ---

    async def post_init(self, application: Application) -> None:
        for lang, commands in replies.COMMANDS.items():
            await application.bot.set_my_commands(
                [BotCommand(name, description) for name, description in commands],
                language_code=None if lang == "zh" else lang,  # Chinese is the default menu
            )

    async def post_shutdown(self, application: Application) -> None:
        await asyncio.to_thread(self.library.close)  # waits for a running search

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -1: updates from chats outside the allowlist go no further.
        Inline queries have no chat: there the user's id (= their private chat) counts."""
        allowed = self.config.allowed_chats
        if allowed is None:
            return
        chat, user = update.effective_chat, update.effective_user
        key = chat.id if chat else (user.id if user else None)
        if key not in allowed:
            raise ApplicationHandlerStop

    # --- commands ---

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await _message(update).reply_html(replies.message("start", _lang(update)))

    async def help_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = replies.format_help(_lang(update), context.bot.username, self.is_admin(update), self.config.max_upload_bytes)
        await _message(update).reply_html(text)

    async def search_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        parts = (message.text or "").split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        # "/search" sent as a reply asks the replied-to message's text.
        if not question.strip() and message.reply_to_message and message.reply_to_message.text:
            question = message.reply_to_message.text
        await self.ask(update, question)

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        figures = await self.library.stats()
        text = replies.format_stats(figures, _lang(update), self.library.sample_articles)
        await _message(update).reply_html(text)

    async def remove(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, lang = _message(update), _lang(update)
        if not self.is_admin(update):
            await message.reply_html(replies.message("admins_only", lang))
            return
        if not context.args:
            await message.reply_html(replies.message("remove_usage", lang))
            return
        try:
            removed = await self.library.remove(context.args[0])
        except (ArticleNotFound, AmbiguousId) as exc:
            await message.reply_html(replies.message("not_found", lang, reason=str(exc)))
            return
        log.info("user %s removed article %s", _user_id(update), removed.id)
        await message.reply_html(replies.format_removed(removed, lang))

    # --- questions ---

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.ask(update, _message(update).text or "")  # filters.TEXT: there is text

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In groups, answer only messages that mention the bot or reply to it."""
        message, bot = _message(update), context.bot
        handle = f"@{bot.username}".lower()
        mentions = [text for text in message.parse_entities([MessageEntity.MENTION]).values() if text.lower() == handle]
        replied = message.reply_to_message
        if not mentions and not (replied and replied.from_user and replied.from_user.id == bot.id):
            return
        question = message.text or ""
        for mention in mentions:
            question = question.replace(mention, " ")
        await self.ask(update, question)

    async def ask(self, update: Update, question: str) -> None:
        message, user, lang = _message(update), update.effective_user, _lang(update)
        question = " ".join(question.split())[:MAX_QUESTION]
        if not question:
            await message.reply_html(replies.message("search_usage", lang))
            return
        decision = self.limiter.check(user.id if user else message.chat_id)
        if not decision.allowed:
            if decision.warn:  # once per window: more would be spam of our own
                seconds = max(1, math.ceil(decision.retry_after))
                await message.reply_html(replies.message("rate_limited", lang, seconds=seconds))
            return
        hits = await self._searching(message, question)
        if not hits:
            await message.reply_html(replies.format_no_answer(question, lang))
            return
        await self.send_page(message, question, hits, 0, self.config.answers, lang)

    async def _searching(self, message: Message, question: str) -> list[Hit]:
        """Search; show "typing…" only when the answer takes a while. Most answers take
        milliseconds, and an extra Bot API call per question would halve what the
        send-rate cap lets through."""
        search = asyncio.ensure_future(self.library.search(question, self.config.answers + MORE_PAGES * self.config.page_size))
        try:
            return await asyncio.wait_for(asyncio.shield(search), TYPING_AFTER)
        except TimeoutError:
            await message.reply_chat_action(ChatAction.TYPING)
            return await search

    async def send_page(
        self, message: Message, question: str, hits: list[Hit], offset: int, count: int, lang: str, page_id: str | None = None
    ) -> None:
        """Reply with hits[offset:offset + count] (as many as fit: the best answer's snippet
        first, the others compact), a "full text" button and a "more" button when hits
        remain. The first page quotes the question in groups (PTB's default); later pages
        follow the bot's own message and quote nothing."""
        text, shown = replies.render_reply(hits[offset : offset + count], offset)
        page_id = page_id or self.pages.put(question, hits)
        markup = _buttons(page_id, offset, shown, offset + shown < len(hits), lang)
        await message.reply_html(text, reply_markup=markup, do_quote=None if offset == 0 else False)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed button: "full text" or "more"."""
        query = update.callback_query
        if query is not None and replies.parse_full(query.data):
            await self.full(update, context)
        else:
            await self.more(update, context)

    async def full(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The whole paragraphs of the answers a reply showed, as a new message (the
        reply and its buttons stay)."""
        query, lang = update.callback_query, _lang(update)
        assert query is not None  # a CallbackQueryHandler's update
        parsed = replies.parse_full(query.data)
        page = self.pages.get(parsed[0]) if parsed else None
        if not parsed or page is None or parsed[1] >= len(page.hits) or not isinstance(query.message, Message):
            await query.answer(replies.text_of("expired", lang))
            return
        _, offset, count = parsed
        await query.answer()
        text, _shown = replies.render_answer(page.hits[offset : offset + count], offset)
        await query.message.reply_html(text, do_quote=False)

    async def more(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, lang = update.callback_query, _lang(update)
        assert query is not None  # a CallbackQueryHandler's update
        parsed = replies.parse_more(query.data)
        page = self.pages.get(parsed[0]) if parsed else None
        # an unknown or expired page, or a message too old to answer under (InaccessibleMessage)
        if not parsed or page is None or parsed[1] >= len(page.hits) or not isinstance(query.message, Message):
            await query.answer(replies.text_of("expired", lang))
            return
        page_id, offset = parsed
        await query.answer()
        try:  # the button moves to the new page; an old message may no longer be editable
            await query.edit_message_reply_markup(None)
        except BadRequest as exc:
            log.debug("could not remove the more button: %s", exc)
        await self.send_page(query.message, page.query, page.hits, offset, self.config.page_size, lang, page_id)

    async def inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        assert query is not None  # an InlineQueryHandler's update
        question = " ".join(query.query.split())[:MAX_QUESTION]
        if not question or not self.inline_limiter.check(query.from_user.id).allowed:
            await query.answer([], cache_time=0, is_personal=True)
            return
        hits = await self.library.search(question, INLINE_RESULTS)
        results = []
        for hit in hits:
            title, description, text = replies.format_inline_result(hit)
            results.append(
                InlineQueryResultArticle(
                    id=hit.docid,  # unique per result, well under 64 bytes
                    title=title,
                    description=description,
                    input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML),
                )
            )
        await query.answer(results, cache_time=INLINE_CACHE_SECONDS)

    # --- adding articles ---

    async def document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An admin's article file: checked (sender, forward, type, size) before a byte is
        downloaded, then parsed and stored by the Library exactly as `articlebot add` does."""
        message, lang = _message(update), _lang(update)
        assert message.document is not None  # filters.Document
        doc = message.document
        is_article = has_article_suffix(doc.file_name or "")
        if message.chat.type != ChatType.PRIVATE and not is_article:
            return  # other files posted in a group are none of our business
        if not self.is_admin(update):
            await message.reply_html(replies.message("admins_only", lang))
            return
        if message.forward_origin is not None:  # only files an admin sends, not ones passed on
            await message.reply_html(replies.message("forwarded", lang))
            return
        if not is_article:
            await message.reply_html(replies.format_bad_type(lang))
            return
        limit = self.config.max_upload_bytes
        if doc.file_size is not None and doc.file_size > limit:
            await message.reply_html(replies.format_too_big(doc.file_size, limit, lang))
            return
        file = await doc.get_file()  # metadata only; the bytes come with download below
        size = doc.file_size if doc.file_size is not None else file.file_size
        if size is None:
            await message.reply_html(replies.message("unknown_size", lang))
            return
        if size > limit:
            await message.reply_html(replies.format_too_big(size, limit, lang))
            return
        await message.reply_chat_action(ChatAction.TYPING)
        data = bytes(await file.download_as_bytearray())
        if len(data) > limit:  # the server said less than it sent
            await message.reply_html(replies.format_too_big(len(data), limit, lang))
            return
        label = f"telegram:{doc.file_unique_id}/{_safe_name(doc.file_name)}"
        try:
            article, status = await self.library.add_document_status(data, label)
        except ParseError as exc:
            await message.reply_html(replies.message("unreadable", lang, reason=exc.reason))
            return
        log.info("user %s added article %s (%s, %s)", _user_id(update), article.id, label, status)
        await message.reply_html(replies.format_added(article, status, lang))

    # --- errors ---

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error; tell the user only that something went wrong (no details)."""
        log.error("Exception while handling an update", exc_info=context.error)
        if not isinstance(update, Update):
            return
        text = replies.text_of("error", _lang(update))
        try:
            if update.callback_query:
                await update.callback_query.answer(text)
            elif update.effective_message:
                await update.effective_message.reply_text(text)
        except TelegramError as exc:
            log.warning("could not tell the user about the error: %s", exc)


def build_application(config: BotConfig, library: Library) -> Application:
    handlers = Handlers(config, library)
    application = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.base_file_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=config.send_rate, max_retries=3))
        # Passages quote articles, whose links would otherwise unfurl into previews.
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .post_init(handlers.post_init)
        .post_shutdown(handlers.post_shutdown)
        .build()
    )
    application.bot_data["articlebot"] = handlers
    new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", handlers.start, filters=new),
            CommandHandler("help", handlers.help_command, filters=new),
            CommandHandler("search", handlers.search_command, filters=new),
            CommandHandler("stats", handlers.stats, filters=new),
            # a forwarded "/remove" was typed by someone else: like a forwarded file, not an
            # admin's order (in a private chat it falls through to the help text)
            CommandHandler("remove", handlers.remove, filters=new & ~filters.FORWARDED),
            MessageHandler(new & filters.Document.ALL, handlers.document),
            MessageHandler(new & filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.private_text),
            MessageHandler(new & filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND, handlers.group_text),
            # an unknown command in a private chat gets the help text rather than silence
            MessageHandler(new & filters.ChatType.PRIVATE & filters.COMMAND, handlers.help_command),
            # every button press is answered (a stale or foreign one with the "expired"
            # notice), so the user's client never waits on a spinner
            CallbackQueryHandler(handlers.button),
            InlineQueryHandler(handlers.inline_query),
        ]
    )
    application.add_error_handler(handlers.error)
    return application


def prepare_webhook(config: BotConfig) -> dict:
    """The arguments of Application.run_webhook (and of Updater.start_webhook, which tests
    call with them) for config.webhook_url; hides the secret token from the logs."""
    if config.secret_token:
        redact_in_logs(config.secret_token)
    return dict(
        listen=config.listen,
        port=config.port,
        url_path=urlparse(config.webhook_url or "").path.lstrip("/"),  # serve where Telegram posts
        webhook_url=config.webhook_url,
        secret_token=config.secret_token,  # PTB answers 403 to a request without it
        allowed_updates=ALLOWED_UPDATES,
    )


REJECTED_TOKEN = "Telegram rejected TELEGRAM_BOT_TOKEN (mistyped or revoked?)"


class BotApiUnreachable(ArticlebotError):
    """The Bot API server does not answer (a wrong --base-url, no network)."""


def _unreachable(config: BotConfig, exc: NetworkError) -> BotApiUnreachable:
    reason = TokenFilter(config.token).redact(str(exc))  # the url is the one without the token
    return BotApiUnreachable(f"cannot reach the Bot API at {config.base_url} ({reason})")


def check_bot_api(config: BotConfig) -> None:
    """One getMe before anything else starts, so that an unreachable server or a rejected
    token is one line (naming the server's url, never the token) instead of
    python-telegram-bot's logged and raised tracebacks."""

    async def get_me() -> None:
        async with Bot(config.token, base_url=config.base_url, base_file_url=config.base_file_url):
            pass  # initialize() is the getMe call

    try:
        asyncio.run(get_me())
    except InvalidToken:
        raise ConfigError(REJECTED_TOKEN) from None
    except NetworkError as exc:  # also TimedOut
        raise _unreachable(config, exc) from None


def run(application: Application, config: BotConfig) -> None:
    """Long polling, or a webhook server when config.webhook_url is set. Both stop cleanly
    on SIGINT/SIGTERM; post_shutdown then closes the Library."""
    try:
        if config.webhook_url:
            application.run_webhook(**prepare_webhook(config))
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        # PTB's message quotes the whole token: never let it reach a traceback on stderr.
        raise ConfigError(REJECTED_TOKEN) from None
    except NetworkError as exc:  # the server went away between check_bot_api and here
        raise _unreachable(config, exc) from None
