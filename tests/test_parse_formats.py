"""Tests of corpus.parse: any article file -> Article.

Every input is written inside the test (tmp_path). The groups below follow the parser's
contract: formats are detected from the content, encodings from the bytes, bad input
is always a ParseError naming the file, ids come from the raw bytes, and a mangled
front-matter title is replaced by the 原标题 line.
"""

from __future__ import annotations

import codecs
import hashlib
import random
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from paths import SEED

from articlebot.corpus.errors import ParseError
from articlebot.corpus.paragraphs import MAX_CHARS, MIN_CHARS
from articlebot.corpus.parse import DEFAULT_MAX_BYTES, is_mangled_title, parse_bytes, parse_file

UTC = UTC
CST = timezone(timedelta(hours=8))

# Sentences long enough (>= MIN_CHARS) never to be merged with a neighbour.
S1 = "北京市今天发布了新的发展规划，提出了多项重要任务和目标。"
S2 = "专家表示，这些措施将有力推动经济高质量发展，惠及广大市民。"
S3 = "据介绍，相关部门将在年底前完成全部试点工作并总结推广经验。"

MANGLED_TITLE = "北京：打造共建_一带一路_高标准建设的试验示范"
ORIGINAL_TITLE = "北京：打造共建“一带一路”高标准建设的试验示范"


# --------------------------------------------------------------------------- helpers


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def parse(tmp_path: Path, name: str, content: str | bytes, **kwargs):
    return parse_file(write(tmp_path, name, content), **kwargs)


def parse_error(path: Path, **kwargs) -> ParseError:
    """parse_file must raise ParseError (any other exception fails the test)."""
    with pytest.raises(ParseError) as info:
        parse_file(path, **kwargs)
    exc = info.value
    assert exc.path == str(path)
    assert path.name in str(exc)
    return exc


def texts(article) -> list[str]:
    return [p.text for p in article.paragraphs]


def all_text(article) -> str:
    return "\n".join(texts(article))


def hexo(body: str, *, leading: str = "", **fields: str) -> str:
    """A Hexo post: `fields` are raw YAML values, written in the given order."""
    lines = [f"{key}: {value}" for key, value in fields.items()]
    return leading + "---\n" + "\n".join(lines) + "\n---\n" + body


def html_page(*, head: str = "", title: str = "网页标题_新浪财经", body: str) -> str:
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>{head}</head>\n<body>\n{body}\n</body></html>'


HTML_BODY = f"<div>\n<p>　　{S1}</p>\n<p>　　{S2}</p>\n<p>　　{S3}</p>\n</div>\n"


# ------------------------------------------------------- front matter + HTML body


HEXO_FIELDS = dict(
    title="'北京发布推进高质量发展行动计划'",
    categories="\n - 金融\n - 新浪财经",
    tags="[一带一路, 北京]",
    author="新浪财经",
    date="Mon, 06 Dec 2021 10:56:51 GMT",
    url="https://finance.sina.com.cn/china/2021-12-06/doc-1.shtml",
)


@pytest.mark.parametrize("name", ["article.txt", "article", "article.html", "article.json"])
def test_front_matter_with_html_body_is_detected_whatever_the_extension(tmp_path, name):
    article = parse(tmp_path, name, hexo(HTML_BODY, leading="\n\n", **HEXO_FIELDS))
    assert article.title == "北京发布推进高质量发展行动计划"
    assert article.categories == ("金融", "新浪财经")
    assert article.tags == ("一带一路", "北京")
    assert article.author == "新浪财经"
    assert article.url == "https://finance.sina.com.cn/china/2021-12-06/doc-1.shtml"
    assert article.published == datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)
    assert texts(article) == [S1, S2, S3]


def test_front_matter_nested_categories_are_flattened(tmp_path):
    article = parse(
        tmp_path,
        "nested.txt",
        hexo(HTML_BODY, title="标题", categories="\n - - 金融\n   - 新浪财经\n - 国内", tags="单个标签"),
    )
    assert article.categories == ("金融", "新浪财经", "国内")
    assert article.tags == ("单个标签",)


def test_front_matter_author_mapping_and_link_field(tmp_path):
    article = parse(tmp_path, "a.txt", hexo(HTML_BODY, title="标题", author="\n  name: 张三", link="https://x.example/1"))
    assert article.author == "张三"
    assert article.url == "https://x.example/1"


