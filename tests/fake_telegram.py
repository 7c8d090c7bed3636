"""An in-process fake of the Telegram Bot API for offline end-to-end tests.

`FakeTelegram` is an aiohttp.web server bound to 127.0.0.1 on a free port. Point a
python-telegram-bot `Bot`/`Application` at `fake.base_url` and `fake.base_file_url`; feed
updates with `feed_message`, `feed_document`, `feed_callback`, `feed_inline_query`; every
Bot API call the client makes is recorded as a `Call` (method, params, status, result), and
`await fake.wait_for(method, predicate)` waits until a matching call was answered. File
downloads are recorded in `fake.downloads`; `set_chat_member` makes a user a group's
creator or admin for getChatMember/getChatAdministrators; `message_update` builds an
update to POST to a webhook instead of queueing it.

What it checks like Telegram does (answering 400 "Bad Request: ..." otherwise):
  * `parse_mode=HTML` text (sendMessage, editMessageText, inline results): only the tags
    Telegram supports, balanced nesting, valid entities. Modelled on tdlib's parse_html,
    with one deliberate difference: a bare "&" that starts no entity is rejected (Telegram
    keeps it as text) so that unescaped text is caught. A bare ">" is accepted, as by Telegram.
  * text length after entity parsing (UTF-16 code units, leading/trailing whitespace
    trimmed) between 1 and 4096; callback_data 1..64 bytes; answerInlineQuery <= 50
    results with unique ids; answers to unknown or already answered callback/inline queries;
    editing a message that does not exist or would not change; getFile of unknown files or
    files over 20 MB; sending to a chat the fake never saw; getUpdates while a webhook is set.

Nothing here touches the network beyond the loopback socket the server listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mimetypes
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

try:  # the fixture is optional: the module is usable without pytest-asyncio
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pytest_asyncio = None

MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_INLINE_RESULTS = 50
MAX_CALLBACK_ANSWER = 200
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files

# Parameters that are text even when they look like JSON ("123", "true", "[x]").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "query",
        "data",
        "callback_query_id",
        "inline_query_id",
        "file_id",
        "action",
        "parse_mode",
        "url",
        "description",
        "short_description",
        "name",
        "title",
        "language_code",
        "secret_token",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "inline_message_id",
        "emoji",
        "message_effect_id",
        "business_connection_id",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


class BadRequest(Exception):
    """A Bot API error answer: {"ok": false, "error_code": status, "description": ...}."""

    def __init__(self, description: str, status: int = 400, parameters: dict | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.parameters = parameters


class HtmlError(ValueError):
    """Why Telegram would refuse a parse_mode=HTML text."""


# ---------------------------------------------------------------------------------------
# Telegram HTML (modelled on tdlib's parse_html)

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """The character an HTML entity at text[pos] == "&" stands for and the position after it
    (tdlib rules: &lt; &gt; &amp; &quot; and numeric references; the ";" may be left out)."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            start = end
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                if value >= 0x10FFFF:
                    return None
        else:
            start = end
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
                if value >= 0x10FFFF:
                    return None
        if end == start or value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        char = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if char is None:
            return None
    if end < n and text[end] == ";":
        end += 1
    return char, end


