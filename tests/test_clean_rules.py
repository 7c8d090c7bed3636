"""One test per cleaning rule in corpus/rules.py, plus the cleaner's layout behaviour.

The example tables are keyed by the rule itself, and a completeness test fails when a
rule is added to rules.py without an example here.
"""

from __future__ import annotations

import pytest

from articlebot.corpus import rules
from articlebot.corpus.clean import html_to_blocks, normalize_text
from articlebot.corpus.parse import parse_bytes

GOOD = "<p>这是一段正常的新闻正文，应该被完整保留下来。</p>"
GOOD_TEXT = "这是一段正常的新闻正文，应该被完整保留下来。"


def texts(html: str) -> list[str]:
    return [b.text for b in html_to_blocks(html)]


def article_texts(body: str, title: str = "测试标题") -> list[str]:
    data = f"---\ntitle: '{title}'\ndate: 2022-01-01\n---\n<div>{body}</div>".encode()
    return [p.text for p in parse_bytes(data, source_path="/t/a.md").paragraphs]


# --- element rules -------------------------------------------------------------------

SELECTOR_EXAMPLES = {
    "div.app-kaihu-qr": '<div class="app-kaihu-qr"><span>8.xx%理财券抢购通道来了</span></div>',
    "div.appendQr_wrap": '<div class="clearfix appendQr_wrap"><div>海量资讯尽在某APP下载体验</div></div>',
    ".article-editor": '<p class="article-editor">编辑人员名字 SF014 工作代码</p>',
    "a[href*='wq.finance.sina.com.cn']": '<p>深化国际医学<a href="https://wq.finance.sina.com.cn/company/detail/274">（维权）</a>专业交流的有关工作。</p>',
    "p.end": '<p class="end"> - 结束标记文字 - 结束标记 -</p>',
    "p.zhuanzai": '<p class="zhuanzai">转发时请带上本站的名称谢谢</p>',
    "p.bqian": '<p class="bqian"><a href="/t/1">标签一号</a></p>',
    "p.url": '<p class="url"><span>编辑人员的名字在这里</span></p>',
    ".support-author": '<div class="support-author"><div>给作者打赏，鼓励TA抓紧创作！</div></div>',
    ".jiucuo": '<div class="jiucuo">发现文章有错误请点击这里反馈</div>',
    "[class*='share']": '<div class="bdsharebuttonbox">分享到微博分享到微信朋友圈</div>',
    "[id*='share']": '<div id="shareBar">分享到微博分享到微信朋友圈</div>',
    "[class*='qrcode']": '<div class="footer-qrcode">扫一扫关注我们的公众号吧</div>',
    "[class*='advert']": '<div class="advertisement">这是一条广告内容不要看它</div>',
    "[class*='related']": '<ul class="related-news"><li>另一篇文章的标题在这里</li></ul>',
    "[class*='recommend']": '<div class="recommend-list">猜你喜欢的内容推荐在这里</div>',
    "[class*='comment']": '<div class="comment-box">网友评论的内容在这里显示</div>',
    "[class*='copyright']": '<div class="copyright">本网站所有内容保留一切权利</div>',
    "[class*='breadcrumb']": '<div class="breadcrumb">首页 &gt; 新闻频道 &gt; 国内新闻</div>',
}


def test_every_selector_rule_has_an_example():
    assert set(SELECTOR_EXAMPLES) == set(rules.DROP_SELECTORS)


@pytest.mark.parametrize("selector", rules.DROP_SELECTORS)
def test_selector_rule_drops_its_block(selector):
    junk_html = SELECTOR_EXAMPLES[selector]
    junk_text = normalize_text(html_to_blocks_without_rules(junk_html))
    assert junk_text, "the example must carry visible text"
    out = texts(junk_html + GOOD)
    assert out[-1] == GOOD_TEXT
    for block in out:
        for word in (
            "理财券",
            "APP",
            "SF014",
            "维权",
            "结束",
            "转发",
            "标签",
            "编辑人员",
            "打赏",
            "反馈",
            "分享",
            "扫一扫",
            "广告",
            "另一篇",
            "猜你喜欢",
            "网友评论",
            "保留一切",
            "首页",
        ):
            assert word not in block or word in GOOD_TEXT


def html_to_blocks_without_rules(html: str) -> str:
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml").get_text()


def test_wq_link_removed_without_splitting_sentence():
    out = texts(SELECTOR_EXAMPLES["a[href*='wq.finance.sina.com.cn']"])
    assert out == ["深化国际医学专业交流的有关工作。"]


