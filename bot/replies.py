"""What the bot says: pure functions from hits and facts to Telegram HTML.

Every message is built from (tag, text) segments: the text of each segment goes through
html.escape, and the only markup is the tag we put around it, so no article, title or
question can inject markup or break the parse. Telegram's 4096-character limit counts
UTF-16 code units of the text without tags, while the raw HTML (escapes included) is
what we send, so a message's cost is the larger of the two and must stay <= 4096.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

from articlebot.bot.present import Segment, cut, hit_meta, passage_segments
from articlebot.corpus.formats import ARTICLE_SUFFIXES
from articlebot.corpus.models import Article, ArticleSummary, StoreStats
from articlebot.retrieval.search import Hit

MESSAGE_LIMIT = 4096  # Telegram's limit on a message text (and on an inline result's message)
CALLBACK_DATA_LIMIT = 64  # bytes
MIN_BLOCK = 400  # the least room worth giving one passage; fewer, longer passages beat many stubs
TITLE_CHARS = 120  # a title longer than this is cut, whatever the room
SNIPPET_CHARS = 120  # inline result description
UNLIMITED = 10**12
SUFFIXES_SHOWN = " ".join(ARTICLE_SUFFIXES)  # the article files admins may send


# --- text measure and markup ---------------------------------------------------------------


def escape(text: str) -> str:
    # quote=False: Telegram needs only <, > and & escaped in text, and every &quot; would
    # cost 6 of the 4096 characters.
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (emoji...) count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


LINK = "a:"  # a segment tagged "a:URL" is a link to URL


def to_html(segments: Sequence[Segment]) -> str:
    return "".join(_segment_html(tag, text) for tag, text in segments)


def _segment_html(tag: str | None, text: str) -> str:
    if not tag or not text:
        return escape(text)
    if tag.startswith(LINK):
        return f'<a href="{html.escape(tag[len(LINK) :], quote=True)}">{escape(text)}</a>'
    return f"<{tag}>{escape(text)}</{tag}>"


def link_tag(url: str | None) -> str | None:
    """The tag linking to an article's url; None for anything but an http(s) url (a
    stored article could hold javascript: or other schemes)."""
    if url and re.match(r"https?://[^\s<>\"]+$", url, re.IGNORECASE):
        return LINK + url
    return None


def cost(segments: Sequence[Segment]) -> int:
    """Room taken in a message: the raw HTML or the parsed text, whichever is longer."""
    return max(len(to_html(segments)), utf16_len("".join(text for _, text in segments)))


def _longest_fitting(render: Callable[[int], list[Segment]], most: int, budget: int) -> list[Segment]:
    """render(n) for the largest n in [0, most] whose cost fits `budget` (binary search; the
    cost grows with n). render(0) is returned when nothing fits, the caller's last resort."""
    best = render(0)
    low, high = 1, most
    while low <= high:
        mid = (low + high) // 2
        candidate = render(mid)
        if cost(candidate) <= budget:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best


# --- passages -----------------------------------------------------------------------------


