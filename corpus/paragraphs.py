"""Clean text blocks -> answer-sized paragraphs.

Limits (documented in README): a paragraph longer than MAX_CHARS is split at sentence
ends (。！？；!?;) into pieces of at most MAX_CHARS where the sentences allow; one
sentence longer than that is cut at a comma or space, else hard at MAX_CHARS. A
fragment shorter than MIN_CHARS (a caption, a contact line, "（完）") is merged
into the next paragraph of the same section, or the previous one when it is last.
"""

from __future__ import annotations

import re

MAX_CHARS = 500
MIN_CHARS = 10

# A sentence ends after one of these, plus any closing quotes or brackets.
_SENTENCE = re.compile(r".*?(?:[。！？；!?;]+[”’」』）)\"']*|$)", re.S)
_SOFT_BREAK = re.compile(r"[，,、：:\s]")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s]


def split_long(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split text longer than limit at sentence ends, packing sentences greedily."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        for part in _cut_overlong(sentence, limit):
            if current and len(current) + len(part) > limit:
                pieces.append(current.strip())
                current = ""
            current += part
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]


def _cut_overlong(sentence: str, limit: int) -> list[str]:
    parts = []
    while len(sentence) > limit:
        window = sentence[:limit]
        breaks = [m.end() for m in _SOFT_BREAK.finditer(window)]
        cut = breaks[-1] if breaks and breaks[-1] > limit // 2 else limit
        parts.append(sentence[:cut])
        sentence = sentence[cut:]
    parts.append(sentence)
    return parts


def merge_short(items: list[tuple[str, str | None]], minimum: int = MIN_CHARS) -> list[tuple[str, str | None]]:
    """Merge (text, section) fragments shorter than minimum into a neighbour in their section.

    Merged texts are joined with a line break, which keeps a caption or a contact line
    readable on its own line. A section whose only text is short keeps it as is.
    """
    merged: list[tuple[str, str | None]] = []
    pending: list[str] = []  # short fragments waiting for the next paragraph of the section
    pending_section: str | None = None

    def flush_pending_into_previous() -> None:
        nonlocal pending
        if not pending:
            return
        joined = "\n".join(pending)
        if merged and merged[-1][1] == pending_section and len(merged[-1][0]) + len(joined) < MAX_CHARS:
            text, section = merged[-1]
            merged[-1] = ("\n".join([text, joined]), section)
        else:
            merged.append((joined, pending_section))
        pending = []

    for text, section in items:
        if pending and section != pending_section:
            flush_pending_into_previous()
        if len(text) < minimum:
            pending.append(text)
            pending_section = section
            # A run of short lines (a list of names, a table column) long enough to stand
            # alone becomes its own paragraph rather than growing without bound.
            if len("\n".join(pending)) >= max(minimum, MAX_CHARS // 2) or (
                len("\n".join(pending)) >= minimum and not (merged and merged[-1][1] == section)
            ):
                merged.append(("\n".join(pending), section))
                pending = []
            continue
        if pending:
            text = "\n".join([*pending, text])
            pending = []
        merged.append((text, section))
    flush_pending_into_previous()
    return merged