VOID_TAGS = ("input", "link", "meta", "embed")


@pytest.mark.parametrize("tag", rules.DROP_TAGS)
def test_drop_tags(tag):
    if tag == "head":
        html = f"<html><head><title>页面标题隐藏内容</title></head><body>{GOOD}</body></html>"
    elif tag in VOID_TAGS:  # no content of their own: check the element goes and the text stays
        html = f"<p>{GOOD_TEXT}<{tag} value='隐藏内容' content='隐藏内容'></p>"
    else:
        html = f"<{tag}>隐藏内容 hidden</{tag}>{GOOD}"
    assert texts(html) == [GOOD_TEXT]


def test_comments_dropped():
    assert texts(f"<!-- 开户二维码 start -->{GOOD}<!-- 正文下iframe -->") == [GOOD_TEXT]


@pytest.mark.parametrize("word", sorted(rules.BOILERPLATE_CLASS_WORDS))
def test_boilerplate_class_word_drops_block(word):
    assert texts(f'<div class="site-{word}-box">样板内容 boilerplate</div>{GOOD}') == [GOOD_TEXT]


def test_class_words_never_drop_inline_elements():
    # IT之家 wraps its own name at the start of the sentence in <a class="s_tag">
    html = '<p><a class="s_tag" href="https://www.ithome.com/">IT之家</a> 3 月 22 日消息，某公司发布了新产品。</p>'
    assert texts(html) == ["IT之家 3 月 22 日消息，某公司发布了新产品。"]


def test_class_word_must_be_whole_word():
    # "adjust" and "header-less" words must not count as "ad"/"header" by substring
    assert texts('<div class="adjustable">可以调整的正文内容也要保留。</div>') == ["可以调整的正文内容也要保留。"]


def test_link_list_dropped_but_single_link_kept():
    tags = '<p><a href="/a">#Chrome浏览器</a><a href="/b">#谷歌</a></p>'
    one_link = '<p>了解更多：<a href="https://example.com/post">https://example.com/post</a></p>'
    out = texts(tags + one_link + GOOD)
    assert out == ["了解更多：https://example.com/post", GOOD_TEXT]


def test_text_with_some_links_is_not_a_link_list():
    html = '<p>新版修复了<a href="/1">#101</a>和<a href="/2">#102</a>两个问题，并改进了启动速度和内存占用。</p>'
    assert texts(html) == ["新版修复了#101和#102两个问题，并改进了启动速度和内存占用。"]


# --- line rules -----------------------------------------------------------------------

JUNK_LINE_EXAMPLES = {
    0: ["责任编辑：王翔", "（责任编辑：刘万里 SF014）", "编辑：张三"],
    1: ["- THE END -", "--THE END--"],
    2: ["转载请注明出处：快科技", "未经授权，禁止转载", "免责声明：本文仅供参考"],
    3: ["本文由 @画图仔 原创发布于人人都是产品经理，未经作者许可，禁止转载。"],
    4: ["本文来自微信公众号“CSDN”（ID：CSDNnews），作者：马超，36氪经授权发布。", "本文转载自某某网"],
    5: ["题图来自Pexels，基于CC0协议。"],
    6: ["海量资讯、精准解读，尽在新浪财经APP"],
    7: ["点击下方二维码关注我们", "扫描二维码下载客户端"],
    8: ["返回搜狐，查看更多", "阅读原文", "相关阅读"],
    9: ["（完）", "(全文完)"],
    10: ["图片来源：视觉中国", "图：新华社"],
    11: ["#Chrome浏览器 #谷歌", "#01"],
    12: ["来源：武汉晚报", "来源：每日经济新闻"],
    13: ["作   者 | 董道力", "编   辑 | 郑晓慧、唐也钦", "设   计 | 戚桐珲"],
}


def test_every_line_rule_has_examples():
    assert sorted(JUNK_LINE_EXAMPLES) == list(range(len(rules.JUNK_LINE_PATTERNS)))


@pytest.mark.parametrize("index", range(len(rules.JUNK_LINE_PATTERNS)))
def test_junk_line_rule(index):
    pattern = rules.JUNK_LINE_PATTERNS[index]
    for line in JUNK_LINE_EXAMPLES[index]:
        assert pattern.search(line), line
        body = f"<p>{line}</p>" + GOOD
        assert article_texts(body) == [GOOD_TEXT], line


