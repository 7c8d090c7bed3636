"""Any article file -> Article.

The format is detected from the content, not the file name:
  * YAML front matter (Hexo/Jekyll) + a body in HTML and/or markdown;
  * a whole HTML page (title from og:title / <h1> / <title>);
  * plain text or markdown (title from the first heading, else the first line,
    else the file name).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from datetime import date
from pathlib import Path

from markdown_it import MarkdownIt

from articlebot.corpus import clean, rules
from articlebot.corpus.decode import UndecodableError, decode_bytes
from articlebot.corpus.errors import ParseError
from articlebot.corpus.frontmatter import FrontMatterError, parse_date, split_front_matter
from articlebot.corpus.limits import DEFAULT_MAX_BYTES
from articlebot.corpus.models import Article, Paragraph
from articlebot.corpus.paragraphs import merge_short, split_long

# Bumped whenever cleaning or paragraphing changes its output, so re-adding an
# unchanged file re-cleans it (the store compares this number).
PARSER_VERSION = 1

ID_LENGTH = 12

# A whole page: optional XML declaration and comments (browsers write
# "<!-- saved from url=... -->" when saving a page), then a doctype or <html>.
_HTML_PAGE = re.compile(r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype html|<html\b)", re.I | re.S)
_HTML_BLOCK = re.compile(r"<(p|div|br|table|li|ul|ol|h[1-6]|section|article|blockquote|pre|body|html)\b", re.I)
# Lines that only markdown writes: headings, list items, fences, bold, links, images.
_MARKDOWN_SYNTAX = re.compile(
    r"^(?:#{1,6}[ \t]|[ \t]{0,3}(?:[-*+]|\d{1,3}[.)])[ \t]+\S|```|~~~)|\*\*[^*\n]+\*\*|!?\[[^\]\n]+\]\([^)\n]+\)",
    re.M,
)
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
# Chinese text files put one paragraph per line, so there a single line break separates
# paragraphs ("breaks"); in Latin text it only wraps lines.
# Indented code blocks are off: feed bodies indent raw HTML and plain-text files indent
# paragraphs, and neither is code (fenced code still is).
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).disable("code")
_MARKDOWN_LINE_BREAKS = MarkdownIt("commonmark", {"html": True, "breaks": True}).disable("code")
# Characters a Hexo feed script put in place of quotes and slashes in titles.
_TITLE_PLACEHOLDERS = {"_": r".{1,2}", '"': r"[\"“”「」『』]", "'": r"['‘’]"}


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def article_id(digest: str) -> str:
    """The article's id: the first ID_LENGTH hex digits of its content hash."""
    return digest[:ID_LENGTH]