def parse_html(text: str, strict_ampersand: bool = True) -> tuple[str, list[dict]]:
    """Parse Telegram HTML into (plain text, entities with UTF-16 offsets).

    Raises HtmlError with a message worded like Telegram's ("Unsupported start tag "script"
    at byte offset 12", ...)."""

    def byte_offset(i: int) -> int:
        return len(text[:i].encode("utf-8"))

    out: list[str] = []
    u16 = 0
    stack: list[tuple[str, str, int]] = []  # (tag, argument, utf16 start)
    entities: list[dict] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                u16 += utf16_len(char)
                continue
            if strict_ampersand:
                raise HtmlError(
                    f'Unescaped "&" at byte offset {byte_offset(i)}: write &amp; '
                    "(fake server: stricter than Telegram, which keeps a bare & as text)"
                )
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":  # an end tag
            if not stack:
                raise HtmlError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise HtmlError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag, argument, start = stack.pop()
            if end_name and end_name != tag:
                raise HtmlError(f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{tag}>", found "</{end_name}>"')
            i = j + 1
            length = u16 - start
            if length > 0:
                entity: dict[str, Any] = {"type": _ENTITY_TYPES[tag], "offset": start, "length": length}
                if tag == "a":
                    entity["url"] = argument or "".join(out)[-length:]
                elif tag == "pre" and argument:
                    entity["language"] = argument
                elif tag == "blockquote" and argument == "expandable":
                    entity["type"] = "expandable_blockquote"
                elif tag == "tg-emoji":
                    entity["custom_emoji_id"] = argument
                entities.append(entity)
            continue
        # a start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise HtmlError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[i:j].lower()
        if tag not in ALLOWED_TAGS:
            raise HtmlError(f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}')
        argument = ""
        i = j
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HtmlError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] == ">":
                i += 1
                break
            name_start = i
            while i < n and not text[i].isspace() and text[i] not in "=>":
                i += 1
            name = text[name_start:i].lower()
            if not name:
                raise HtmlError(f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}')
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != "=":
                if tag == "blockquote" and name == "expandable":
                    argument = "expandable"
                    continue
                raise HtmlError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HtmlError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] not in "'\"":
                token_start = i
                while i < n and (text[i].isascii() and text[i].isalnum() or text[i] in ".-"):
                    i += 1
                value = text[token_start:i].lower()
                if i >= n or (not text[i].isspace() and text[i] != ">"):
                    raise HtmlError(f"Unexpected end of name token at byte offset {byte_offset(token_start)}")
            else:
                quote = text[i]
                i += 1
                chars = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_entity(text, i)
                        if decoded is not None:
                            chars.append(decoded[0])
                            i = decoded[1]
                            continue
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    raise HtmlError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                i += 1
                value = "".join(chars)
            if tag == "a" and name == "href":
                argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and name == "class" and value.startswith("tg-") or tag == "tg-emoji" and name == "emoji-id":
                argument = value
            elif tag == "blockquote" and name == "expandable":
                argument = "expandable"
        if tag == "span" and argument != "tg-spoiler":
            raise HtmlError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}')
        if tag == "tg-emoji" and not argument:
            raise HtmlError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(begin)}')
        if tag == "code" and stack and stack[-1][0] == "pre" and argument:
            # <pre><code class="language-x"> gives the pre entity its language
            ptag, _parg, pstart = stack[-1]
            stack[-1] = (ptag, argument, pstart)
        stack.append((tag, argument, u16))
    if stack:
        raise HtmlError(f"Can't find end tag corresponding to start tag {stack[-1][0]}")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _strip_message(plain: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Telegram trims leading and trailing whitespace of a message (and moves entities)."""
    stripped = plain.strip()
    if not stripped:
        return "", []
    lead = utf16_len(plain[: len(plain) - len(plain.lstrip())])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def check_text(
    text: Any,
    parse_mode: str | None,
    entities: Any = None,
    *,
    limit: int = MAX_MESSAGE_LENGTH,
    strict_ampersand: bool = True,
    empty_error: str = "message text is empty",
    long_error: str = "message is too long",
) -> tuple[str, list[dict]]:
    """Validate a message text like the Bot API does; returns (plain text, entities)."""
    if text is None or text == "":
        raise BadRequest(f"Bad Request: {empty_error}")
    if not isinstance(text, str):
        text = str(text)
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            plain, ents = parse_html(text, strict_ampersand=strict_ampersand)
        except HtmlError as exc:
            raise BadRequest(f"Bad Request: can't parse entities: {exc}") from None
    elif mode in ("", "none"):
        plain, ents = text, list(entities or [])
    elif mode in ("markdown", "markdownv2"):
        plain, ents = text, []  # not validated by the fake
    else:
        raise BadRequest("Bad Request: unsupported parse_mode")
    plain, ents = _strip_message(plain, ents)
    if not plain:
        raise BadRequest(f"Bad Request: {empty_error}")
    if utf16_len(plain) > limit:
        raise BadRequest(f"Bad Request: {long_error}")
    return plain, ents


def check_reply_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise BadRequest("Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BadRequest('Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise BadRequest(
                        "Bad Request: BUTTON_TEXT_EMPTY" if isinstance(button, dict) else "Bad Request: can't parse inline keyboard button"
                    )
                kinds = [
                    k
                    for k in (
                        "callback_data",
                        "url",
                        "switch_inline_query",
                        "switch_inline_query_current_chat",
                        "switch_inline_query_chosen_chat",
                        "login_url",
                        "web_app",
                        "pay",
                        "callback_game",
                        "copy_text",
                    )
                    if k in button
                ]
                if len(kinds) != 1:
                    raise BadRequest("Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                        raise BadRequest("Bad Request: BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
                    raise BadRequest(f"Bad Request: inline keyboard button URL '{button['url']}' is invalid")


# ---------------------------------------------------------------------------------------
# The server


@dataclass
class Call:
    """One Bot API request as the fake answered it."""

    index: int
    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    description: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def __repr__(self) -> str:
        shown = {k: (v if len(repr(v)) < 120 else repr(v)[:117] + "...") for k, v in self.params.items()}
        tail = "" if self.ok else f" -> {self.status} {self.description}"
        return f"<Call #{self.index} {self.method} {shown}{tail}>"


@dataclass
class FakeFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_name: str | None = None
    file_path: str | None = None


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    times: int
    description: str | None


NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class FakeTelegram:
    """The fake Bot API. Use as `async with FakeTelegram() as fake:` (starts and stops it)."""

    def __init__(
        self,
        token: str = "123:TEST",
        *,
        username: str = "articlebot_test_bot",
        first_name: str = "Articlebot Test",
        strict_ampersand: bool = True,
        unknown_methods_ok: bool = True,
    ):
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.username = username
        self.strict_ampersand = strict_ampersand
        self.unknown_methods_ok = unknown_methods_ok

        self.calls: list[Call] = []
        self.unknown_calls: list[Call] = []
        self.updates: list[dict] = []  # pending: not yet confirmed by getUpdates offset
        self.chats: dict[int, dict] = {}
        self.users: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> message
        self.files: dict[str, FakeFile] = {}
        self.commands: dict[tuple[str, str], list[dict]] = {}  # (scope json, language) -> commands
        self.webhook: dict[str, Any] = {"url": ""}
        self.open_callback_queries: dict[str, dict] = {}
        self.open_inline_queries: dict[str, dict] = {}
        self.answered_inline_queries: dict[str, dict] = {}
        self.downloads: list[str] = []  # paths of every file download asked for (any token)
        self.chat_members: dict[int, dict[int, str]] = {}  # chat id -> user id -> status

        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)  # one counter for every chat: ids stay unique
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = {}
        self._update_event: asyncio.Event | None = None
        self._call_event: asyncio.Event | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeTelegram:
        self._update_event = asyncio.Event()
        self._call_event = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake_updates()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # --- recorded calls ----------------------------------------------------------------
    def mark(self) -> int:
        """A position in the call log: pass it as `since=` to only look at later calls."""
        return len(self.calls)

    def calls_of(
        self, method: str | None = None, predicate: Callable[[Call], bool] | None = None, *, since: int = 0, ok: bool | None = True
    ) -> list[Call]:
        """Recorded calls of `method` (any method when None); `ok=None` includes failed ones."""
        return [
            c
            for c in self.calls[since:]
            if (method is None or c.method == method) and (ok is None or c.ok == ok) and (predicate is None or predicate(c))
        ]

    def errors(self, since: int = 0) -> list[Call]:
        """Calls the fake refused because of the request (4xx other than injected faults)."""
        return [c for c in self.calls[since:] if 400 <= c.status < 500 and c.status != 429]

    async def wait_for(
        self,
        method: str | tuple[str, ...],
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        *,
        since: int = 0,
        ok: bool | None = True,
    ) -> Call:
        """Wait until a call of `method` (or of any of a tuple of methods), matching
        `predicate` and successful (ok=False: refused, ok=None: either), was answered; return
        the first one at or after `since`. Raises AssertionError listing the calls on timeout."""
        methods = (method,) if isinstance(method, str) else tuple(method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        scanned = since
        while True:
            event = self._call_event
            for call in self.calls[scanned:]:
                if call.method in methods and (ok is None or call.ok == ok) and (predicate is None or predicate(call)):
                    return call
            scanned = max(scanned, len(self.calls))
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [c for c in self.calls[since:] if c.method != "getUpdates"][-12:]
                raise AssertionError(
                    f"no {'' if ok is None else ('successful ' if ok else 'failed ')}{method} call"
                    f"{' matching the predicate' if predicate else ''} within {timeout}s; "
                    f"calls since #{since}: {recent}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until no call other than getUpdates was made for `quiet` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            busy = [c for c in self.calls if c.method != "getUpdates"]
            last = busy[-1].time if busy else 0.0
            if time.monotonic() - last >= quiet and not self.updates:
                return
            await asyncio.sleep(quiet / 3)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        event, self._call_event = self._call_event, asyncio.Event()
        event.set()

    # --- fault injection ----------------------------------------------------------------
    def fail_next(
        self, method: str, status: int = 429, retry_after: int | None = 1, times: int = 1, description: str | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 carries retry_after)."""
        self._failures.setdefault(method, []).append(_Failure(status, retry_after, times, description))

    def clear_failures(self) -> None:
        self._failures.clear()

    def _take_failure(self, method: str) -> _Failure | None:
        rules = self._failures.get(method)
        if not rules:
            return None
        rule = rules[0]
        rule.times -= 1
        if rule.times <= 0:
            rules.pop(0)
        return rule

    # --- building updates --------------------------------------------------------------
    def user(
        self, user_id: int, *, language_code: str | None = "zh-hans", first_name: str | None = None, username: str | None = None
    ) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}", "username": username or f"user{user_id}"}
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return user

    def chat(self, chat_id: int, chat_type: str = "private", user: dict | None = None, title: str | None = None) -> dict:
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private"}
            if user:
                chat["first_name"] = user["first_name"]
                if user.get("username"):
                    chat["username"] = user["username"]
        elif chat_type in ("group", "supergroup", "channel"):
            chat = {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}
        else:
            raise ValueError(f"unknown chat type {chat_type!r}")
        self.chats[chat_id] = chat
        return chat

    def _push(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        self._wake_updates()
        return update

    def _wake_updates(self) -> None:
        if self._update_event is not None:
            event, self._update_event = self._update_event, asyncio.Event()
            event.set()

    @staticmethod
    def auto_entities(text: str) -> list[dict]:
        """bot_command and mention entities as Telegram marks them (UTF-16 offsets)."""
        entities = []
        for match in re.finditer(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])", text):
            entities.append({"type": "bot_command", "offset": utf16_len(text[: match.start()]), "length": utf16_len(match.group())})
        for match in re.finditer(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{3,31}(?!\w)", text):
            if text[max(match.start() - 1, 0)] == "/" or any(
                e["type"] == "bot_command" and e["offset"] <= utf16_len(text[: match.start()]) < e["offset"] + e["length"] for e in entities
            ):
                continue
            entities.append({"type": "mention", "offset": utf16_len(text[: match.start()]), "length": utf16_len(match.group())})
        entities.sort(key=lambda e: e["offset"])
        return entities

    def _new_message(
        self,
        chat_id: int,
        user_id: int | None,
        chat_type: str,
        language_code: str | None,
        reply_to_bot: bool,
        reply_to_message_id: int | None,
    ) -> dict:
        if user_id is None:
            if chat_type != "private":
                raise ValueError("a group message needs user_id")
            user_id = chat_id
        user = self.user(user_id, language_code=language_code)
        chat = self.chat(chat_id, chat_type, user)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
        }
        replied = None
        if reply_to_message_id is not None:
            replied = self.messages.get((chat_id, reply_to_message_id))
            if replied is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
        elif reply_to_bot:
            replied = self.last_bot_message(chat_id)
            if replied is None:  # the bot said something earlier, before the fake saw it
                replied = self._store_message(
                    {
                        "message_id": next(self._message_ids),
                        "date": int(time.time()) - 60,
                        "chat": chat,
                        "from": self.bot_user,
                        "text": "……",
                    }
                )
        if replied is not None:
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        return message

    def _store_message(self, message: dict) -> dict:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def last_bot_message(self, chat_id: int) -> dict | None:
        mine = [m for (cid, _), m in self.messages.items() if cid == chat_id and m["from"]["id"] == self.bot_id]
        return max(mine, key=lambda m: m["message_id"]) if mine else None

    def feed_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_bot: bool = False,
        reply_to_message_id: int | None = None,
        entities: list[dict] | None = None,
        language_code: str | None = "zh-hans",
        forward_from: int | None = None,
    ) -> dict:
        """Queue a text message update; returns the message. `entities=None` computes the
        bot_command and mention entities Telegram would send; pass [] for none.
        `forward_from=<user id>` makes it a message forwarded from that user (Telegram keeps
        the original's entities, commands included)."""
        message = self._text_message(
            chat_id,
            text,
            user_id=user_id,
            chat_type=chat_type,
            reply_to_bot=reply_to_bot,
            reply_to_message_id=reply_to_message_id,
            entities=entities,
            language_code=language_code,
            forward_from=forward_from,
        )
        self._push({"message": message})
        return message

    def message_update(self, chat_id: int, text: str, **kwargs) -> dict:
        """A text message update (same keywords as feed_message) as Telegram would POST it to
        a webhook: numbered and stored like any message, but not queued for getUpdates."""
        message = self._text_message(chat_id, text, **kwargs)
        return {"update_id": next(self._update_ids), "message": message}

    def _text_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_bot: bool = False,
        reply_to_message_id: int | None = None,
        entities: list[dict] | None = None,
        language_code: str | None = "zh-hans",
        forward_from: int | None = None,
    ) -> dict:
        message = self._new_message(chat_id, user_id, chat_type, language_code, reply_to_bot, reply_to_message_id)
        message["text"] = text
        ents = self.auto_entities(text) if entities is None else entities
        if ents:
            message["entities"] = ents
        if forward_from is not None:
            message["forward_origin"] = {
                "type": "user",
                "date": int(time.time()) - 3600,
                "sender_user": self.user(forward_from, language_code=None),
            }
        return self._store_message(message)

    def set_chat_member(self, chat_id: int, user_id: int, status: str = "administrator") -> None:
        """Make a user a member of a group with `status` ("creator", "administrator", "member"...),
        as getChatMember and getChatAdministrators then report."""
        if user_id not in self.users:
            self.user(user_id)
        if chat_id not in self.chats:
            self.chat(chat_id, "supergroup")
        self.chat_members.setdefault(chat_id, {})[user_id] = status

    def add_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        file_size: int | None = None,
        file_id: str | None = None,
        file_unique_id: str | None = None,
    ) -> FakeFile:
        number = next(self._file_ids)
        fake_file = FakeFile(
            file_id=file_id or f"BQACAgIAAxkBAAI{number:06d}fake",
            file_unique_id=file_unique_id or f"AgAD{number:06d}",
            data=data,
            file_size=len(data) if file_size is None else file_size,
            file_name=file_name,
        )
        self.files[fake_file.file_id] = fake_file
        return fake_file

    def feed_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str = "article.md",
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        mime_type: str | None = None,
        file_size: int | None = None,
        file_id: str | None = None,
        file_unique_id: str | None = None,
        caption: str | None = None,
        forward_origin: dict | None = None,
        forward_from: int | None = None,
        language_code: str | None = "zh-hans",
    ) -> dict:
        """Queue a document message; the bytes are served by getFile + the file route.
        `file_size` overrides the declared size (to fake a huge file); `forward_from=<user id>`
        or a `forward_origin` dict makes it a forwarded message."""
        message = self._new_message(chat_id, user_id, chat_type, language_code, False, None)
        fake_file = self.add_file(data, file_name=file_name, file_size=file_size, file_id=file_id, file_unique_id=file_unique_id)
        document = {
            "file_id": fake_file.file_id,
            "file_unique_id": fake_file.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream",
            "file_size": fake_file.file_size,
        }
        message["document"] = document
        if caption:
            message["caption"] = caption
            ents = self.auto_entities(caption)
            if ents:
                message["caption_entities"] = ents
        if forward_from is not None and forward_origin is None:
            forward_origin = {"type": "user", "date": int(time.time()) - 3600, "sender_user": self.user(forward_from, language_code=None)}
        if forward_origin is not None:
            message["forward_origin"] = forward_origin
        self._store_message(message)
        self._push({"message": message})
        return message

    def feed_callback(
        self, data: str, message_id: int, *, chat_id: int | None = None, user_id: int | None = None, language_code: str | None = "zh-hans"
    ) -> dict:
        """Queue a callback_query for a button of bot message `message_id`."""
        if chat_id is None:
            found = [m for (cid, mid), m in self.messages.items() if mid == message_id]
            if not found:
                raise ValueError(f"no message {message_id}: pass chat_id")
            message = found[0]
            chat_id = message["chat"]["id"]
        else:
            message = self.messages.get((chat_id, message_id))
            if message is None:  # a message the fake never saw (sent before a restart)
                chat = self.chats.get(chat_id) or self.chat(chat_id, "private" if chat_id > 0 else "group")
                message = self._store_message(
                    {"message_id": message_id, "date": int(time.time()) - 60, "chat": chat, "from": self.bot_user, "text": "……"}
                )
        if user_id is None:
            if message["chat"]["type"] != "private":
                raise ValueError("a callback from a group message needs user_id")
            user_id = chat_id
        user = self.users.get(user_id) or self.user(user_id, language_code=language_code)
        query = {
            "id": f"{next(self._query_ids)}{user_id}",
            "from": user,
            "message": message,
            "chat_instance": f"-{abs(chat_id)}77",
            "data": data,
        }
        self.open_callback_queries[query["id"]] = query
        self._push({"callback_query": query})
        return query

    def feed_inline_query(
        self, query: str, *, user_id: int = 4242, offset: str = "", chat_type: str = "sender", language_code: str | None = "zh-hans"
    ) -> dict:
        user = self.user(user_id, language_code=language_code)
        inline = {"id": f"{next(self._query_ids)}0{user_id}", "from": user, "query": query, "offset": offset, "chat_type": chat_type}
        self.open_inline_queries[inline["id"]] = inline
        self._push({"inline_query": inline})
        return inline

    # --- HTTP ----------------------------------------------------------------------------
    @staticmethod
    def _error_body(status: int, description: str, parameters: dict | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for key, value in request.query.items():
            params[key] = self._decode_form_value(key, value)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.read()
                if raw.strip():
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise BadRequest("Bad Request: invalid JSON body")
                    params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = value.file.read()
                        params[key] = f"<file {value.filename}>"
                    else:
                        params[key] = self._decode_form_value(key, value)
        return params, files

    @staticmethod
    def _decode_form_value(key: str, value: str) -> Any:
        """Form bodies carry strings; PTB JSON-encodes every non-string value."""
        if key in _STRING_PARAMS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return self._error_body(404, "Not Found")

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_body(401, "Unauthorized")
        path = request.match_info["path"]
        self.downloads.append(path)
        for fake_file in self.files.values():
            if fake_file.file_path == path:
                return web.Response(body=fake_file.data, content_type="application/octet-stream")
        return self._error_body(404, "Not Found")

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error_body(401, "Unauthorized")
        try:
            params, files = await self._read_params(request)
        except (ValueError, BadRequest) as exc:
            description = exc.description if isinstance(exc, BadRequest) else "Bad Request: can't parse JSON"
            call = Call(len(self.calls), method, {}, status=400, description=description)
            self._record(call)
            return self._error_body(400, description)
        call = Call(len(self.calls), method, params, files=files)
        failure = self._take_failure(method)
        if failure is not None:
            call.status = failure.status
            extra = None
            if failure.status == 429:
                retry = failure.retry_after or 1
                call.description = failure.description or f"Too Many Requests: retry after {retry}"
                extra = {"retry_after": retry}
            else:
                call.description = failure.description or {
                    500: "Internal Server Error",
                    502: "Bad Gateway",
                    503: "Service Unavailable",
                    400: "Bad Request",
                    403: "Forbidden: bot was blocked by the user",
                }.get(failure.status, "Error")
            self._record(call)
            return self._error_body(call.status, call.description, extra)

        handler = getattr(self, f"_api_{method.lower()}", None)
        if method == "getUpdates":
            # recorded when asked, so tests see the poll even while it waits
            self._record(call)
        try:
            if handler is None:
                self.unknown_calls.append(call)
                if not self.unknown_methods_ok:
                    raise BadRequest("Not Found", status=404)
                result: Any = True
            else:
                result = handler(params)
                if asyncio.iscoroutine(result):
                    result = await result
        except BadRequest as exc:
            call.status = exc.status
            call.description = exc.description
            if method != "getUpdates":
                self._record(call)
            return self._error_body(exc.status, exc.description, exc.parameters)
        call.result = result
        if method != "getUpdates":
            self._record(call)
        return web.json_response({"ok": True, "result": result})

    # --- methods -------------------------------------------------------------------------
    @staticmethod
    def _int(params: dict, key: str, default: int | None = None) -> int | None:
        value = params.get(key, default)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise BadRequest(f'Bad Request: invalid parameter "{key}"') from None

    def _api_getme(self, params: dict) -> dict:
        return dict(self.bot_user)

    def _api_logout(self, params: dict) -> bool:
        return True

    def _api_close(self, params: dict) -> bool:
        return True

    async def _api_getupdates(self, params: dict) -> list[dict]:
        if self.webhook.get("url"):
            raise BadRequest(
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                status=409,
            )
        offset = self._int(params, "offset", 0) or 0
        limit = min(max(self._int(params, "limit", 100) or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        if not self.updates and timeout > 0 and not self._closing:
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        if self._closing:
            return []
        allowed = params.get("allowed_updates")
        pending = list(self.updates)
        if allowed:
            pending = [u for u in pending if any(k in u for k in allowed)]
        return pending[:limit]

    def _api_deletewebhook(self, params: dict) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _api_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith("https://"):
            raise BadRequest("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        return True

    def _api_getwebhookinfo(self, params: dict) -> dict:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    @staticmethod
    def _scope_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code") or ""

    def _api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BadRequest("Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = commands
        return True

    def _api_getmycommands(self, params: dict) -> list[dict]:
        return self.commands.get(self._scope_key(params), [])

    def _api_deletemycommands(self, params: dict) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _chat_of(self, params: dict) -> dict:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise BadRequest("Bad Request: chat_id is empty")
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        return chat

    def _api_sendchataction(self, params: dict) -> bool:
        self._chat_of(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise BadRequest("Bad Request: wrong parameter action in request")
        return True

    def _api_sendmessage(self, params: dict) -> dict:
        chat = self._chat_of(params)
        plain, entities = check_text(
            params.get("text"), params.get("parse_mode"), params.get("entities"), strict_ampersand=self.strict_ampersand
        )
        markup = params.get("reply_markup")
        check_reply_markup(markup)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": dict(self.bot_user),
            "text": plain,
        }
        if entities:
            message["entities"] = entities
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
        if reply_id is not None:
            replied = self.messages.get((chat["id"], int(reply_id)))
            allow = reply.get("allow_sending_without_reply") if isinstance(reply, dict) else params.get("allow_sending_without_reply")
            if replied is None and not allow:
                raise BadRequest("Bad Request: message to be replied not found")
            if replied is not None:
                message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        return self._store_message(message)

    def _editable(self, params: dict) -> dict | bool:
        if params.get("inline_message_id"):
            return True
        chat = self._chat_of(params)
        message_id = self._int(params, "message_id")
        if message_id is None:
            raise BadRequest("Bad Request: message identifier is not specified")
        message = self.messages.get((chat["id"], message_id))
        if message is None:
            raise BadRequest("Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise BadRequest("Bad Request: message can't be edited")
        return message

    @staticmethod
    def _edited(target: dict, new_markup: dict | None) -> dict:
        """Give an edited message its new inline keyboard (or none) and its edit date."""
        if new_markup:
            target["reply_markup"] = new_markup
        else:
            target.pop("reply_markup", None)
        target["edit_date"] = int(time.time())
        return target

    def _api_editmessagetext(self, params: dict) -> dict | bool:
        target = self._editable(params)
        plain, entities = check_text(
            params.get("text"), params.get("parse_mode"), params.get("entities"), strict_ampersand=self.strict_ampersand
        )
        markup = params.get("reply_markup")
        check_reply_markup(markup)
        if target is True:
            return True
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if plain == target.get("text") and entities == target.get("entities", []) and new_markup == target.get("reply_markup"):
            raise BadRequest(NOT_MODIFIED)
        target["text"] = plain
        target["entities"] = entities
        if not entities:
            target.pop("entities")
        return self._edited(target, new_markup)

    def _api_editmessagereplymarkup(self, params: dict) -> dict | bool:
        target = self._editable(params)
        markup = params.get("reply_markup")
        check_reply_markup(markup)
        if target is True:
            return True
        new_markup = markup if markup and "inline_keyboard" in markup and markup["inline_keyboard"] else None
        if new_markup == target.get("reply_markup"):
            raise BadRequest(NOT_MODIFIED)
        return self._edited(target, new_markup)

    def _api_deletemessage(self, params: dict) -> bool:
        chat = self._chat_of(params)
        if self.messages.pop((chat["id"], self._int(params, "message_id")), None) is None:
            raise BadRequest("Bad Request: message to delete not found")
        return True

    def _api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self.open_callback_queries.pop(query_id, None) is None:
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_answerinlinequery(self, params: dict) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        if query_id not in self.open_inline_queries:
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise BadRequest("Bad Request: results must be an array of InlineQueryResult")
        if len(results) > MAX_INLINE_RESULTS:
            raise BadRequest("Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or "type" not in result:
                raise BadRequest("Bad Request: can't parse InlineQueryResult")
            rid = str(result.get("id", ""))
            if not 1 <= len(rid.encode("utf-8")) <= 64:
                raise BadRequest("Bad Request: RESULT_ID_INVALID")
            if rid in seen:
                raise BadRequest("Bad Request: RESULT_ID_DUPLICATE")
            seen.add(rid)
            if result["type"] == "article":
                if not result.get("title"):
                    raise BadRequest("Bad Request: RESULT_TITLE_EMPTY")
                content = result.get("input_message_content")
                if not isinstance(content, dict):
                    raise BadRequest("Bad Request: input_message_content is required for InlineQueryResultArticle")
                if "message_text" in content:
                    check_text(
                        content.get("message_text"),
                        content.get("parse_mode"),
                        content.get("entities"),
                        strict_ampersand=self.strict_ampersand,
                        empty_error="MESSAGE_EMPTY",
                        long_error="MESSAGE_TOO_LONG",
                    )
            check_reply_markup(result.get("reply_markup"))
        next_offset = params.get("next_offset")
        if next_offset is not None and len(str(next_offset).encode("utf-8")) > 64:
            raise BadRequest("Bad Request: NEXT_OFFSET_INVALID")
        self.answered_inline_queries[query_id] = self.open_inline_queries.pop(query_id)
        return True

    def _member(self, chat_id: int, user_id: int, status: str) -> dict:
        member: dict[str, Any] = {"status": status, "user": self.users.get(user_id) or self.user(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": True,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": True,
                    "can_edit_stories": True,
                    "can_delete_stories": True,
                }
            )
        return member

    def _api_getchatadministrators(self, params: dict) -> list[dict]:
        chat = self._chat_of(params)
        members = self.chat_members.get(chat["id"], {})
        return [self._member(chat["id"], uid, status) for uid, status in members.items() if status in ("creator", "administrator")]

    def _api_getchatmember(self, params: dict) -> dict:
        chat = self._chat_of(params)
        user_id = self._int(params, "user_id")
        if user_id is None:
            raise BadRequest("Bad Request: user_id is empty")
        status = self.chat_members.get(chat["id"], {}).get(user_id)
        if status is None:
            if user_id not in self.users:
                raise BadRequest("Bad Request: user not found")
            status = "member"
        return self._member(chat["id"], user_id, status)

    def _api_getfile(self, params: dict) -> dict:
        file_id = str(params.get("file_id") or "")
        fake_file = self.files.get(file_id)
        if fake_file is None:
            raise BadRequest("Bad Request: invalid file_id")
        if fake_file.file_size > MAX_DOWNLOAD_BYTES:
            raise BadRequest("Bad Request: file is too big")
        if fake_file.file_path is None:
            suffix = ""
            if fake_file.file_name and "." in fake_file.file_name:
                suffix = "." + fake_file.file_name.rsplit(".", 1)[1]
            fake_file.file_path = f"documents/file_{next(self._file_ids)}{suffix}"
        return {
            "file_id": fake_file.file_id,
            "file_unique_id": fake_file.file_unique_id,
            "file_size": fake_file.file_size,
            "file_path": fake_file.file_path,
        }


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def fake_telegram():
        """A running FakeTelegram for one test (function scope)."""
        async with FakeTelegram() as fake:
            yield fake