@pytest.mark.parametrize(
    "line",
    [
        "记者26日从交通运输部新闻发布会获悉，目前西藏共有邮政普遍服务网点754个。",
        "编辑导语：我们正在做原型图时，经常会涉及到统计图的信息，作者为大家详细介绍了方法。",
        "图片显示，该地区的降雨量在过去十年中明显增加，专家认为这与气候变化有关。",
        "来源于生活的灵感往往最能打动人心，这是他多年创作的体会。",
    ],
)
def test_line_rules_leave_real_sentences_alone(line):
    assert article_texts(f"<p>{line}</p>") == [line]


def test_original_title_line_becomes_title_and_is_removed():
    body = "<p>　　原标题：北京：打造共建“一带一路”高标准建设的试验示范</p>" + GOOD
    article = parse_bytes(f"---\ntitle: '北京：打造共建_一带一路_高标准建设的试验示范'\n---\n<div>{body}</div>".encode(), "/t/x.md")
    assert article.title == "北京：打造共建“一带一路”高标准建设的试验示范"
    assert [p.text for p in article.paragraphs] == [GOOD_TEXT]


def test_original_title_with_source_suffix():
    m = rules.ORIGINAL_TITLE_PATTERN.match("原标题：100%直接通邮！西藏实现全覆盖 来源：央视新闻客户端")
    assert m and m.group("title") == "100%直接通邮！西藏实现全覆盖"


@pytest.mark.parametrize(
    "line, reporter",
    [
        ("新京报记者 徐美慧", "新京报记者 徐美慧"),
        ("本报记者 张三 李四", "本报记者 张三 李四"),
        ("记者：王五", "记者：王五"),
        ("（总台记者 金珠）", "（总台记者 金珠）"),
        ("文/赵六", "文/赵六"),
    ],
)
def test_byline_becomes_reporter(line, reporter):
    data = f"---\ntitle: t\n---\n<div><p>{line}</p>{GOOD}</div>".encode()
    article = parse_bytes(data, "/t/b.md")
    assert article.reporter == reporter
    assert [p.text for p in article.paragraphs] == [GOOD_TEXT]


def test_sentence_mentioning_a_reporter_is_not_a_byline():
    line = "新华社北京3月22日电（记者孙少龙）民政部22日发布消息，民政部等22部门联合发布通知。"
    assert not rules.BYLINE_PATTERN.match(line)
    assert article_texts(f"<p>{line}</p>") == [line]


# --- layout: words, whitespace, headings, structure -------------------------------------


def test_inline_markup_never_splits_words():
    html = '<p>在国际创<span id="stock_sz300778"><a href="#" class="keyword">新城市</a></span><span id="quote_sz300778"></span>中名列前位。</p>'
    assert texts(html) == ["在国际创新城市中名列前位。"]


def test_space_kept_only_where_source_had_whitespace():
    html = "<p>Visual <b>Studio</b> Code<i>Server</i> 发布 <span>新版</span>本</p>"
    assert texts(html) == ["Visual Studio CodeServer 发布 新版本"]


def test_line_break_between_cjk_is_not_a_space():
    assert texts("<p>中文段落在源文件里\n被换行了，但读者看到的是连续的文字。</p>") == [
        "中文段落在源文件里被换行了，但读者看到的是连续的文字。"
    ]


def test_entities_indentation_and_whitespace_runs():
    html = "<p>　　价格&#123;上涨&#125; &amp; 下跌&nbsp;&nbsp;都有，\u200b涨幅   为 5%。 　</p>"
    assert texts(html) == ["价格{上涨} & 下跌 都有，涨幅 为 5%。"]


def test_empty_paragraphs_dropped():
    assert texts("<p> </p><p>　　</p><p>&nbsp;</p>" + GOOD + "<p><img src='x.png'></p>") == [GOOD_TEXT]


@pytest.mark.parametrize(
    "heading_html",
    [
        '<p>　　<font cms-style="font-L strong-Bold">立足首都功能</font></p>',
        "<p><strong>Bug 修复</strong></p>",
        "<p><b>关于 Adjust</b></p>",
        "<h2>一、使用场景</h2>",
        "<h3><strong>二、优点分析</strong></h3>",
        "<h4>三、设计原型</h4>",
        '<p><span style="font-weight: bold">加粗的小标题</span></p>',
    ],
)
def test_standalone_bold_or_heading_becomes_section(heading_html):
    data = f"---\ntitle: t\n---\n<div>{GOOD}{heading_html}{GOOD}</div>".encode()
    paragraphs = parse_bytes(data, "/t/h.md").paragraphs
    heading = normalize_text(html_to_blocks_without_rules(heading_html))
    assert [p.text for p in paragraphs] == [GOOD_TEXT, GOOD_TEXT]
    assert [p.section for p in paragraphs] == [None, heading]