def hit_segments(hit: Hit, rank: int | None, budget: int) -> list[Segment]:
    """One passage: the numbered title in bold, date and section in italics, then the
    passage trimmed to what `budget` leaves. Title and meta are cut only when they would
    take more than half of the room, so the passage keeps at least half."""
    prefix = f"{rank}. " if rank is not None else ""
    meta_text = hit_meta(hit)

    def title(n: int) -> list[Segment]:
        return [("b", prefix + cut(hit.title, n))]

    def meta(n: int) -> list[Segment]:
        return [(None, "\n"), ("i", cut(meta_text, n))] if meta_text else []

    head = title(TITLE_CHARS) + meta(len(meta_text)) + [(None, "\n")]
    whole = passage_segments(hit.text, hit.highlights)
    if cost(head) + cost(whole) <= budget:
        return head + whole
    if cost(head) > budget // 2:
        head = _longest_fitting(title, TITLE_CHARS, budget // 4) + _longest_fitting(meta, len(meta_text), budget // 8) + [(None, "\n")]
    room = budget - cost(head)
    body = _longest_fitting(lambda n: passage_segments(hit.text, hit.highlights, n), len(hit.text), room)
    if cost(body) > room:  # not even an ellipsis fits: leave the passage out
        body = []
    return head + body


# --- answers ------------------------------------------------------------------------------

LEAD_CHARS = 350  # the best answer's room: what a phone shows above the buttons


def _source_segments(hit: Hit, title_chars: int) -> list[Segment]:
    """The title (a link when the article has a url, else bold), then date and author."""
    facts = [f"{hit.published:%Y-%m-%d}"] if hit.published else []
    if hit.author:
        facts.append(cut(hit.author, title_chars))  # an outlet's name, cut as the title is
    segments: list[Segment] = [(link_tag(hit.url) or "b", cut(hit.title, title_chars))]
    if facts:
        segments.append(("i", " · " + " · ".join(facts)))
    return segments


def _snippet(hit: Hit, size: int | None = None) -> list[Segment]:
    text, spans = (hit.snippet, hit.snippet_highlights) if hit.snippet else (hit.text, hit.highlights)
    return passage_segments(text, spans, size if size is not None and size < len(text) else None)


def lead_segments(hit: Hit, budget: int = LEAD_CHARS) -> list[Segment]:
    """The best answer: its snippet (matched words bold), then "— title · date · author".
    Within `budget`: the title gives way first (to a quarter), then the snippet."""
    head = [(None, "\n— ")] + _source_segments(hit, TITLE_CHARS)
    if cost(head) > budget // 2:
        head = [(None, "\n— ")] + _longest_fitting(lambda n: _source_segments(hit, n), TITLE_CHARS, budget // 4)
    room = budget - cost(head)
    body = _longest_fitting(lambda n: _snippet(hit, n), len(hit.snippet or hit.text), room)
    return body + head


def compact_segments(hit: Hit, rank: int, budget: int) -> list[Segment]:
    """A further answer: "rank. title" (a link when the article has a url), then its snippet."""
    title: list[Segment] = [(link_tag(hit.url) or "b", f"{rank}. {cut(hit.title, TITLE_CHARS)}"), (None, "\n")]
    room = budget - cost(title)
    return title + _longest_fitting(lambda n: _snippet(hit, n), len(hit.snippet or hit.text), room)


def render_reply(hits: Sequence[Hit], offset: int = 0, limit: int = MESSAGE_LIMIT) -> tuple[str, int]:
    """(HTML, how many of `hits` it shows) of one reply. The first page leads with the best
    answer (lead_segments, at most LEAD_CHARS); every other answer is compact, numbered
    from offset + 1. Answers are added while they fit `limit`."""
    separator: list[Segment] = [(None, "\n\n")]
    segments: list[Segment] = []
    shown = 0
    for i, hit in enumerate(hits):
        rank = offset + i + 1
        room = limit - cost(segments) - (cost(separator) if segments else 0)
        block = lead_segments(hit, min(LEAD_CHARS, room)) if rank == 1 else compact_segments(hit, rank, min(LEAD_CHARS, room))
        if shown and cost(segments + separator + block) > limit:
            break
        segments += (separator if segments else []) + block
        shown += 1
    return to_html(segments), shown


def render_answer(hits: Sequence[Hit], offset: int = 0, limit: int = MESSAGE_LIMIT) -> tuple[str, int]:
    """(HTML, how many of `hits` it shows), whole passages numbered from offset + 1, within
    `limit` (the "full text" button's message).

    Passages share the room fairly: a passage that fits its equal share is shown whole,
    and what it leaves goes to the longer ones (water-filling). When there are more
    hits than limit // MIN_BLOCK, only that many are shown (the rest belong on the next
    page).
    """
    shown = min(len(hits), max(1, limit // MIN_BLOCK))
    separator = [(None, "\n\n")]
    budget = limit - cost(separator) * (shown - 1)
    ranks = range(offset + 1, offset + shown + 1)
    whole = [cost(hit_segments(hit, rank, UNLIMITED)) for hit, rank in zip(hits, ranks)]  # room each wants
    room = [0] * shown
    for i, n in enumerate(sorted(range(shown), key=whole.__getitem__)):
        room[n] = min(whole[n], budget // (shown - i))
        budget -= room[n]
    blocks = [hit_segments(hit, rank, share) for hit, rank, share in zip(hits, ranks, room)]
    segments = [seg for i, block in enumerate(blocks) for seg in (separator if i else []) + block]
    return to_html(segments), shown


def format_answer(query: str, hits: list[Hit], lang: str, offset: int = 0) -> str:
    """Telegram HTML for `hits` (numbered from offset + 1), <= 4096; no hits: the no-answer
    message. All hits are shown unless they cannot fit (see render_answer)."""
    if not hits:
        return format_no_answer(query, lang)
    return render_answer(hits, offset)[0]


def no_answer_text(query: str, lang: str) -> str:
    """The no-answer message as plain text (the terminal chat prints this)."""
    return text_of("no_answer", lang).format(query=cut(" ".join(query.split()), 60))


def format_no_answer(query: str, lang: str) -> str:
    return escape(no_answer_text(query, lang))


def format_inline_result(hit: Hit) -> tuple[str, str, str]:
    """(title, description, message HTML) of an inline query result."""
    description = "".join(text for _, text in _snippet(hit, SNIPPET_CHARS))
    message = to_html(lead_segments(hit))
    return cut(hit.title, TITLE_CHARS), description, message


def language_of(language_code: str | None) -> str:
    """ "en" for English-speaking users (language_code en, en-US...), else "zh"."""
    return "en" if (language_code or "").lower().startswith("en") else "zh"


# --- the "more" button --------------------------------------------------------------------

_MORE = re.compile(r"more:([A-Za-z0-9_-]{1,32}):(\d{1,6})")


def more_callback_data(page_id: str, offset: int) -> str:
    data = f"more:{page_id}:{offset}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT or not _MORE.fullmatch(data):
        raise ValueError(f"bad callback data {data!r}")
    return data


def parse_more(data: str | None) -> tuple[str, int] | None:
    """(page id, offset) of a "more" button's data; None for anything else."""
    match = _MORE.fullmatch(data or "")
    return (match[1], int(match[2])) if match else None


# --- the "full text" button: the whole paragraphs of the answers a reply shows --------------

_FULL = re.compile(r"full:([A-Za-z0-9_-]{1,32}):(\d{1,6}):(\d{1,3})")


def full_callback_data(page_id: str, offset: int, count: int) -> str:
    data = f"full:{page_id}:{offset}:{count}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT or not _FULL.fullmatch(data):
        raise ValueError(f"bad callback data {data!r}")
    return data


def parse_full(data: str | None) -> tuple[str, int, int] | None:
    """(page id, offset, count) of a "full text" button's data; None for anything else."""
    match = _FULL.fullmatch(data or "")
    return (match[1], int(match[2]), int(match[3])) if match else None


# --- everything else the bot says ---------------------------------------------------------

TEXTS: dict[str, dict[str, str]] = {
    "start": {
        "zh": "你好！我根据文章库回答问题：直接发问题给我，我会回复最相关的段落和出处。\n发送 /help 查看用法。",
        "en": "Hi! I answer questions from a library of articles: send me a question and I reply "
        "with the most relevant passages and their sources.\nSend /help for more.",
    },
    "help": {
        "zh": "<b>用法</b>\n"
        "• 私聊：直接发送问题。\n"
        "• 群组：/search 问题，或 @我 提问，或回复我的消息。\n"
        "• 任意聊天中输入 @{bot} 问题，可插入一段答案。\n"
        "• 点「更多」查看更多段落。\n"
        "/stats 文章库统计",
        "en": "<b>How to ask</b>\n"
        "• Private chat: just send your question.\n"
        "• Groups: /search question, mention me, or reply to one of my messages.\n"
        "• In any chat, type @{bot} question to insert a passage.\n"
        "• Press “More” for further passages.\n"
        "/stats library figures",
    },
    "help_admin": {
        "zh": "\n\n<b>管理员</b>\n• 发送文件（{suffixes}，最大 {mb} MB）即可加入文章库。\n• /remove 文章ID 删除文章。",
        "en": "\n\n<b>Admins</b>\n• Send a file ({suffixes}, up to {mb} MB) to add it to the library.\n"
        "• /remove ARTICLE_ID removes an article.",
    },
    "search_usage": {
        "zh": "请在 /search 后面写上问题，例如：/search 研发经费占GDP比重",
        "en": "Put your question after /search, e.g. /search 研发经费占GDP比重",
    },
    "no_answer": {
        "zh": "没有找到与「{query}」相关的段落。\n提示：换个说法试试，或者少用几个词、只留关键词。",
        "en": "I found no passage about “{query}”.\nTip: try other words, or fewer words (just the key terms).",
    },
    "rate_limited": {
        "zh": "提问太频繁了，请 {seconds} 秒后再试。",
        "en": "You are asking too fast; please try again in {seconds} seconds.",
    },
    "more": {"zh": "更多", "en": "More"},
    "full": {"zh": "全文", "en": "Full text"},
    "expired": {"zh": "这些结果已过期，请重新提问。", "en": "These results have expired; please ask again."},
    "error": {"zh": "抱歉，出错了，请稍后再试。", "en": "Sorry, something went wrong. Please try again later."},
    "stats": {
        "zh": "<b>文章库</b>\n文章：{articles}\n段落：{paragraphs}",
        "en": "<b>Library</b>\nArticles: {articles}\nParagraphs: {paragraphs}",
    },
    "stats_last": {"zh": "\n最近加入：{title}（<code>{id}</code>，{when}）", "en": "\nLast added: {title} (<code>{id}</code>, {when})"},
    "stats_sample": {
        "zh": "\n文章库为空，目前使用内置示例文章（{count} 篇）回答。",
        "en": "\nThe library is empty, so answers come from the bundled sample ({count} articles).",
    },
    "admins_only": {"zh": "抱歉，只有管理员可以添加或删除文章。", "en": "Sorry, only the bot's admins can add or remove articles."},
    "forwarded": {"zh": "请直接发送文件，不要转发。", "en": "Please send the file itself rather than forwarding it."},
    "bad_type": {
        "zh": "只能添加以下类型的文件：{suffixes}",
        "en": "I can only add files of these types: {suffixes}",
    },
    "too_big": {"zh": "文件太大（{size} MB），上限是 {mb} MB。", "en": "The file is too big ({size} MB); the limit is {mb} MB."},
    "unknown_size": {"zh": "无法得知文件大小，未添加。", "en": "Telegram did not say how big the file is, so I did not add it."},
    "unreadable": {"zh": "无法读取这个文件：{reason}", "en": "I could not read this file: {reason}"},
    "added": {
        "zh": "已加入：<b>{title}</b>\nID：<code>{id}</code>，{paragraphs} 个段落。",
        "en": "Added: <b>{title}</b>\nID: <code>{id}</code>, {paragraphs} paragraphs.",
    },
    "unchanged": {
        "zh": "这篇文章已在库中：<b>{title}</b>\nID：<code>{id}</code>，{paragraphs} 个段落。",
        "en": "This article is already in the library: <b>{title}</b>\nID: <code>{id}</code>, {paragraphs} paragraphs.",
    },
    "remove_usage": {"zh": "用法：/remove 文章ID", "en": "Usage: /remove ARTICLE_ID"},
    "removed": {"zh": "已删除：<b>{title}</b>（<code>{id}</code>）", "en": "Removed: <b>{title}</b> (<code>{id}</code>)"},
    "not_found": {"zh": "没有删除：{reason}", "en": "Nothing removed: {reason}"},
}


# The command menu (setMyCommands): Chinese by default, English for en users.
COMMANDS: dict[str, list[tuple[str, str]]] = {
    "zh": [("search", "搜索：/search 问题"), ("help", "用法"), ("stats", "文章库统计"), ("start", "开始")],
    "en": [("search", "Search: /search question"), ("help", "How to ask"), ("stats", "Library figures"), ("start", "Start")],
}


def text_of(key: str, lang: str) -> str:
    """One of TEXTS as it stands (for plain-text places such as callback query notices)."""
    return TEXTS[key]["en" if lang == "en" else "zh"]


def message(key: str, lang: str, **values) -> str:
    """One of TEXTS as Telegram HTML; every value is escaped (the templates hold our tags)."""
    return text_of(key, lang).format(**{name: escape(str(value)) for name, value in values.items()})


def format_help(lang: str, bot_username: str, admin: bool, max_upload_bytes: int) -> str:
    text = message("help", lang, bot=bot_username)
    if admin:
        text += message("help_admin", lang, mb=_megabytes(max_upload_bytes), suffixes=SUFFIXES_SHOWN)
    return text


def format_stats(stats: StoreStats, lang: str, sample_articles: int | None = None) -> str:
    text = message("stats", lang, articles=stats.articles, paragraphs=stats.paragraphs)
    last = stats.last_added
    if last:
        text += message("stats_last", lang, title=cut(last.title, TITLE_CHARS), id=last.id, when=f"{last.added_at:%Y-%m-%d %H:%M} UTC")
    if sample_articles:
        text += message("stats_sample", lang, count=sample_articles)
    return text


def format_added(article: Article, status: str, lang: str) -> str:
    key = "unchanged" if status == "unchanged" else "added"
    return message(key, lang, title=cut(article.title, TITLE_CHARS), id=article.id, paragraphs=len(article.paragraphs))


def format_removed(summary: ArticleSummary, lang: str) -> str:
    return message("removed", lang, title=cut(summary.title, TITLE_CHARS), id=summary.id)


def format_bad_type(lang: str) -> str:
    return message("bad_type", lang, suffixes=SUFFIXES_SHOWN)


def format_too_big(size: int, limit: int, lang: str) -> str:
    return message("too_big", lang, size=_megabytes(size), mb=_megabytes(limit))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")
