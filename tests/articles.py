"""Generated Hexo-style news articles, for the tests that run `articlebot add` on many files.

Each article is what RSSHub mirrors write: YAML front matter, then <p> paragraphs in a
<div>, made of seeded random Chinese news sentences. Its label is in its title and its
first paragraph, so every article has distinct content (and a distinct id).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

SUBJECTS = [
    "北京市",
    "上海市",
    "深圳市",
    "杭州市",
    "成都市",
    "国家统计局",
    "央行",
    "工信部",
    "科技公司",
    "新能源车企",
    "研究团队",
    "地方政府",
    "监管部门",
    "互联网平台",
    "半导体厂商",
    "航天科技集团",
    "农业农村部",
    "教育部",
]
VERBS = ["发布了", "宣布", "推出", "启动", "完成", "公布了", "调整了", "加快推进", "印发", "签署了"]
OBJECTS = [
    "数字经济发展规划",
    "新一代人工智能芯片",
    "城市更新行动方案",
    "跨境电商试点政策",
    "碳达峰实施方案",
    "智能网联汽车测试",
    "5G基站建设计划",
    "普惠金融服务措施",
    "乡村振兴重点项目",
    "量子通信实验网络",
    "医疗保障改革方案",
    "高校招生计划",
    "养老服务体系建设",
    "海洋生态保护规划",
    "文化旅游消费活动",
]
DETAILS = [
    "预计投资规模超过{n}亿元",
    "覆盖{n}个城市和地区",
    "同比增长{n}个百分点",
    "首批{n}家企业参与",
    "将在{n}个月内全面落地",
    "惠及约{n}万名居民",
    "研发投入达到{n}亿元",
    "新增就业岗位{n}个",
]
CLOSERS = [
    "业内人士认为，这一举措将进一步释放市场活力。",
    "专家表示，相关政策仍需持续跟踪评估。",
    "记者了解到，后续配套细则正在加紧制定。",
    "据悉，该项目已进入实质性推进阶段。",
    "分析人士指出，行业竞争格局或将随之改变。",
]
OUTLETS = ["新浪财经", "IT之家", "36氪", "快科技", "cnBeta"]


def sentence(rng: random.Random) -> str:
    """One news sentence: who did what, and a figure."""
    return rng.choice(SUBJECTS) + rng.choice(VERBS) + rng.choice(OBJECTS) + "，" + rng.choice(DETAILS).format(n=rng.randint(2, 9999)) + "。"


def article_text(
    rng: random.Random,
    label: str,
    *,
    lead: str | None = None,
    marker: str | None = None,
    paragraphs: tuple[int, int] = (2, 5),
    sentences: tuple[int, int] = (1, 3),
) -> str:
    """A Hexo post titled "…（label）". Its first paragraph starts with `lead` (default
    "稿件{label}："); `marker` (one token) ends the second one. The numbers of paragraphs
    and of sentences a paragraph are drawn from the inclusive ranges given."""
    title = f"{rng.choice(SUBJECTS)}{rng.choice(VERBS)}{rng.choice(OBJECTS)}（{label}）"
    bodies = []
    for j in range(rng.randint(*paragraphs)):
        body = "".join(sentence(rng) for _ in range(rng.randint(*sentences)))
        if j == 0:
            body = (f"稿件{label}：" if lead is None else lead) + body
        if j == 1 and marker:
            body += f"本文的标记词是{marker}。"
        bodies.append(body + rng.choice(CLOSERS))
    outlet = rng.choice(OUTLETS)
    day, hour, minute = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    front = (
        f"---\ntitle: '{title}'\ncategories:\n    - 科技\n    - {outlet}\n\nauthor: {outlet}\ncomments: false\n"
        f"date: Mon, {day:02d} Mar 2021 {hour:02d}:{minute:02d}:14 GMT\n---\n\n<div>\n"
    )
    return front + "".join(f"<p>　　{p}</p>\n" for p in bodies) + "</div>\n"


def write_articles(directory: Path, count: int, seed: int, label: str, marker: Callable[[int], str] | None = None) -> list[Path]:
    """`count` articles "{label}-{i:04d}.md" in `directory` (made if missing), labelled
    "{label}-{i}", the i-th with marker(i) when `marker` is given; returns their paths."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"{label}-{i:04d}.md"
        path.write_text(article_text(rng, f"{label}-{i}", marker=marker(i) if marker else None), encoding="utf-8")
        paths.append(path)
    return paths