def test_front_matter_with_crlf_line_endings(tmp_path):
    content = hexo(HTML_BODY, title="标题", date="2021-12-06").replace("\n", "\r\n")
    article = parse(tmp_path, "crlf.txt", content)
    assert article.title == "标题"
    assert article.published == datetime(2021, 12, 6, tzinfo=UTC)
    assert texts(article) == [S1, S2, S3]


def test_front_matter_mapping_where_a_list_belongs_is_a_parse_error(tmp_path):
    path = write(tmp_path, "cat.txt", hexo(HTML_BODY, title="标题", categories="\n  a: b"))
    assert "categories" in parse_error(path).reason


# --------------------------------------------------- front matter + markdown body

MARKDOWN_BODY = f"""
# 测试文章

开头一段：{S1}

## 小标题一

这里有**加粗文字**和[一个链接](https://example.com/x)以及图片![图说](https://img.example.com/a.png)在句子中间。{S2}

```
line one of code
  indented line two
line three
```

- 第一项内容
- 第二项内容比较长一些，有很多文字在这里面
- 第三项

## 小标题二

{S3}
"""


@pytest.fixture
def markdown_article(tmp_path):
    return parse(tmp_path, "post.md", hexo(MARKDOWN_BODY, title="测试文章", date="2021-12-06"))


def test_markdown_headings_become_sections_not_paragraphs(markdown_article):
    by_text = {p.text: p.section for p in markdown_article.paragraphs}
    assert by_text[f"开头一段：{S1}"] is None
    assert by_text[S3] == "小标题二"
    assert [p.section for p in markdown_article.paragraphs[1:4]] == ["小标题一"] * 3
    for p in markdown_article.paragraphs:
        assert p.text not in ("小标题一", "小标题二", "测试文章")
        assert "#" not in p.text


def test_markdown_inline_markup_is_stripped_to_text(markdown_article):
    text = all_text(markdown_article)
    assert f"这里有加粗文字和一个链接以及图片在句子中间。{S2}" in texts(markdown_article)
    for markup in ("**", "](", "![", "https://", "图说"):
        assert markup not in text


def test_markdown_fenced_code_is_one_paragraph_with_its_line_breaks(markdown_article):
    assert "line one of code\n  indented line two\nline three" in texts(markdown_article)
    assert "```" not in all_text(markdown_article)


def test_markdown_list_items_are_kept_without_markers(markdown_article):
    text = all_text(markdown_article)
    for item in ("第一项内容", "第二项内容比较长一些，有很多文字在这里面", "第三项"):
        assert item in text
    assert "- 第" not in text


def test_markdown_body_with_an_embedded_html_block_still_renders_markdown(tmp_path):
    body = f"<div align=center><img src='a.png'></div>\n\n## 小标题\n\n这里有**加粗**文字。{S1}\n"
    article = parse(tmp_path, "mixed.md", hexo(body, title="混合"))
    assert texts(article) == [f"这里有加粗文字。{S1}"]
    assert article.paragraphs[0].section == "小标题"


# ------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    "yaml_value, expected",
    [
        ("Mon, 06 Dec 2021 10:56:51 GMT", datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)),
        ("'2021-12-06T18:56:51+08:00'", datetime(2021, 12, 6, 18, 56, 51, tzinfo=CST)),
        ("2021-12-06T18:56:51+08:00", datetime(2021, 12, 6, 18, 56, 51, tzinfo=CST)),
        ("'2021-12-06T10:56:51Z'", datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)),
        ("'2021-12-06T10:56:51'", datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)),
        ("2021-12-06", datetime(2021, 12, 6, tzinfo=UTC)),
        ("2021-12-06 10:56:51", datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)),
        ("2021-12-06 18:56:51 +08:00", datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)),
        ("'2021年12月06日'", datetime(2021, 12, 6, tzinfo=UTC)),
    ],
)
def test_front_matter_dates_become_aware_datetimes(tmp_path, yaml_value, expected):
    article = parse(tmp_path, "d.txt", hexo(HTML_BODY, title="t", date=yaml_value))
    assert article.published.utcoffset() is not None
    assert article.published == expected  # the same instant


def test_iso_offset_is_kept_not_converted(tmp_path):
    article = parse(tmp_path, "d.txt", hexo(HTML_BODY, title="t", date="'2021-12-06T18:56:51+08:00'"))
    assert article.published.utcoffset() == timedelta(hours=8)
    assert article.published.isoformat() == "2021-12-06T18:56:51+08:00"


