"""Paragraph limits: long blocks split at sentence ends, short fragments merged."""

from __future__ import annotations

from articlebot.corpus.paragraphs import MAX_CHARS, MIN_CHARS, merge_short, split_long, split_sentences


def test_split_sentences_keeps_closing_quotes():
    text = "他说：“我们会继续努力。”然后离开了！真的吗？是的;好"
    assert split_sentences(text) == ["他说：“我们会继续努力。”", "然后离开了！", "真的吗？", "是的;", "好"]
    assert "".join(split_sentences(text)) == text


def test_short_text_is_not_split():
    text = "短句。" * 10
    assert split_long(text) == [text]


def test_long_text_split_at_sentence_ends_within_limit():
    sentence = "北京将继续全面实施创新驱动发展战略，完善多层次创新合作体系。"  # 30 chars
    text = sentence * 40  # 1200 chars
    pieces = split_long(text)
    assert len(pieces) == 3
    assert all(len(p) <= MAX_CHARS for p in pieces)
    assert all(p.endswith("。") for p in pieces)
    assert "".join(pieces) == text


def test_overlong_sentence_cut_at_comma_then_hard():
    with_commas = ("一二三四五六七八九十" * 4 + "，") * 20  # 820 chars, no sentence end
    pieces = split_long(with_commas)
    assert all(len(p) <= MAX_CHARS for p in pieces)
    assert pieces[0].endswith("，")
    assert "".join(pieces) == with_commas
    no_breaks = "字" * 1200
    assert [len(p) for p in split_long(no_breaks)] == [500, 500, 200]


def test_short_fragment_merged_into_next_in_same_section():
    items = [("原图", None), ("比如上图中的狗狗就是后加上去的。", None)]
    assert merge_short(items) == [("原图\n比如上图中的狗狗就是后加上去的。", None)]


def test_trailing_short_fragment_merged_into_previous():
    items = [("此外通知还要求有关部门要探索建立机制。", "s"), ("（完）", "s")]
    assert merge_short(items) == [("此外通知还要求有关部门要探索建立机制。\n（完）", "s")]


def test_fragments_do_not_cross_sections():
    items = [("第一节的正文内容足够长了。", "一"), ("短句", "二"), ("第三节的正文内容足够长了。", "三")]
    assert merge_short(items) == [("第一节的正文内容足够长了。", "一"), ("短句", "二"), ("第三节的正文内容足够长了。", "三")]


def test_run_of_short_fragments_becomes_one_paragraph():
    items = [("媒体联络", "关于"), ("崔诗悦", "关于"), ("市场经理", "关于")]
    merged = merge_short(items)
    assert merged == [("媒体联络\n崔诗悦\n市场经理", "关于")]
    assert all(len(t) >= MIN_CHARS for t, _ in merged)


def test_lone_short_article_kept():
    assert merge_short([("很短", None)]) == [("很短", None)]


def test_long_paragraphs_untouched():
    items = [("这是足够长的第一段文字内容。", None), ("这是足够长的第二段文字内容。", None)]
    assert merge_short(items) == items
