"""Typed objects the corpus layer hands to the rest of articlebot.

Other layers (retrieval, bot, CLI) only ever see these objects, never the
parser's or the store's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Paragraph:
    """One answerable block of an article's cleaned text."""

    article_id: str
    index: int  # position in the article, from 0
    text: str
    section: str | None = None  # the sub-heading the paragraph stands under


@dataclass(frozen=True)
class Article:
    """A parsed and cleaned article.

    `id` is derived from the content hash, so the same file always gets the
    same id, whichever store it is added to.
    """

    id: str
    title: str
    source_path: str
    content_hash: str
    paragraphs: tuple[Paragraph, ...] = ()
    published: datetime | None = None  # always timezone-aware when set
    author: str | None = None  # front matter `author` or <meta name=author>: often the outlet
    reporter: str | None = None  # byline found in the body, e.g. 新京报记者 徐美慧
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    url: str | None = None
    original_title: str | None = None  # the 原标题 line, when the article has one

    def to_dict(self, with_paragraphs: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "published": self.published.isoformat() if self.published else None,
            "author": self.author,
            "reporter": self.reporter,
            "categories": list(self.categories),
            "tags": list(self.tags),
            "url": self.url,
            "original_title": self.original_title,
            "source_path": self.source_path,
            "content_hash": self.content_hash,
            "paragraph_count": len(self.paragraphs),
        }
        if with_paragraphs:
            data["paragraphs"] = [{"index": p.index, "section": p.section, "text": p.text} for p in self.paragraphs]
        return data


@dataclass(frozen=True)
class ArticleSummary:
    """What a listing shows of a stored article, without loading its paragraphs."""

    id: str
    title: str
    published: datetime | None
    author: str | None
    paragraph_count: int
    source_path: str
    added_at: datetime
    url: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "published": self.published.isoformat() if self.published else None,
            "author": self.author,
            "paragraphs": self.paragraph_count,
            "source_path": self.source_path,
            "added_at": self.added_at.isoformat(),
        }


@dataclass(frozen=True)
class StoreStats:
    articles: int
    paragraphs: int
    characters: int  # total length of paragraph texts
    last_added: ArticleSummary | None
    db_path: str
    schema_version: int

    def to_dict(self) -> dict:
        return {
            "articles": self.articles,
            "paragraphs": self.paragraphs,
            "characters": self.characters,
            "last_added": self.last_added.to_dict() if self.last_added else None,
            "db_path": self.db_path,
            "schema_version": self.schema_version,
        }
