"""Snippets: the excerpt of a paragraph that best answers the question (retrieval/snippet.py)."""

from __future__ import annotations

import re

from articlebot.retrieval.snippet import SNIPPET_CHARS, Match, best_window, pieces, shifted


def matches_of(text: str, *terms: str) -> list[Match]:
    return [Match(m.start(), m.end(), term) for term in terms for m in re.finditer(re.escape(term), text)]


FILLER = "今年以来，各地推进各项工作，取得了积极进展，群众满意度持续提升。"  # 31 characters, no query term


def test_a_short_paragraph_is_its_own_snippet():
    text = "  世界旅游城市联合会已有223个会员。 "
    assert best_window(text, matches_of(text, "会员"), {}) == (2, len(text) - 1)


def test_the_window_holds_the_matched_sentence_and_ends_at_sentence_ends():
    answer = "世界旅游城市联合会目前共有223个会员，覆盖全球多个城市。"
    text = FILLER * 4 + answer + FILLER * 4
    start, end = best_window(text, matches_of(text, "旅游", "联合会", "会员"), {})
    snippet = text[start:end]
    assert answer in snippet and len(snippet) <= SNIPPET_CHARS
    assert snippet.endswith("。")  # a whole sentence, not cut mid-way
    assert start == 0 or text[start - 1] == "。"


def test_rarer_terms_weigh_more():
    common = "北京的工作会议今天召开。"
    rare = "冬奥会的场馆已经全部完工。"
    text = common + FILLER * 6 + rare + FILLER * 6
    start, end = best_window(text, matches_of(text, "北京", "冬奥会"), {"北京": 0.1, "冬奥会": 5.0})
    assert rare in text[start:end]


def test_a_1000_character_sentence_gives_a_window_of_at_most_the_size():
    sentence = "，".join(f"第{i}项措施落实到位" for i in range(100)) + "，其中关键指标增长了百分之十二"
    assert len(sentence) > 1000
    text = sentence + "。"
    start, end = best_window(text, matches_of(text, "关键指标"), {})
    assert end - start <= SNIPPET_CHARS
    assert "关键指标增长了百分之十二" in text[start:end]


def test_english_sentences_split_at_full_stops():
    text = (
        "Shadowserver scanned the internet for exposed databases last week. "
        "It found 3.6 million MySQL servers exposed on port 3306. "
        "Most of them were in the United States and China. "
    ) * 3
    units = pieces(text)
    assert all(text[s:e].endswith(".") for s, e in units)
    assert "3.6 million" in text[units[1][0] : units[1][1]]  # a decimal point is not a sentence end
    start, end = best_window(text, matches_of(text, "mysql", "servers") + matches_of(text, "MySQL"), {})
    assert "3.6 million MySQL servers" in text[start:end] and end - start <= SNIPPET_CHARS


def test_highlights_are_shifted_into_the_snippet():
    assert shifted([(2, 4), (10, 14), (30, 32)], 8, 20) == ((2, 6),)
    assert shifted([(5, 12)], 8, 20) == ((0, 4),)