def test_bold_sentence_inside_text_is_not_a_heading():
    blocks = html_to_blocks("<p><strong>这一设计使得Chrome 100会被识别为Chrome 10</strong>，而Duda会阻止它。</p>")
    assert [(b.text, b.heading) for b in blocks] == [("这一设计使得Chrome 100会被识别为Chrome 10，而Duda会阻止它。", False)]


def test_fully_bold_sentence_is_emphasis_not_heading():
    blocks = html_to_blocks("<p><strong>但服务器会允许邮件通过，即使地址不匹配。</strong></p>")
    assert blocks[0].heading is False


def test_heading_equal_to_title_is_dropped():
    data = f"---\ntitle: 22部门联合发文打击非法社会组织\n---\n<div><p><strong>22部门联合发文打击非法社会组织</strong></p>{GOOD}</div>"
    article = parse_bytes(data.encode(), "/t/t.md")
    assert [(p.text, p.section) for p in article.paragraphs] == [(GOOD_TEXT, None)]


def test_bare_text_outside_paragraphs_and_br_lines_kept():
    html = "我们中的大多数人不会过多地考虑发件人地址栏。<br>\n<p>而Gmail恰好有SMTP中转设施，使得这成为可能。</p>第一行文字内容较长一些<br>第二行文字内容也较长一些<br>"
    assert texts(html) == [
        "我们中的大多数人不会过多地考虑发件人地址栏。",
        "而Gmail恰好有SMTP中转设施，使得这成为可能。",
        "第一行文字内容较长一些",
        "第二行文字内容也较长一些",
    ]


def test_lists_tables_and_code_kept():
    html = (
        "<ul><li>第一项：修复了启动崩溃</li><li>第二项：改进了内存占用</li></ul>"
        "<table><tr><th>城市</th><th>人口</th></tr><tr><td>北京</td><td>2189万</td></tr></table>"
        "<pre><code>wget -O- https://example.com/setup.sh | sh\n  code-server --help</code></pre>"
    )
    assert texts(html) == [
        "第一项：修复了启动崩溃",
        "第二项：改进了内存占用",
        "城市 | 人口",
        "北京 | 2189万",
        "wget -O- https://example.com/setup.sh | sh\n  code-server --help",
    ]


def test_layout_table_cells_are_containers():
    html = "<table><tr><td>第一段正文放在表格里面。<br><br>第二段正文也放在同一个单元格里。</td></tr></table>"
    assert texts(html) == ["第一段正文放在表格里面。", "第二段正文也放在同一个单元格里。"]


def test_link_stats_of_every_element_match_a_direct_count():
    """The link-list rule's counts, taken in one pass from the leaves up, equal what
    each element's own subtree holds: <a> elements, collapsed text length, and the
    part of it inside those <a> elements."""
    from bs4 import BeautifulSoup, NavigableString

    from articlebot.corpus.clean import _SKIPPED_STRINGS, _link_stats, normalize_text

    html = (
        "<div id='a'><p>正文 <b>加粗</b> 文字<a href='1'>链接 一</a></p>"
        "<ul><li><a href='2'>栏目<span>二</span></a></li><li><a href='3'>栏目三</a> 说明</li></ul>"
        "<!-- 注释不算 --><div><div><p>深 处<a href='4'><em>强调</em></a></p></div></div></div>"
    )
    root = BeautifulSoup(html, "lxml").body
    stats = _link_stats(root)

    def direct(tag):
        strings = [s for s in tag.descendants if isinstance(s, NavigableString) and not isinstance(s, _SKIPPED_STRINGS)]

        def inside_a_link(s):  # inside an <a> that is inside tag (as tag.find_all("a") finds them)
            for parent in s.parents:
                if parent is tag:
                    return False
                if parent.name == "a":
                    return True
            return False

        in_link = [s for s in strings if inside_a_link(s)]
        return (len(tag.find_all("a")), sum(len(normalize_text(s)) for s in strings),
                sum(len(normalize_text(s)) for s in in_link))  # fmt: skip

    for tag in [root, *root.find_all(True)]:
        assert stats[id(tag)] == direct(tag), tag.name
