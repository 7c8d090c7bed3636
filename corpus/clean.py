"""HTML -> clean text blocks.

The cleaner walks the DOM the way a browser lays it out: block elements and <br> end
a line, inline elements (links, spans, fonts) never split words and never add
spaces. It keeps every block a reader sees (paragraphs, list items, table rows,
code, bare text outside <p>) and drops what a reader does not see or skips
(scripts, styles, ads, share boxes, editor lines, link lists). The rules are data,
in corpus/rules.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import soupsieve
from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import CData, Declaration, Doctype, ProcessingInstruction

from articlebot.corpus import rules

# lxml and html.parser give identical paragraphs on the shared corpus and run at about
# the same speed there (bench/bench_ingest.py); lxml is kept because it recovers from
# broken markup (unclosed tags, stray </p>) the way browsers do and stays fast on large pages.
HTML_PARSER = "lxml"

BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "body",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "html",
        "li",
        "main",
        "menu",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "caption",
    }
)
_SKIPPED_STRINGS = (Comment, Doctype, Declaration, ProcessingInstruction, CData)

_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_NEWLINE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[ \t\r\f\v]*\n\s*(?=[{_CJK}])")
_WHITESPACE_RUN = re.compile(r"\s+")
# All selector rules in one compiled selector: one walk of the tree instead of one per rule.
_DROP_SELECTOR = soupsieve.compile(", ".join(rules.DROP_SELECTORS))
# Zero-width characters, and control characters (C0 except tab/newline, DEL, C1): no
# reader sees them, and terminal escape sequences must not reach `show` or `chat`.
_INVISIBLE = dict.fromkeys(
    [*map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), *range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)],
    None,
)


@dataclass(frozen=True)
class Block:
    """One line of visible text: a paragraph candidate or a heading."""

    text: str
    heading: bool = False


def normalize_text(raw: str) -> str:
    """Collapse whitespace the way a browser shows it, and strip indentation.

    A line break between two CJK characters is dropped (Chinese has no spaces between
    words, so a break in the source is not a space); other whitespace runs become one
    space. Non-breaking and full-width (　) spaces count as whitespace.
    """
    text = raw.translate(_INVISIBLE).replace("\u00a0", " ").replace("\u3000", " ")
    text = _NEWLINE_BETWEEN_CJK.sub("", text)
    return _WHITESPACE_RUN.sub(" ", text).strip()


def attr_text(tag: Tag, name: str) -> str:
    """An attribute's value as one string ("" when absent): bs4 gives multi-valued
    attributes (class) as lists of the space-separated values, joined again here."""
    value = tag.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _class_words(tag: Tag) -> set[str]:
    words: set[str] = set()
    for value in (attr_text(tag, "class"), attr_text(tag, "id")):
        words.update(w for w in re.split(r"[-_\s]+", value.lower()) if w)
    return words


def _is_link_list(stats: tuple[int, int, int]) -> bool:
    """A block of mostly links (a menu, a list of related articles), from its
    (links, text length, link text length)."""
    links, text_len, link_len = stats
    return links >= rules.LINK_LIST_MIN_LINKS and text_len > 0 and link_len / text_len >= rules.LINK_LIST_MIN_DENSITY


def remove_boilerplate(root: Tag) -> None:
    """Delete, in place, every element and comment a reader would not read as the article."""
    for node in root.find_all(string=lambda s: isinstance(s, _SKIPPED_STRINGS)):
        node.extract()
    for tag in root.find_all(rules.DROP_TAGS):
        tag.decompose()
    for tag in _DROP_SELECTOR.select(root):
        if not _gone(tag):
            tag.decompose()
    # Elements are visited in document order, an element before anything inside it, so
    # the statistics taken before the loop are still those of an element when it is
    # checked (only elements outside it have been removed by then).
    link_stats = _link_stats(root)
    for tag in root.find_all(rules.BLOCK_TAGS_DROPPABLE_BY_CLASS):
        if _gone(tag):
            continue
        if _class_words(tag) & rules.BOILERPLATE_CLASS_WORDS or (
            tag.name in ("p", "ul", "ol", "div") and _is_link_list(link_stats.get(id(tag), (0, 0, 0)))
        ):
            tag.decompose()


def _link_stats(root: Tag) -> dict[int, tuple[int, int, int]]:
    """(number of <a> inside, text length, length of the text inside links) of every
    element (by id), in one pass over the tree from the leaves up. Lengths are summed
    over the text nodes, each with its whitespace collapsed. Linear in the size of the
    page: checking each element's subtree instead is quadratic on deeply nested pages."""
    stats: dict[int, tuple[int, int, int]] = {}
    # frames: [tag, children left, links, text length, link text length]
    stack: list[list[Any]] = [[root, iter(root.children), 0, 0, 0]]
    while stack:
        frame = stack[-1]
        child = next(frame[1], None)
        if child is None:  # the element is done: fold its counts into its parent's
            stack.pop()
            tag, _, links, text_len, link_len = frame
            stats[id(tag)] = (links, text_len, link_len)
            if stack:
                parent = stack[-1]
                parent[2] += links + (tag.name == "a")
                parent[3] += text_len
                parent[4] += text_len if tag.name == "a" else link_len  # all of a link's text
        elif isinstance(child, Tag):
            stack.append([child, iter(child.children), 0, 0, 0])
        elif isinstance(child, NavigableString) and not isinstance(child, _SKIPPED_STRINGS):
            frame[3] += len(normalize_text(child))
    return stats