def test_published_and_pubdate_keys_are_read_too(tmp_path):
    article = parse(tmp_path, "p.txt", hexo(HTML_BODY, title="t", pubDate="2021-12-06"))
    assert article.published == datetime(2021, 12, 6, tzinfo=UTC)


@pytest.mark.parametrize("field, value", [("date", "明天上午"), ("date", "'2021-13-45'"), ("date", "[1, 2]"), ("published", "soon")])
def test_bad_date_is_a_parse_error_naming_the_field(tmp_path, field, value):
    path = write(tmp_path, "bad-date.txt", hexo(HTML_BODY, title="t", **{field: value}))
    assert f"'{field}'" in parse_error(path).reason


def test_no_date_gives_no_published(tmp_path):
    assert parse(tmp_path, "n.txt", hexo(HTML_BODY, title="t")).published is None


# ------------------------------------------------------------------ whole HTML page

PAGE_BODY = f"""
<header class="site-top"><div class="logo">新浪网首页 导航条</div></header>
<article>
  <nav><a href="/">首页</a> &gt; <a href="/n">新闻</a> &gt; <a href="/f">财经频道</a></nav>
  <h1>正文大标题</h1>
  <p>{S1}</p>
  <p>{S2}</p>
  <aside><p>热门文章侧栏推荐内容列表在此。</p></aside>
  <p>{S3}</p>
  <footer><p>新浪公司版权所有，关于我们联系我们。</p></footer>
</article>
<footer><p>网站底部的备案信息与联系方式。</p></footer>
"""
OG = '<meta property="og:title" content="OG标题">'
PUBLISHED = '<meta property="article:published_time" content="2021-12-06T18:56:51+08:00">'
CANONICAL = '<link rel="canonical" href="https://finance.sina.com.cn/a/1.shtml">'


def test_html_page_metadata_and_main_text(tmp_path):
    article = parse(tmp_path, "page.txt", html_page(head=OG + PUBLISHED + CANONICAL, body=PAGE_BODY))
    assert article.title == "OG标题"
    assert article.published == datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)
    assert article.published.utcoffset() is not None
    assert article.url == "https://finance.sina.com.cn/a/1.shtml"
    assert texts(article) == [S1, S2, S3]


def test_html_page_boilerplate_is_not_in_paragraphs(tmp_path):
    article = parse(tmp_path, "page.html", html_page(body=PAGE_BODY))
    text = all_text(article)
    for junk in ("新浪网首页", "首页", "财经频道", "热门文章", "版权所有", "备案信息", "正文大标题"):
        assert junk not in text


@pytest.mark.parametrize(
    "head, h1, title, expected",
    [
        (OG, "<h1>正文大标题</h1>", "网页标题_新浪财经", "OG标题"),
        ("", "<h1>正文大标题</h1>", "网页标题_新浪财经", "正文大标题"),
        ("", "", "网页标题_新浪财经", "网页标题"),
        ("", "", "网页标题 - 新浪财经", "网页标题"),
        ("", "", "网页标题 | 新浪财经", "网页标题"),
    ],
)
def test_html_page_title_fallbacks(tmp_path, head, h1, title, expected):
    body = f"<div class='content'>{h1}<p>{S1}</p><p>{S2}</p></div>"
    article = parse(tmp_path, "page", html_page(head=head, title=title, body=body))
    assert article.title == expected
    assert texts(article) == [S1, S2]


def test_html_page_saved_as_markdown_is_still_a_page(tmp_path):
    article = parse(tmp_path, "page.md", html_page(head=OG + PUBLISHED, body=PAGE_BODY))
    assert article.title == "OG标题"
    assert article.published is not None


def test_html_page_published_time_without_zone_is_utc(tmp_path):
    head = '<meta property="article:published_time" content="2021-12-06 10:56:51">'
    article = parse(tmp_path, "page.html", html_page(head=head, body=PAGE_BODY))
    assert article.published == datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)


def test_html_page_site_header_inside_the_content_wrapper_is_dropped(tmp_path):
    body = f"<div id='wrapper'><header>新浪首页 新闻 财经 科技 登录注册</header><h1>标题</h1><p>{S1}</p><p>{S2}</p></div>"
    article = parse(tmp_path, "page.html", html_page(body=body))
    assert texts(article) == [S1, S2]


def test_saved_html_page_with_leading_comment_is_a_page(tmp_path):
    page = "<!-- saved from url=(0040)https://finance.sina.com.cn/a/1.shtml -->\n"
    page += html_page(head=OG + PUBLISHED, body=PAGE_BODY)
    article = parse(tmp_path, "saved.html", page)
    assert article.title == "OG标题"
    assert article.published == datetime(2021, 12, 6, 10, 56, 51, tzinfo=UTC)


