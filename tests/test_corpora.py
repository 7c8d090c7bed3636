"""The real articles in ../shared/corpora: every file parses, no junk leaks into paragraphs.

Skips cleanly when the archive is absent.
"""

from __future__ import annotations

import re

import pytest

from articlebot.corpus.paragraphs import MAX_CHARS
from articlebot.corpus.parse import parse_file

# Strings that are boilerplate wherever they appear in this archive's sources.
JUNK = [
    "理财券",
    "新浪财经APP",
    "责任编辑",
    "原标题",
    "THE END",
    "转载请注明",
    "打赏",
    "赞赏",
    "禁止转载",
    "题图来自",
    "本文来自微信公众号",
    "&#",
    "<p",
    "<div",
    "<img",
    # style sheets (code blocks may hold braces, so look for CSS properties instead)
    "text-align",
    "font-size",
    "line-height",
    "padding:",
    "margin:",
    "\u3000",
]


@pytest.fixture(scope="module")
def articles(shared_corpus_dir):
    files = sorted(shared_corpus_dir.glob("*.md"))
    assert len(files) == 52
    return {f.name: parse_file(f) for f in files}


def test_every_article_has_title_date_and_text(articles):
    for name, article in articles.items():
        assert article.title, name
        assert article.published is not None and article.published.tzinfo is not None, name
        assert article.paragraphs, name
        assert len(article.categories) >= 2, name


def test_no_junk_in_any_paragraph(articles):
    leaks = [(name, junk, p.text[:60]) for name, article in articles.items() for p in article.paragraphs for junk in JUNK if junk in p.text]
    assert leaks == []


def test_paragraph_limits_hold(articles):
    for name, article in articles.items():
        for p in article.paragraphs:
            assert len(p.text) <= MAX_CHARS + 60, (name, p.index)
            assert p.text == p.text.strip()
            if "\n" not in p.text:  # code blocks keep their indentation
                assert not re.search(r"[ \t]{2,}", p.text), (name, p.text)


def test_original_titles_repair_mangled_titles(articles):
    # the Sina 原标题 line restores the quotes the feed script replaced by "_"
    assert articles["0032.md"].title == "100个“无废城市”要来了，固废处理产业迎来发展“黄金期”"
    assert articles["0005.md"].original_title == "100%直接通邮！西藏实现乡镇及以上城市邮政网点全覆盖"


def test_structure_kept(articles):
    metabase = articles["0003.md"]  # an OSChina release note: a bold heading and a bug list
    bug_items = [p for p in metabase.paragraphs if p.section == "Bug 修复"]
    assert len(bug_items) >= 15
    adjust = articles["0026.md"]  # GameRes: text laid out with <br> inside one table cell
    assert {"1.指纹识别 (fingerprinting)", "关于 Adjust"} <= {p.section for p in adjust.paragraphs}
    finviz = articles["0039.md"]  # English stub whose only text repeats the title
    assert finviz.title.startswith("Apple Ordered To Pay $308.5 Million")
    assert finviz.paragraphs


def test_sample_ids_are_stable(articles):
    again = parse_file(next(iter(sorted(articles))) and articles["seed.md"].source_path)
    assert again.id == articles["seed.md"].id