def parse_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Article:
    """Read and parse one file. Raises ParseError naming the file on any bad input."""
    path = Path(path)
    shown = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ParseError(shown, "not a regular file")
        size = info.st_size
        if size > max_bytes:
            raise ParseError(shown, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(shown, exc.strerror or str(exc)) from None
    return parse_bytes(data, source_path=str(path.resolve()), shown_path=shown)


def parse_bytes(data: bytes, source_path: str, shown_path: str | None = None) -> Article:
    shown = shown_path or source_path
    if not data.strip():
        raise ParseError(shown, "file is empty")
    try:
        text, _encoding = decode_bytes(data)
    except UndecodableError as exc:
        raise ParseError(shown, str(exc)) from None
    if not text.strip():
        raise ParseError(shown, "file is empty")
    digest = content_hash(data)
    try:
        return _parse_text(text, digest, source_path)
    except (FrontMatterError, ValueError) as exc:
        raise ParseError(shown, str(exc)) from None
    except RecursionError:  # e.g. a YAML document nested thousands of levels deep
        raise ParseError(shown, "the file is nested too deeply to read") from None


def _parse_text(text: str, digest: str, source_path: str) -> Article:
    meta, body = split_front_matter(text)
    fallback_title = Path(source_path).stem
    if meta is not None:
        fields = _front_matter_fields(meta)
        blocks = _body_blocks(body)
    elif _HTML_PAGE.match(text):
        fields, blocks = _html_page(text)
    else:
        fields, blocks = {}, _body_blocks(text)
        if blocks:
            first = blocks[0]
            if first.heading or len(first.text) <= rules.HEADING_MAX_CHARS:
                fields["title"] = first.text
                blocks = blocks[1:]
    return _build_article(fields, blocks, digest, source_path, fallback_title)


def _front_matter_fields(meta: dict) -> dict:
    fields: dict = {}
    title = meta.get("title")
    if title is not None:
        if not isinstance(title, (str, int, float, date)):
            raise ValueError(f"field 'title': expected text, got {type(title).__name__}")
        fields["title"] = clean.normalize_text(str(title))
    for key in ("date", "published", "pubDate"):
        if meta.get(key) not in (None, ""):
            fields["published"] = parse_date(meta[key], key)
            break
    author = meta.get("author")
    if isinstance(author, dict):
        author = author.get("name")
    if author:
        fields["author"] = str(author).strip()
    fields["categories"] = _string_list(meta.get("categories"), "categories")
    fields["tags"] = _string_list(meta.get("tags"), "tags")
    for key in ("url", "link", "permalink", "source_url"):
        if isinstance(meta.get(key), str) and meta[key].strip():
            fields["url"] = meta[key].strip()
            break
    return fields


# Bounds on front-matter lists: YAML aliases can make a few bytes expand without end
# (a "billion laughs" document) or refer to themselves.
MAX_LIST_ITEMS = 1_000


def _string_list(value: object, field: str) -> tuple[str, ...]:
    """Hexo allows a list, a nested list (category hierarchies) or one string."""
    out: list[str] = []
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if item is None or item == "":
            continue
        if isinstance(item, (str, int, float)):
            text = clean.normalize_text(str(item))
            if text:
                out.append(text)
            if len(out) > MAX_LIST_ITEMS:
                raise ValueError(f"field '{field}': more than {MAX_LIST_ITEMS} entries")
        elif isinstance(item, list):
            if id(item) in seen:  # an alias to itself: never ends
                raise ValueError(f"field '{field}': the list refers to itself")
            seen.add(id(item))
            stack.extend(reversed(item))
        else:
            raise ValueError(f"field '{field}': expected a list of names, got {type(item).__name__}")
    return tuple(out)


def _body_blocks(body: str) -> list[clean.Block]:
    """Clean a front-matter body or a text file.

    An HTML body is cleaned as HTML: rendering it as markdown would break raw HTML that
    has blank lines inside (a <pre> with an empty line). Anything with markdown syntax
    is rendered as markdown with raw HTML passed through, as Hexo and Jekyll do.
    """
    if _HTML_BLOCK.search(body) and not _MARKDOWN_SYNTAX.search(body):
        return clean.html_to_blocks(body)
    one_per_line = len(_CJK_CHAR.findall(body)) > len(body) * 0.2
    renderer = _MARKDOWN_LINE_BREAKS if one_per_line else _MARKDOWN
    return clean.html_to_blocks(renderer.render(body))


def _html_page(text: str) -> tuple[dict, list[clean.Block]]:
    soup = clean.parse_html(text)
    fields: dict = {}

    def meta(*names: str) -> str | None:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            content = clean.attr_text(tag, "content").strip() if tag else ""
            if content:
                return content
        return None

    head_title = soup.head.find("title") if soup.head else None  # a <title> in the body is not the page's
    page_title = clean.normalize_text(head_title.get_text()) if head_title else ""
    published = meta("article:published_time", "pubdate", "publishdate", "date", "dc.date")
    if published:
        fields["published"] = parse_date(published, "article:published_time")
    author = meta("author", "article:author", "og:site_name")
    if author:
        fields["author"] = author
    keywords = meta("keywords", "news_keywords")
    if keywords:
        fields["tags"] = tuple(k.strip() for k in re.split(r"[,，;；]", keywords) if k.strip())
    canonical = soup.find("link", rel="canonical")
    url = meta("og:url") or (canonical.get("href") if canonical else None)
    if url:
        fields["url"] = url
    og_title = meta("og:title")
    # The head is read: drop the boilerplate now, so neither the <h1> (share buttons,
    # noscript text inside it) nor the choice of the main content (a comment list or a
    # sidebar with more <p> text than the article) sees it.
    clean.remove_boilerplate(soup)
    h1 = soup.find("h1")
    h1_text = clean.normalize_text(h1.get_text()) if h1 else ""
    title = og_title or h1_text or _strip_site_suffix(page_title)
    if title:
        fields["title"] = title
    main = _main_content(soup)
    if h1 is not None and main is not None and h1 in main.descendants:
        h1.decompose()
    return fields, clean.html_to_blocks(main if main is not None else soup)


def _strip_site_suffix(title: str) -> str:
    parts = re.split(r"\s*(?:_|\s[-|–—]\s|\|)\s*", title)
    return parts[0] if parts and parts[0] else title


def _main_content(soup):
    """The element holding the article text: <article> or <main>, else the element with
    the most text directly in its <p> children (a readability-style choice)."""
    for name in ("article", "main"):
        found = soup.find(name)
        if found is not None and len(found.get_text(strip=True)) > 50:
            return found
    best, best_score = None, 0
    for p in soup.find_all("p"):
        parent = p.parent
        score = sum(len(c.get_text(strip=True)) for c in parent.find_all("p", recursive=False))
        if score > best_score:
            best, best_score = parent, score
    return best if best is not None else soup.body


def _build_article(fields: dict, blocks: list[clean.Block], digest: str, source_path: str, fallback_title: str) -> Article:
    title = fields.get("title") or ""
    original_title = None
    reporter = None
    kept: list[clean.Block] = []
    for block in blocks:
        text = block.text
        match = rules.ORIGINAL_TITLE_PATTERN.match(text)
        if match and original_title is None:
            original_title = match.group("title")
            continue
        if any(p.search(text) for p in rules.JUNK_LINE_PATTERNS):
            continue
        byline = rules.BYLINE_PATTERN.match(text)
        if byline and not block.heading:
            reporter = reporter or text
            continue
        kept.append(block)
    if original_title and (not title or is_mangled_title(title, original_title)):
        title = original_title
    title = title or fallback_title

    items: list[tuple[str, str | None]] = []
    section: str | None = None
    for block in kept:
        if block.heading:
            if block.text != title:
                section = block.text
            continue
        items.extend((piece, section) for piece in split_long(block.text))
    id_ = article_id(digest)
    paragraphs = tuple(Paragraph(article_id=id_, index=i, text=text, section=sec) for i, (text, sec) in enumerate(merge_short(items)))
    if not paragraphs:
        raise ValueError("no article text found (every block was empty or boilerplate)")
    return Article(
        id=id_,
        title=title,
        source_path=source_path,
        content_hash=digest,
        paragraphs=paragraphs,
        published=fields.get("published"),
        author=fields.get("author"),
        reporter=reporter,
        categories=fields.get("categories", ()),
        tags=fields.get("tags", ()),
        url=fields.get("url"),
        original_title=original_title,
    )


def is_mangled_title(title: str, original: str) -> bool:
    """True when `title` is `original` with quotes or slashes replaced by placeholders
    (`北京：打造共建_一带一路_高标准…` for `北京：打造共建“一带一路”高标准…`)."""
    if title == original:
        return False
    pattern = "".join(_TITLE_PLACEHOLDERS.get(ch, re.escape(ch)) for ch in title)
    return re.fullmatch(pattern, original) is not None