def test_deeply_nested_html_does_not_crash(tmp_path):
    body = "".join(f"<p><font color=red>{S1}" for _ in range(1000))
    path = write(tmp_path, "deep.html", html_page(body=body))
    try:
        article = parse_file(path)
    except ParseError:
        return  # acceptable: a clean error naming the file
    assert texts(article) == [S1] * 1000


# ------------------------------------------------------- plain text and markdown


def test_plain_chinese_text_is_one_paragraph_per_line_title_first_line(tmp_path):
    article = parse(tmp_path, "plain.html", f"这是标题\n{S1}\n{S2}\n{S3}\n")
    assert article.title == "这是标题"
    assert texts(article) == [S1, S2, S3]
    assert all(p.section is None for p in article.paragraphs)


def test_plain_text_with_crlf_and_blank_lines(tmp_path):
    article = parse(tmp_path, "plain.txt", f"\r\n这是标题\r\n\r\n{S1}\r\n\r\n{S2}\r\n")
    assert article.title == "这是标题"
    assert texts(article) == [S1, S2]


def test_markdown_without_front_matter_takes_first_heading_as_title(tmp_path):
    article = parse(tmp_path, "notes.txt", f"# 大标题\n\n{S1}\n\n## 一节\n\n{S2}\n")
    assert article.title == "大标题"
    assert [(p.text, p.section) for p in article.paragraphs] == [(S1, None), (S2, "一节")]


def test_long_first_line_is_not_a_title_file_stem_is_the_fallback(tmp_path):
    long_line = S1 * 5  # well over a heading's length
    article = parse(tmp_path, "20211206-beijing.txt", f"{long_line}\n{S2}\n")
    assert article.title == "20211206-beijing"
    assert texts(article)[0].startswith(S1)  # the long line stays text
    assert long_line.replace("\n", "") in all_text(article).replace("\n", "")
    assert texts(article)[-1] == S2


def test_title_is_never_empty_with_an_empty_front_matter_title(tmp_path):
    article = parse(tmp_path, "stem-name.txt", hexo(HTML_BODY, title="''"))
    assert article.title == "stem-name"


@pytest.mark.parametrize("indent", ["    ", "\t"])
def test_plain_text_paragraphs_indented_with_ascii_whitespace_stay_separate(tmp_path, indent):
    article = parse(tmp_path, "indented.txt", f"这是标题\n\n{indent}{S1}\n\n{indent}{S2}\n")
    assert article.title == "这是标题"
    assert texts(article) == [S1, S2]


# ---------------------------------------------------------------------- encodings

PLAIN = f"标题：北京发布“一带一路”行动计划\n{S1}\n{S2}\n{S3}\n"

ENCODERS = {
    "utf-8": lambda s: s.encode("utf-8"),
    "utf-8-bom": lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
    "gb18030": lambda s: s.encode("gb18030"),
    "gbk": lambda s: s.encode("gbk"),
    "utf-16-le-bom": lambda s: codecs.BOM_UTF16_LE + s.encode("utf-16-le"),
    "utf-16-be-bom": lambda s: codecs.BOM_UTF16_BE + s.encode("utf-16-be"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_encodings_give_the_same_text_as_utf8(tmp_path, encoding):
    expected = parse(tmp_path, "utf8.txt", PLAIN)
    article = parse(tmp_path, f"{encoding}.txt", ENCODERS[encoding](PLAIN))
    assert article.title == expected.title == "标题：北京发布“一带一路”行动计划"
    assert texts(article) == texts(expected) == [S1, S2, S3]


def test_gbk_front_matter_file(tmp_path):
    content = hexo(HTML_BODY, title="中文标题", categories="[金融, 国内]")
    article = parse(tmp_path, "gbk.txt", content.encode("gbk"))
    assert article.title == "中文标题"
    assert article.categories == ("金融", "国内")
    assert texts(article) == [S1, S2, S3]


def test_html_page_declaring_gbk_encoded_in_gbk(tmp_path):
    page = f'<html><head><meta charset="gbk"><title>网页标题_新浪财经</title></head><body><div><p>{S1}</p><p>{S2}</p></div></body></html>'
    article = parse(tmp_path, "gbk.html", page.encode("gbk"))
    assert article.title == "网页标题"
    assert texts(article) == [S1, S2]


def test_valid_utf8_page_with_a_wrong_single_byte_charset_declaration(tmp_path):
    # iso-8859-1 never fails to decode, so trying the declaration first gives mojibake
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        f"<title>网页标题_新浪财经</title></head><body><div><p>{S1}</p><p>{S2}</p></div></body></html>"
    )
    article = parse(tmp_path, "latin.html", page.encode("utf-8"))
    assert article.title == "网页标题"
    assert texts(article) == [S1, S2]


BINARY_INPUTS = {
    "random-with-nul": random.Random(20211206).randbytes(4096) + b"\x00",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8,
    "png-header-high-bytes": b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)) * 8,
    "invalid-utf8-and-gb18030": b"\x80\xff" * 64,
    "utf16-bom-odd-length": codecs.BOM_UTF16_LE + "中文".encode("utf-16-le") + b"\x41",
    "control-characters": b"\x01\x02\x03\x04\x05\x06\x07\x08" * 64,
}


