"""How a hit is shown: the pieces every front end shares (the Telegram bot's HTML in
replies.py, the terminal chat and the CLI's `search`).

A passage is a list of (tag, text) segments: the tag ("b" for a matched word) or None
for plain text. Each front end turns segments into its own markup: HTML for Telegram,
ANSI styles for a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

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