def _gone(tag: Tag) -> bool:
    # Not tag.decomposed: on a tag never decomposed, bs4 looks `_decomposed` up as a
    # child tag name, a scan of the whole subtree (quadratic on deeply nested pages).
    return tag.__dict__.get("_decomposed", False)


def _is_bold(tag: Tag) -> bool:
    if tag.name in rules.BOLD_TAGS:
        return True
    style = " ".join([attr_text(tag, "style"), attr_text(tag, "cms-style")])
    return bool(rules.BOLD_STYLE_PATTERN.search(style))


class _LineCollector:
    """Accumulates inline text pieces and turns them into Blocks at block boundaries."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._pieces: list[tuple[str, bool]] = []  # (raw text, is bold)
        self.heading_depth = 0

    def add(self, text: str, bold: bool) -> None:
        self._pieces.append((text, bold or self.heading_depth > 0))

    def add_block(self, text: str) -> None:
        """Add preformatted text (code) as one block, keeping its line breaks."""
        self.flush()
        lines = [line.rstrip() for line in text.translate(_INVISIBLE).split("\n")]
        text = "\n".join(lines).strip()
        if text.strip():
            self.blocks.append(Block(text))

    def flush(self, heading: bool = False) -> None:
        pieces, self._pieces = self._pieces, []
        text = normalize_text("".join(p for p, _ in pieces))
        if not text:
            return
        if not heading:
            bold_text = normalize_text("".join(p for p, bold in pieces if bold))
            heading = bold_text == text and _looks_like_heading(text)
        self.blocks.append(Block(text, heading=heading))


def _looks_like_heading(text: str) -> bool:
    return len(text) <= rules.HEADING_MAX_CHARS and text[-1] not in rules.SENTENCE_END_CHARS


def _is_data_row(row: Tag) -> bool:
    cells = row.find_all(["td", "th"], recursive=False)
    return len(cells) >= 2 and not any(cell.find(lambda t: t.name in BLOCK_TAGS or t.name == "br") for cell in cells)


def _walk(root: Tag, out: _LineCollector) -> None:
    """Visit the tree in document order with an explicit stack (no recursion, so a page
    with thousands of unclosed nested tags cannot overflow Python's stack)."""
    stack: list[tuple[str, object, bool]] = [("visit", c, False) for c in reversed(root.contents)]

    def push_children(tag: Tag, bold: bool) -> None:
        stack.extend(("visit", c, bold) for c in reversed(tag.contents))

    while stack:
        op, node, bold = stack.pop()
        if op == "end_block":
            out.flush()
            continue
        if op == "end_heading":
            out.heading_depth -= 1
            out.flush(heading=True)
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, _SKIPPED_STRINGS):
                out.add(str(node), bold)
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name == "br":
            out.flush()
        elif name == "pre":
            out.add_block(node.get_text())
        elif name == "tr" and _is_data_row(node):
            out.flush()
            cells = node.find_all(["td", "th"], recursive=False)
            out.add(" | ".join(normalize_text(c.get_text()) for c in cells), False)
            out.flush()
        elif name in rules.HEADING_TAGS:
            out.flush()
            out.heading_depth += 1
            stack.append(("end_heading", None, bold))
            push_children(node, bold)
        elif name in BLOCK_TAGS:
            out.flush()
            stack.append(("end_block", None, bold))
            push_children(node, bold)
        elif name != "img":
            push_children(node, bold or _is_bold(node))


def parse_html(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, HTML_PARSER)


def html_to_blocks(html: str | Tag) -> list[Block]:
    """Clean an HTML fragment or page (string or parsed tree) into visible text blocks."""
    root = parse_html(html) if isinstance(html, str) else html
    remove_boilerplate(root)
    out = _LineCollector()
    _walk(root, out)
    out.flush()
    return out.blocks
