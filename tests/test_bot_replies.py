"""The bot's pure parts: reply formatting (HTML, escaping, highlights, the 4096 limit),
language choice, the "more" callback data, the rate limiter, the config and the token
filter of the logs. No network, no Telegram."""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from articlebot.bot import present, replies
from articlebot.bot.config import BotConfig, ConfigError, api_urls
from articlebot.bot.ratelimit import RateLimiter
from articlebot.bot.replies import (
    MESSAGE_LIMIT,
    format_answer,
    format_inline_result,
    format_no_answer,
    language_of,
    more_callback_data,
    parse_more,
    render_answer,
    utf16_len,
)
from articlebot.retrieval.search import Hit

ALLOWED_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote"}
NASTY = '<script>alert("x")</script> & &amp; <b>not bold</b> "quoted" \'single\' a<b c>d 1 < 2 > 0'
TEXT = "北京是全球最具创新活力的城市，全市研发经费支出占地区生产总值比重保持在6%左右，在国际创新城市中名列前位。"


def make_hit(
    text: str = TEXT,
    highlights=(),
    title: str = "北京：打造共建“一带一路”高标准建设的试验示范",
    section=None,
    published=datetime(2021, 12, 6, tzinfo=UTC),
    pid: int = 1,
) -> Hit:
    return Hit(
        article_id="91524aec372b",
        title=title,
        paragraph_index=pid,
        text=text,
        section=section,
        score=1.0,
        published=published,
        author=None,
        url=None,
        pid=pid,
        highlights=tuple(highlights),
    )


def spans_of(text: str, *terms: str) -> list[tuple[int, int]]:
    return sorted((m.start(), m.end()) for term in terms for m in re.finditer(re.escape(term), text))


