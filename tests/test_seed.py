"""Acceptance: the article articlebot was designed from is parsed and cleaned exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from paths import SEED

from articlebot.corpus.parse import parse_file

EXPECTED_SECTIONS = [
    "立足首都功能，打造“丝路会客厅”“空中丝绸之路”",
    "北京将继续支持共建“一带一路”联合实验室，深化国际科技园区共建共享",
    "开展“丝路电商”行动，多渠道支持企业共建共享海外仓",
    "携手共建“健康丝绸之路”，支持申报国家中医药海外中心",
]


@pytest.fixture(scope="module")
def seed():
    return parse_file(SEED)


def test_title_recovered_from_original_title_line(seed):
    assert seed.title == "北京：打造共建“一带一路”高标准建设的试验示范"


def test_metadata(seed):
    assert seed.published == datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)
    assert seed.published.isoformat() == "2021-12-06T10:56:51+00:00"
    assert seed.categories == ("金融", "新浪财经", "新浪财经－国內")
    assert seed.author == "新浪财经"
    assert seed.reporter == "新京报记者 徐美慧"


def test_sections_in_order(seed):
    sections = []
    for p in seed.paragraphs:
        if p.section and p.section not in sections:
            sections.append(p.section)
    assert sections == EXPECTED_SECTIONS
    # the first three paragraphs come before any sub-heading
    assert [p.section for p in seed.paragraphs[:3]] == [None, None, None]
    # sub-headings are sections, never answer paragraphs
    assert not any(p.text in EXPECTED_SECTIONS for p in seed.paragraphs)


@pytest.mark.parametrize("needle", ["国际创新城市", "7000多项", "2.87万亿元", "75个国家、223个会员", "中关村示范区", "金融街论坛"])
def test_key_facts_survive_cleaning(seed, needle):
    assert any(needle in p.text for p in seed.paragraphs)


@pytest.mark.parametrize(
    "junk", ["理财券", "新浪财经APP", "责任编辑", "原标题", "{", "}", "text-align", "&#", "新京报记者", "（维权）", "<", "\u3000"]
)
def test_no_junk_in_paragraphs(seed, junk):
    assert not any(junk in p.text for p in seed.paragraphs)


def test_paragraph_shape(seed):
    assert len(seed.paragraphs) == 31
    assert [p.index for p in seed.paragraphs] == list(range(31))
    for p in seed.paragraphs:
        assert p.article_id == seed.id
        assert p.text == p.text.strip() and not p.text.startswith("　")
        assert "  " not in p.text
    assert seed.paragraphs[0].text.startswith("12月6日，在第24届京港经济合作研讨洽谈会")
    assert seed.paragraphs[-1].text.endswith("加强国际反腐合作。")
