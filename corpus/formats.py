"""Which files can hold an article: one list for `articlebot add`, the bot's uploads and
what the bot tells its admins (a module without heavy imports)."""

from __future__ import annotations

from pathlib import PurePath

# The format itself is detected from the content (front matter + HTML or markdown, HTML
# pages, plain text); the name only decides which files are worth reading.
ARTICLE_SUFFIXES = (".md", ".markdown", ".mdx", ".txt", ".text", ".html", ".htm", ".xhtml")
# Files that describe a folder rather than being one of its articles.
NOT_ARTICLES = frozenset({"readme", "license", "licence", "changelog", "contributing", "copying", "authors", "notice"})


def has_article_suffix(name: str, allow_bare: bool = False) -> bool:
    """Whether a file name ends in one of ARTICLE_SUFFIXES (case-insensitively); with
    allow_bare, a name without any suffix also counts (plain-text files in a folder)."""
    suffix = PurePath(name).suffix.lower()
    return suffix in ARTICLE_SUFFIXES or (allow_bare and suffix == "")


def is_article_file_name(name: str) -> bool:
    """Whether a file found inside a directory is read by `articlebot add`."""
    return has_article_suffix(name, allow_bare=True) and PurePath(name).stem.lower() not in NOT_ARTICLES
