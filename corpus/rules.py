"""Cleaning rules kept as data: adding a new site's junk is one line here.

Each list is read by corpus/clean.py. Every rule has a test in tests/test_clean_rules.py
that feeds a small HTML snippet through the cleaner and checks the rule's effect.

Prefer structural rules (tags, class words, link density, repeated footers) to one
selector per page: articles from sites we have never seen are cleaned with these too.
"""

import re

# Elements whose content a reader never sees as article text.
DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "iframe",
    "template",
    "svg",
    "canvas",
    "object",
    "embed",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "audio",
    "video",
    "nav",
    "aside",
    "footer",
    "header",
    "head",
    "link",
    "meta",
    "title",
    "noembed",
    "noframes",
)

# CSS selectors of boilerplate blocks seen on real pages (ads, QR promos, share bars,
# editor lines, tag lists, donation boxes, related-article lists).
DROP_SELECTORS = (
    "div.app-kaihu-qr",  # Sina Finance: "理财券" account-opening QR ad
    "div.appendQr_wrap",  # Sina Finance: "新浪财经APP" promo box
    ".article-editor",  # Sina Finance: 责任编辑 line
    "a[href*='wq.finance.sina.com.cn']",  # Sina Finance: "（维权）" complaint link inserted into text
    "p.end",  # 快科技: "- THE END -"
    "p.zhuanzai",  # 快科技: 转载请注明出处
    "p.bqian",  # 快科技: tag links
    "p.url",  # 快科技: 责任编辑 wrapper
    ".support-author",  # 人人都是产品经理: 打赏 box
    ".jiucuo",  # IT之家: 纠错 link
    "[class*='share']",
    "[id*='share']",
    "[class*='qrcode']",
    "[class*='advert']",
    "[class*='related']",
    "[class*='recommend']",
    "[class*='comment']",
    "[class*='copyright']",
    "[class*='breadcrumb']",
)

# Words that mark a block element (div, p, section, ul...) as boilerplate when they
# appear as a whole word in its class or id. Inline elements are never dropped by
# class: IT之家 wraps the outlet name at the start of a sentence in <a class="s_tag">.
BOILERPLATE_CLASS_WORDS = frozenset(
    {
        "ad",
        "ads",
        "banner",
        "sidebar",
        "footer",
        "header",
        "nav",
        "menu",
        "toolbar",
        "sponsor",
        "promo",
        "popup",
        "modal",
        "cookie",
        "subscribe",
        "newsletter",
        "tags",
    }
)
BLOCK_TAGS_DROPPABLE_BY_CLASS = ("div", "p", "section", "ul", "ol", "table", "header")

# A block whose text is mostly link text, with at least this many links, is a link list
# (tag clouds, "related articles", page navigation), not article text.
LINK_LIST_MIN_LINKS = 2
LINK_LIST_MIN_DENSITY = 0.8

# Whole lines (after whitespace normalisation) that are boilerplate wherever they appear.
JUNK_LINE_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"^[（(\[【]?\s*(责任编辑|责编|编辑|校对|审核|监制|值班编辑)\s*[：:].{0,40}$",
        r"^-+\s*THE END\s*-+$",
        r"^(转载请注明|未经授权|未经许可|版权所有|版权声明|免责声明).{0,80}$",
        r"^本文由\s*\S.{0,60}(原创发布|发布于).{0,60}(禁止转载|许可).{0,20}$",
        r"^本文(来自|转载自|来源[：:]).{0,120}$",
        r"^题图来自.{0,40}$",
        r"^(海量资讯、精准解读，尽在新浪财经APP|新浪财经APP)$",
        r"^(点击|扫描|长按).{0,20}(二维码|关注|下载).{0,40}$",
        r"^(返回搜狐，查看更多|查看更多|阅读原文|展开全文|相关阅读|相关推荐|热门推荐)$",
        r"^[（(](完|全文完)[)）]$",
        r"^(图片|图|图源|图片来源|视频来源)[：:].{0,40}$",
        r"^#\S+(\s*#\S+)*$",  # a bare run of hashtags
        r"^[（(]?来源\s*[：:]\s*\S.{0,30}$",  # 来源：武汉晚报 (the outlet a story was taken from)
        r"^(作|编|设|校|摄|美|统|制)\s*(者|辑|计|对|影|编|筹|图|作)\s*[|｜:：]\s*\S.{0,40}$",  # 作 者 | 董道力
    )
)

# The 原标题 ("original title") line of reposted Chinese news.
ORIGINAL_TITLE_PATTERN = re.compile(r"^[（(]?\s*原标题\s*[：:]\s*(?P<title>.+?)\s*[)）]?(?:\s+来源\s*[：:].{0,30})?$")

# A byline: the reporter (and optional photographer/correspondent) on a line of its own.
# 新京报记者 徐美慧 / 本报记者 张三 李四 / 记者：王五 / 文/赵六 / 通讯员 孙七
_NAME = r"[\u4e00-\u9fff·]{2,5}"
BYLINE_PATTERN = re.compile(
    r"^[（(]?\s*(?:[\u4e00-\u9fffA-Za-z]{0,10}?(?:记者|通讯员|实习生|特约撰稿人?)|文\s*[/／|｜]|作者)"
    rf"\s*[：:]?\s*(?P<names>{_NAME}(?:\s*[、，,\s　]\s*{_NAME})*)"
    r"(?:\s*(?:摄影|摄|报道|发自\S{0,8}))?\s*[)）]?$"
)

# A heading is short; a fully bold sentence that ends like a sentence is emphasis, not a heading.
HEADING_MAX_CHARS = 60
SENTENCE_END_CHARS = "。！？!?；;…"

# Tags that make their whole text a heading, and inline tags that make it bold.
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
BOLD_TAGS = ("strong", "b")
BOLD_STYLE_PATTERN = re.compile(r"(strong-bold|font-weight\s*:\s*(bold|[6-9]00))", re.I)