class TelegramHtml(HTMLParser):
    """Checks what Telegram's HTML parse mode requires: only its tags, no attributes
    (but href on <a>), balanced, and no bare <, > or & in the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        assert tag in ALLOWED_TAGS, f"tag <{tag}> not allowed"
        assert not [name for name, _ in attrs if not (tag == "a" and name == "href")], f"attributes on <{tag}>"
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(markup: str) -> tuple[str, list[str]]:
    """(the text Telegram shows, the tags used); fails on anything Telegram would refuse."""
    bare = re.sub(r"</?(?:b|i|u|s|code|pre|blockquote)>|<a href=\"[^\"<>]*\">|</a>", "", markup)
    assert "<" not in bare and ">" not in bare, "bare < or > outside our tags"
    assert not re.search(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", bare), "bare & in text"
    parser = TelegramHtml()
    parser.feed(markup)
    parser.close()
    assert not parser.stack, f"unclosed tags {parser.stack}"
    return "".join(parser.text), parser.tags


def assert_fits(markup: str) -> str:
    text, _ = check_html(markup)
    assert len(markup) <= MESSAGE_LIMIT
    assert utf16_len(text) <= MESSAGE_LIMIT
    return text


# --- escaping -----------------------------------------------------------------------------


def test_everything_from_articles_is_escaped():
    hit = make_hit(text=NASTY * 3, title=NASTY, section=NASTY, highlights=spans_of(NASTY * 3, "script", "&"))
    markup = format_answer(NASTY, [hit], "zh")
    text, tags = check_html(markup)
    assert set(tags) <= {"b", "i"}
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert NASTY in text  # the reader sees the article's characters as they are
    assert tags.count("b") == 1 + 3 * (2 + 2)  # the title, then each highlighted term


def test_no_answer_escapes_the_question_and_hints():
    for lang, hint in (("zh", "换个说法"), ("en", "fewer words")):
        markup = format_no_answer(NASTY, lang)
        text, tags = check_html(markup)
        assert tags == [] and hint in text and "<script>" in text


def test_every_message_template_is_valid_html_with_nasty_values():
    values = dict(
        query=NASTY,
        bot=NASTY,
        mb=NASTY,
        seconds=NASTY,
        articles=NASTY,
        paragraphs=NASTY,
        title=NASTY,
        id=NASTY,
        when=NASTY,
        count=NASTY,
        size=NASTY,
        reason=NASTY,
        suffixes=NASTY,
    )
    for key in replies.TEXTS:
        for lang in ("zh", "en"):
            text, _ = check_html(replies.message(key, lang, **values))
            assert "<script>" in text or "{" not in replies.TEXTS[key][lang]


def test_inline_result_is_escaped_and_fits():
    text = NASTY * 400
    hit = make_hit(text=text, title=NASTY * 10, highlights=spans_of(text, "alert")[:5])
    title, description, markup = format_inline_result(hit)
    assert len(title) <= replies.TITLE_CHARS + 1 and len(description) <= replies.SNIPPET_CHARS + 2
    shown = assert_fits(markup)
    assert "alert" in description and shown.startswith(title[:20])


# --- highlights ---------------------------------------------------------------------------


def test_highlights_wrap_the_cjk_terms():
    hit = make_hit(highlights=spans_of(TEXT, "研发经费", "6%左右"))
    markup = format_answer("研发经费", [hit], "zh")
    assert "全市<b>研发经费</b>支出" in markup and "保持在<b>6%左右</b>，" in markup
    text, _ = check_html(markup)
    assert TEXT in text


def test_highlights_at_the_edges_and_messy_spans():
    n = len(TEXT)
    hit = make_hit(highlights=[(n - 3, n + 10), (0, 2), (1, 4), (-5, 0), (7, 7)])
    markup = format_answer("q", [hit], "zh")
    body = markup.split("\n")[-1]
    assert body == f"<b>{TEXT[:4]}</b>{TEXT[4 : n - 3]}<b>{TEXT[n - 3 :]}</b>"


def test_meta_line_has_date_and_section_when_known():
    markup = format_answer("q", [make_hit(section="科技创新")], "zh")
    assert "<b>1. 北京：打造共建“一带一路”高标准建设的试验示范</b>\n<i>2021-12-06 · 科技创新</i>\n" in markup
    bare = format_answer("q", [make_hit(published=None)], "zh")
    assert "<i>" not in bare


def test_numbering_continues_from_the_offset():
    markup = format_answer("q", [make_hit(), make_hit(pid=2)], "zh", offset=3)
    assert "<b>4. " in markup and "<b>5. " in markup and "<b>1. " not in markup


# --- length -------------------------------------------------------------------------------


def test_a_huge_passage_is_trimmed_around_the_first_highlight():
    text = "前文很长。" * 1000 + "研发经费占GDP比重保持在6%左右。" + "后文也很长。" * 1000
    hit = make_hit(text=text, highlights=spans_of(text, "研发经费", "6%左右"))
    markup = format_answer("研发经费", [hit], "zh")
    shown = assert_fits(markup)
    body = shown.split("\n", 2)[2]
    assert body.startswith("…") and body.endswith("…")
    assert "<b>研发经费</b>" in markup and "<b>6%左右</b>" in markup
    assert len(body) > 2000  # a lone passage gets most of the room


def test_no_cut_inside_an_escape_or_a_highlight():
    text = "&<>" * 3000 + "关键词" + "&<>" * 3000
    hit = make_hit(text=text, highlights=spans_of(text, "关键词"))
    markup = format_answer("关键词", [hit], "zh")
    shown = assert_fits(markup)
    assert "<b>关键词</b>" in markup
    assert re.fullmatch(r"…(?:&lt;|&gt;|&amp;|<b>关键词</b>)+…", markup.split("\n")[-1])
    assert html.unescape(markup.split("\n")[-1].replace("<b>", "").replace("</b>", "")) == shown.split("\n")[-1]


def test_a_highlight_longer_than_the_room_is_never_split():
    window = present.window("a" * 100 + "b" * 50 + "c" * 100, [(100, 150)], 20)
    assert window[0] <= 100 and (window[1] <= 100 or window[1] >= 150)


@pytest.mark.parametrize("count", [1, 3, 10, 50])
@pytest.mark.parametrize("unit", ["研究", "😀", "&<", "a "])
def test_any_number_of_huge_hits_fits(count, unit):
    text = unit * 5000
    hits = [
        make_hit(text=text, title=unit * 500, section=unit * 200, highlights=[(len(text) // 2, len(text) // 2 + len(unit))], pid=i)
        for i in range(count)
    ]
    markup, shown = render_answer(hits)
    assert_fits(markup)
    assert shown == min(count, MESSAGE_LIMIT // replies.MIN_BLOCK)
    assert markup.count("<b>") == 2 * shown  # every shown passage kept its title and highlight


def test_astral_characters_count_twice():
    assert utf16_len("a😀中") == 4
    text = "😀" * 3000  # 3000 characters, 6000 UTF-16 units
    markup = format_answer("q", [make_hit(text=text)], "zh")
    shown = assert_fits(markup)
    assert utf16_len(shown) > 3000


def test_short_passages_leave_room_to_long_ones():
    long_text = "长" * 6000
    hits = [make_hit(text="短的段落。"), make_hit(text=long_text, pid=2), make_hit(text="也很短。", pid=3)]
    shown = assert_fits(format_answer("q", hits, "zh"))
    assert shown.count("长") > 2500  # much more than a third of 4096


# --- language and the "more" button ----------------------------------------------------------


@pytest.mark.parametrize(
    "code, lang", [("en", "en"), ("en-US", "en"), ("EN-gb", "en"), ("zh-hans", "zh"), ("ru", "zh"), (None, "zh"), ("", "zh")]
)
def test_language_of(code, lang):
    assert language_of(code) == lang


def test_callback_data_round_trips_and_stays_under_64_bytes():
    data = more_callback_data("Ab3_-xYz", 12)
    assert data == "more:Ab3_-xYz:12" and parse_more(data) == ("Ab3_-xYz", 12)
    longest = more_callback_data("x" * 32, 999_999)
    assert len(longest.encode()) <= 64
    for bad in (None, "", "more:", "more:id", "more:id:x", "more:a/b:1", "other:id:1", "more:" + "x" * 33 + ":1"):
        assert parse_more(bad) is None
    with pytest.raises(ValueError):
        more_callback_data("x" * 60, 1)


# --- the rate limiter -----------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limiter_allows_n_per_window_then_refuses_and_warns_once():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert all(limiter.check("alice").allowed for _ in range(3))
    refused = limiter.check("alice")
    assert not refused.allowed and refused.warn and refused.retry_after == pytest.approx(60)
    clock.now += 10
    again = limiter.check("alice")
    assert not again.allowed and not again.warn and again.retry_after == pytest.approx(50)
    assert limiter.check("bob").allowed  # per user


def test_rate_limiter_allows_again_after_the_window_slides():
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)
    assert limiter.check(1).allowed
    clock.now += 30
    assert limiter.check(1).allowed
    assert not limiter.check(1).allowed
    clock.now += 30  # the first question left the window, the second not yet
    assert limiter.check(1).allowed
    assert not limiter.check(1).allowed
    clock.now += 61
    assert limiter.check(1).allowed and limiter.check(1).allowed
    refused = limiter.check(1)
    assert not refused.allowed and refused.warn  # a new window: told again


def test_rate_limiter_forgets_idle_users():
    clock = Clock()
    limiter = RateLimiter(1, 10, clock=clock)
    for user in range(100):
        limiter.check(user)
    clock.now += 20
    limiter.check("new")
    assert list(limiter._asked) == ["new"]


# --- configuration and logs -----------------------------------------------------------------


def test_config_from_env():
    env = {
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
        "ARTICLEBOT_ADMINS": "1, 2",
        "ARTICLEBOT_ALLOWED_CHATS": "-100,5",
        "ARTICLEBOT_MAX_UPLOAD_MB": "0.5",
        "ARTICLEBOT_RATE_LIMIT": "5/30",
    }
    config = BotConfig.from_env(env, port=9000, webhook_url=None)
    assert (config.base_url, config.base_file_url) == ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")
    assert config.admins == {1, 2} and config.allowed_chats == {-100, 5}
    assert config.max_upload_bytes == 512 * 1024 and (config.rate_limit, config.rate_window) == (5, 30.0)
    assert config.port == 9000 and config.webhook_url is None
    assert "123:abc" not in repr(config)
    assert BotConfig.from_env(env, base_url="https://x.example").base_file_url == "https://x.example/file/bot"
    assert api_urls("http://h:1/") == ("http://h:1/bot", "http://h:1/file/bot")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"TELEGRAM_BOT_TOKEN": " "},
        {"TELEGRAM_BOT_TOKEN": "t", "ARTICLEBOT_ADMINS": "me"},
        {"TELEGRAM_BOT_TOKEN": "t", "ARTICLEBOT_RATE_LIMIT": "10"},
        {"TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_API_BASE_URL": "localhost:8081"},
    ],
)
def test_config_errors(env):
    with pytest.raises(ConfigError):
        BotConfig.from_env(env)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        BotConfig.from_env({})


def test_token_filter_redacts_messages_args_and_tracebacks():
    from articlebot.bot.app import TokenFilter

    token = "123456:AAF-secret_token"
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(TokenFilter(token))
    logger = logging.getLogger("test_token_filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/getMe", token)
        logger.warning("url %(url)s", {"url": f"https://x/bot{token}/sendMessage"})
        logger.warning(f"inline {token} and quoted {token.replace(':', '%3A')}")
        try:
            raise RuntimeError(f"failed at /bot{token}/getUpdates")
        except RuntimeError:
            logger.exception("network error")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 4
    for text in records:
        assert "secret_token" not in text
        assert "<token>" in text


def test_send_rate_from_the_environment():
    from articlebot.bot.config import BotConfig, ConfigError

    assert BotConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).send_rate == 30.0
    assert BotConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "ARTICLEBOT_SEND_RATE": "0"}).send_rate == 0.0
    with pytest.raises(ConfigError, match="ARTICLEBOT_SEND_RATE"):
        BotConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "ARTICLEBOT_SEND_RATE": "fast"})
    with pytest.raises(ConfigError, match="ARTICLEBOT_SEND_RATE"):
        BotConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "ARTICLEBOT_SEND_RATE": "-1"})


# --- the reply: the answering sentence first -----------------------------------------------


def snippet_hit(title="北京：打造共建“一带一路”高标准建设的试验示范", url=None, author="新浪财经", pid=1, long_text=False):
    import dataclasses

    snippet = "世界旅游城市联合会已成为拥有75个国家、223个会员的国际组织。"
    text = ("前文很长，" * 80 if long_text else "在人文交流方面，") + snippet + "后文。"
    start = text.index(snippet)
    spans = spans_of(text, "会员")
    return dataclasses.replace(
        make_hit(title=title, text=text, highlights=spans, pid=pid),
        author=author,
        url=url,
        snippet=snippet,
        snippet_highlights=tuple((s - start, e - start) for s, e in spans),
    )


def blocks_of(markup: str) -> list[str]:
    return check_html(markup)[0].split("\n\n")


def test_the_best_answer_leads_with_its_snippet_then_a_linked_title():
    hits = [snippet_hit(url="https://finance.sina.com.cn/a.html"), snippet_hit(pid=2, title="第二篇")]
    markup, shown = replies.render_reply(hits)
    assert shown == 2
    lead, second = blocks_of(markup)
    assert lead.startswith("世界旅游城市联合会") and "223个会员" in lead.split("\n")[0]
    assert lead.split("\n")[1] == "— 北京：打造共建“一带一路”高标准建设的试验示范 · 2021-12-06 · 新浪财经"
    assert '<a href="https://finance.sina.com.cn/a.html">北京：' in markup
    assert "<b>会员</b>" in markup
    assert second.startswith("2. 第二篇\n世界旅游城市联合会")  # compact: title, then snippet
    assert len(lead) <= replies.LEAD_CHARS


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", 'https://x.org/"><script>', "ftp://x.org/a"])
def test_no_link_but_to_an_http_url(url):
    markup, _ = replies.render_reply([snippet_hit(url=url)])
    assert "<a " not in markup and "<b>北京：" in markup
    check_html(markup)


def test_the_lead_stays_within_a_phone_screen_and_the_reply_within_the_limit():
    huge_title = "标题很长" * 200
    hits = [snippet_hit(title=huge_title, long_text=True, url="https://x.org/" + "a" * 300)] + [
        snippet_hit(title=huge_title, long_text=True, pid=i) for i in range(2, 40)
    ]
    markup, shown = replies.render_reply(hits)
    text = assert_fits(markup)
    assert len(text.split("\n\n")[0]) <= replies.LEAD_CHARS
    assert 1 < shown < len(hits)  # as many compact answers as fit, the rest for "more"
    later, _ = replies.render_reply(hits[5:8], offset=5)
    assert blocks_of(later)[0].startswith("6. ")  # later pages are compact, numbered on


def test_full_text_callback_data_round_trips():
    data = replies.full_callback_data("AbC-_123", 3, 3)
    assert replies.parse_full(data) == ("AbC-_123", 3, 3) and len(data.encode()) <= 64
    assert replies.parse_more(data) is None and replies.parse_full("more:AbC:3") is None