@pytest.mark.parametrize("kind", sorted(BINARY_INPUTS))
def test_binary_or_undecodable_input_is_a_parse_error_naming_the_path(tmp_path, kind):
    path = write(tmp_path, f"{kind}.txt", BINARY_INPUTS[kind])
    exc = parse_error(path)
    assert exc.reason


# --------------------------------------------------------------------- bad input


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  \n"], ids=["empty", "whitespace"])
def test_empty_or_whitespace_file_is_reported_empty(tmp_path, content):
    assert_reported_empty(parse_error(write(tmp_path, "blank.txt", content)))


def assert_reported_empty(exc: ParseError) -> None:
    # "no article text found (every block was empty...)" is a different diagnosis
    assert "empty" in exc.reason
    assert "no article text" not in exc.reason


def test_bom_only_file_is_reported_empty(tmp_path):
    assert_reported_empty(parse_error(write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b" \r\n")))


@pytest.mark.parametrize(
    "content",
    [
        "---\ntitle: [unclosed\n---\n<p>正文内容在这里出现。</p>\n",
        "---\n- a\n- b\n---\n<p>正文内容在这里出现。</p>\n",
        "---\ntitle: 标题\ndate: 2021-12-06\n\n<p>正文内容在这里出现。</p>\n",
    ],
    ids=["invalid-yaml", "list-not-mapping", "never-closed"],
)
def test_broken_front_matter_is_a_parse_error(tmp_path, content):
    assert "front matter" in parse_error(write(tmp_path, "broken.md", content)).reason


@pytest.mark.parametrize("body", ["", "\n\n   \n", "<div><img src='a.png'></div>\n"])
def test_front_matter_without_body_is_no_article_text(tmp_path, body):
    path = write(tmp_path, "nobody.txt", hexo(body, title="只有标题"))
    assert "no article text" in parse_error(path).reason


def test_html_page_with_only_script_style_and_image_is_a_parse_error(tmp_path):
    page = html_page(
        head=f'<script>var t = "{S1}";</script><style>p {{ color: red }}</style>',
        body=f'<img src="a.png" alt="{S2}"><script>document.write("{S3}")</script>',
    )
    assert "no article text" in parse_error(write(tmp_path, "empty.html", page)).reason


def test_file_over_the_default_limit_is_a_parse_error(tmp_path):
    path = write(tmp_path, "huge.txt", b"a" * (20 * 1024 * 1024))
    reason = parse_error(path).reason
    assert "MB" in reason and "limit" in reason
    assert f"{DEFAULT_MAX_BYTES / 1e6:.1f} MB" in reason


def test_max_bytes_is_an_inclusive_limit(tmp_path):
    data = f"标题\n{S1}\n".encode()
    path = write(tmp_path, "small.txt", data)
    assert texts(parse_file(path, max_bytes=len(data))) == [S1]
    assert "limit" in parse_error(path, max_bytes=len(data) - 1).reason


def test_20mb_plain_text_with_raised_limit_is_split_into_bounded_paragraphs(tmp_path):
    line = (S1 + S2 + S3) * 20 + "\n"  # about 1,100 characters per line
    repeats = 20 * 1024 * 1024 // len(line.encode()) + 1
    data = ("大文件标题\n" + line * repeats).encode()
    path = write(tmp_path, "big.txt", data)
    article = parse_file(path, max_bytes=len(data))
    assert article.title == "大文件标题"
    assert len(article.paragraphs) >= 2 * repeats  # every long line was split
    assert max(len(p.text) for p in article.paragraphs) <= MAX_CHARS + MIN_CHARS
    assert min(len(p.text) for p in article.paragraphs) > 0


