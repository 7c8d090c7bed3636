"""The answering sentence first: the excerpt of a paragraph that best answers a question.

A paragraph is cut into sentences (at 。！？!?；; and line ends, an English full stop
followed by a space); a sentence longer than the snippet is cut into clauses (at ，,、：:),
and a clause still longer into pieces of the snippet's size. The snippet is the run of
consecutive pieces, at most `size` characters, that holds the most of the question: the
idf-weighted sum of the distinct query terms it contains. Among equally good runs the
earliest wins; a run shorter than half the size is then widened with the pieces that
follow it while it fits, since an answer usually follows the words of its question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SNIPPET_CHARS = 200

# A sentence ends after these (and any closing quotes or brackets that follow them).
_SENTENCE_END = re.compile(r"(?:[。！？!?；;…]+|\.(?=\s))[”’\"」』）)\]]*|\n+")
_CLAUSE_END = re.compile(r"[，,、：:]+")


@dataclass(frozen=True)
class Match:
    """One occurrence of a query term in the text: [start, end) and the term."""

    start: int
    end: int
    term: str


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """[start, end) cut after each match of pattern; empty or blank pieces dropped."""
    pieces, last = [], start
    for m in pattern.finditer(text, start, end):
        pieces.append((last, m.end()))
        last = m.end()
    pieces.append((last, end))
    return [(s, e) for s, e in (_strip(text, s, e) for s, e in pieces) if s < e]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def pieces(text: str, size: int = SNIPPET_CHARS) -> list[tuple[int, int]]:
    """The units a snippet is made of: sentences, or clauses or fixed pieces of the
    sentences longer than `size`."""
    units: list[tuple[int, int]] = []
    for s, e in _split(text, 0, len(text), _SENTENCE_END):
        if e - s <= size:
            units.append((s, e))
            continue
        for cs, ce in _split(text, s, e, _CLAUSE_END):
            units += [(p, min(p + size, ce)) for p in range(cs, ce, size)]
    return units


def best_window(text: str, matches: Sequence[Match], weights: Mapping[str, float], size: int = SNIPPET_CHARS) -> tuple[int, int]:
    """[start, end) of the snippet of `text` (at most `size` characters)."""
    if len(text) <= size:
        return _strip(text, 0, len(text))
    units = pieces(text, size)
    if not units:
        return 0, 0

    def worth(first: int, last: int) -> float:
        start, end = units[first][0], units[last][1]
        held = {m.term for m in matches if start <= m.start and m.end <= end}
        return sum(weights.get(term, 1.0) for term in held)

    # A run starts with a piece holding a question term (when one does): the answer first.
    starts = [i for i in range(len(units)) if worth(i, i) > 0] or list(range(len(units)))
    best, best_worth = (0, 0), -1.0
    for first in starts:
        last = first
        while last + 1 < len(units) and units[last + 1][1] - units[first][0] <= size:
            last += 1
        # the shortest run from `first` that holds what the longest one holds
        while last > first and worth(first, last - 1) == worth(first, last):
            last -= 1
        value = worth(first, last)
        if value > best_worth:
            best, best_worth = (first, last), value
    first, last = best
    # a short run gets what follows it (an answer usually follows its question's words)
    while last + 1 < len(units) and units[last][1] - units[first][0] < size // 2 and units[last + 1][1] - units[first][0] <= size:
        last += 1
    return units[first][0], units[last][1]


def shifted(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The spans inside [start, end), clipped to it, as offsets into text[start:end]."""
    return tuple((max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start)
