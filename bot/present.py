"""How a hit is shown: the pieces every front end shares (the Telegram bot's HTML in
replies.py, the terminal chat and the CLI's `search`).

A passage is a list of (tag, text) segments: the tag ("b" for a matched word) or None
for plain text. Each front end turns segments into its own markup: HTML for Telegram,
ANSI styles for a terminal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import click

from articlebot.retrieval.search import Hit

ELLIPSIS = "…"

Segment = tuple[str | None, str]  # (tag or None, plain text)


def cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rstrip() + ELLIPSIS


def normalize_spans(spans: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Spans clipped to the text, empty ones dropped, sorted and merged."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def window(text: str, spans: Sequence[tuple[int, int]], size: int) -> tuple[int, int]:
    """[start, end) of at most about `size` characters of text around the first highlight.

    The first highlight sits a quarter into the window, so the reader sees what leads up
    to it. A cut never splits a highlighted term: a start inside a term moves back to
    the term's start, an end inside one moves back before it.
    """
    if len(text) <= size:
        return 0, len(text)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - size // 4, len(text) - size))
    end = start + size
    for s, e in spans:
        if s < start < e:
            start = s
        if s < end < e:
            end = s
    return start, max(start, end)


def passage_segments(text: str, highlights: Sequence[tuple[int, int]], size: int | None = None) -> list[Segment]:
    """The passage (or a window of `size` characters of it) with highlighted terms in <b>,
    and "…" where it was cut."""
    spans = normalize_spans(highlights, len(text))
    start, end = (0, len(text)) if size is None else window(text, spans, size)
    segments: list[Segment] = [(None, ELLIPSIS)] if start > 0 else []
    last = start
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        segments += [(None, text[last:s]), ("b", text[s:e])]
        last = e
    segments.append((None, text[last:end]))
    if end < len(text):
        segments.append((None, ELLIPSIS))
    return [seg for seg in segments if seg[1]]


def hit_meta(hit: Hit) -> str:
    """Date and section, as every front end shows them under a title."""
    facts = [f"{hit.published:%Y-%m-%d}"] if hit.published else []
    if hit.section:
        facts.append(hit.section)
    return " · ".join(facts)


def terminal_hit(rank: int, hit: Hit) -> str:
    """One hit for a terminal: the numbered title in bold, section and date, the docid and
    score, then the whole paragraph with matched words in bold red."""
    body = "".join(click.style(text, bold=True, fg="red") if tag else text for tag, text in passage_segments(hit.text, hit.highlights))
    where = f" · {hit.section}" if hit.section else ""
    date = f" · {hit.published:%Y-%m-%d}" if hit.published else ""
    head = click.style(f"{rank}. {hit.title}", bold=True) + f"{where}{date}  [{hit.docid} score {hit.score:.2f}]"
    return head + "\n   " + body


def terminal_hits(hits: Sequence[Hit]) -> str:
    """Hits for a terminal, numbered from 1, a blank line between them."""
    return "\n\n".join(terminal_hit(rank, hit) for rank, hit in enumerate(hits, 1))


# --- the terminal ----------------------------------------------------------------------------

_ATOM = re.compile(r"\s+|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+|.", re.S)


def char_width(ch: str) -> int:
    """Columns a character takes in a terminal: 2 for wide (CJK) characters, 0 for marks."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def text_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def wrap(segments: Sequence[Segment], width: int, indent: int) -> list[list[Segment]]:
    """Segments in lines of at most `width` columns, every line after the first indented
    by `indent` spaces (a hanging indent). Latin words stay whole unless longer than a
    line; CJK text breaks between any two characters, as it is read."""
    room = max(width - indent, 10)
    lines: list[list[Segment]] = [[]]
    used = 0
    for tag, text in segments:
        for atom in _ATOM.findall(text):
            if atom.isspace():
                if used:  # spaces at a line start are dropped
                    atom = " "
                    if used + 1 <= room:
                        lines[-1].append((tag, atom))
                        used += 1
                continue
            size = text_width(atom)
            if used and used + size > room:
                lines.append([])
                used = 0
            while size > room:  # a word longer than a line: cut it
                cut, taken = 0, 0
                while cut < len(atom) and taken + char_width(atom[cut]) <= room - used:
                    taken += char_width(atom[cut])
                    cut += 1
                lines[-1].append((tag, atom[:cut]))
                lines.append([])
                atom, size, used = atom[cut:], text_width(atom[cut:]), 0
            lines[-1].append((tag, atom))
            used += size
    return [_rstrip(line) for line in lines]


def _rstrip(line: list[Segment]) -> list[Segment]:
    while line and not line[-1][1].strip():
        line = line[:-1]
    return line


def _styled(segments: Sequence[Segment]) -> str:
    styles: dict[str, dict[str, Any]] = {"b": {"bold": True, "fg": "red"}, "title": {"bold": True}}
    return "".join(click.style(text, **styles[tag]) if tag in styles else text for tag, text in segments)


def _block(segments: Sequence[Segment], prefix: str, width: int | None) -> list[str]:
    """Lines of one block: `prefix` on the first, a hanging indent of its width after."""
    indent = len(prefix)
    if width is None:  # not a terminal: one line, no wrapping (scripts read it)
        return [prefix + _styled(segments)]
    return [(prefix if i == 0 else " " * indent) + _styled(line) for i, line in enumerate(wrap(segments, width, indent))]


def _source_line(hit: Hit, verbose: bool) -> list[Segment]:
    facts = [f"{hit.published:%Y-%m-%d}"] if hit.published else []
    if hit.author:
        facts.append(hit.author)
    line: list[Segment] = [("title", hit.title)]
    if facts:
        line.append((None, " · " + " · ".join(facts)))
    if verbose:
        line.append((None, f"  [{hit.docid} score {hit.score:.2f}]"))
    return line


def snippet_segments(hit: Hit) -> list[Segment]:
    """The hit's snippet (its whole text when it has none) with matched words tagged "b"."""
    if hit.snippet:
        return passage_segments(hit.snippet, hit.snippet_highlights)
    return passage_segments(hit.text, hit.highlights)


def terminal_answer(hits: Sequence[Hit], first_rank: int = 1, width: int | None = None, verbose: bool = False) -> str:
    """Answers for a terminal. The best answer leads with its snippet, then its title, date
    and source; further answers are compact: the title, then the snippet. Ids and scores
    only when verbose. `width`: wrap to this many columns with hanging indents (None:
    do not wrap)."""
    blocks = []
    for rank, hit in enumerate(hits, first_rank):
        prefix = f"{rank}. "
        pad = " " * len(prefix)
        if rank == 1:  # the best answer of a question; later pages are compact
            lines = _block(snippet_segments(hit), prefix, width) + _block(_source_line(hit, verbose), pad, width)
        else:
            lines = _block(_source_line(hit, verbose), prefix, width) + _block(snippet_segments(hit), pad, width)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def full_paragraph(hit: Hit, rank: int, width: int | None = None, verbose: bool = False) -> str:
    """The whole paragraph of one answer, matched words marked, under its title line."""
    prefix = f"{rank}. "
    lines = _block(_source_line(hit, verbose), prefix, width)
    if hit.section:
        lines += _block([(None, hit.section)], " " * len(prefix), width)
    return "\n".join(lines + _block(passage_segments(hit.text, hit.highlights), " " * len(prefix), width))
