"""Adding files and directories to a store: the library function behind `articlebot add`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from corpus.errors import ArticlebotError, ParseError
from corpus.parse import DEFAULT_MAX_BYTES, PARSER_VERSION, parse_file
from corpus.store import Store

# Inside a directory only files that can hold an article are read; a file named on the
# command line is always read, whatever its name (the format is detected from content).
ARTICLE_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".txt", ".text", ".html", ".htm", ".xhtml", ""})
# Files that describe a folder rather than being one of its articles.
NOT_ARTICLES = frozenset({"readme", "license", "licence", "changelog", "contributing", "copying", "authors", "notice"})


@dataclass
class AddReport:
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    skipped: int = 0  # files inside directories that are not article files (images, ...)
    failed: list[dict] = field(default_factory=list)  # {"path", "error"}
    articles: list[dict] = field(default_factory=list)  # {"id", "title", "paragraphs", "status"}

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "replaced": self.replaced,
            "skipped": self.skipped,
            "failed": self.failed,
            "articles": self.articles,
        }


def iter_article_files(paths: Iterable[str | os.PathLike], report: AddReport) -> Iterator[Path]:
    """Yield files to read, in a stable order. Missing paths are recorded as failures."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    file = Path(root) / name
                    # is_file() leaves out pipes and sockets, which would block a read
                    suffix_ok = Path(name).suffix.lower() in ARTICLE_SUFFIXES
                    if suffix_ok and Path(name).stem.lower() not in NOT_ARTICLES and file.is_file():
                        yield file
                    else:
                        report.skipped += 1
        elif path.is_file():
            yield path
        elif path.exists():
            report.failed.append({"path": str(path), "error": "not a regular file"})
        else:
            report.failed.append({"path": str(path), "error": "no such file or directory"})


def add_paths(
    store: Store,
    paths: Iterable[str | os.PathLike],
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[list[Path]], Iterable[Path]] | None = None,
) -> AddReport:
    """Parse and store every article file under `paths`.

    One bad file never stops the others: its error is recorded in the report. Each
    article is stored in its own transaction, so a crash leaves every earlier article
    stored and nothing of the one being added. `progress` may wrap the file list
    (the CLI passes a progress bar).
    """
    report = AddReport()
    files = list(iter_article_files(paths, report))
    for path in progress(files) if progress else files:
        try:
            article = parse_file(path, max_bytes=max_bytes)
            status = store.add(article, parser_version=PARSER_VERSION)
        except ParseError as exc:
            report.failed.append({"path": str(path), "error": exc.reason})
        except ArticlebotError as exc:
            report.failed.append({"path": str(path), "error": str(exc)})
        else:
            setattr(report, status, getattr(report, status) + 1)
            report.articles.append(
                {"id": article.id, "title": article.title, "paragraphs": len(article.paragraphs), "status": status}
            )
    return report