@pytest.mark.parametrize("make", [lambda d: d / "missing.txt", lambda d: d], ids=["missing", "directory"])
def test_unreadable_path_is_a_parse_error(tmp_path, make):
    sub = tmp_path / "dir"
    sub.mkdir()
    path = make(sub)
    exc = parse_error(path)
    assert exc.reason


# --------------------------------------------------------------------------- ids


def test_same_bytes_give_the_same_id_wherever_the_file_is(tmp_path):
    first = tmp_path / "a" / "000.txt"
    second = tmp_path / "b" / "renamed"
    for target in (first, second):
        target.parent.mkdir()
        shutil.copyfile(SEED, target)
    a, b = parse_file(first), parse_file(second)
    assert a.id == b.id
    assert a.content_hash == b.content_hash == hashlib.sha256(SEED.read_bytes()).hexdigest()
    assert a.source_path != b.source_path


def test_content_hash_is_of_raw_bytes_not_decoded_text(tmp_path):
    plain = parse(tmp_path, "plain.txt", PLAIN)
    with_bom = parse(tmp_path, "bom.txt", ENCODERS["utf-8-bom"](PLAIN))
    assert texts(plain) == texts(with_bom)
    assert plain.content_hash == hashlib.sha256(PLAIN.encode()).hexdigest()
    assert plain.content_hash != with_bom.content_hash
    assert plain.id != with_bom.id


def test_different_bytes_give_different_ids(tmp_path):
    one = parse(tmp_path, "one.txt", PLAIN)
    two = parse(tmp_path, "two.txt", PLAIN + "\n")
    assert one.id != two.id
    assert one.content_hash != two.content_hash


def test_parse_bytes_matches_parse_file(tmp_path):
    data = hexo(HTML_BODY, **HEXO_FIELDS).encode()
    from_file = parse(tmp_path, "x.txt", data)
    from_bytes = parse_bytes(data, source_path=str(tmp_path / "elsewhere.txt"))
    assert from_bytes.id == from_file.id
    assert texts(from_bytes) == texts(from_file)


def test_paragraphs_carry_the_article_id_and_consecutive_indexes(tmp_path):
    article = parse(tmp_path, "post.md", hexo(MARKDOWN_BODY, title="测试文章"))
    assert len(article.paragraphs) >= 5
    assert [p.index for p in article.paragraphs] == list(range(len(article.paragraphs)))
    assert {p.article_id for p in article.paragraphs} == {article.id}


# ------------------------------------------------------------ mangled titles


@pytest.mark.parametrize(
    "title, original, expected",
    [
        (MANGLED_TITLE, ORIGINAL_TITLE, True),
        ('外交部："不接受"单方面制裁', "外交部：“不接受”单方面制裁", True),
        ('外交部："不接受"单方面制裁', "外交部：「不接受」单方面制裁", True),
        ("上海_苏州两地联合发布通告", "上海/苏州两地联合发布通告", True),
        ("北京发布推进一带一路高质量发展行动计划", ORIGINAL_TITLE, False),
        (ORIGINAL_TITLE, ORIGINAL_TITLE, False),
        ("上海_苏州", "上海和苏州的", False),
        ("A.B", "AxB", False),  # '.' in a title is a literal, not a wildcard
    ],
)
def test_is_mangled_title(title, original, expected):
    assert is_mangled_title(title, original) is expected


def original_title_post(title: str) -> str:
    body = f"<div><p>　　原标题：{ORIGINAL_TITLE}</p><p>　　{S1}</p><p>　　{S2}</p></div>"
    return hexo(body, title=f"'{title}'")


def test_mangled_front_matter_title_is_replaced_by_the_original_title(tmp_path):
    article = parse(tmp_path, "m.txt", original_title_post(MANGLED_TITLE))
    assert article.title == ORIGINAL_TITLE
    assert article.original_title == ORIGINAL_TITLE
    assert texts(article) == [S1, S2]


def test_different_front_matter_title_is_kept_and_original_title_line_removed(tmp_path):
    article = parse(tmp_path, "d.txt", original_title_post("北京发布推进一带一路高质量发展行动计划"))
    assert article.title == "北京发布推进一带一路高质量发展行动计划"
    assert article.original_title == ORIGINAL_TITLE
    assert texts(article) == [S1, S2]
    assert "原标题" not in all_text(article)
