"""Adding files and directories to a store: the library function behind `articlebot add`."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from articlebot.corpus.errors import ArticlebotError, ParseError
from articlebot.corpus.formats import is_article_file_name
from articlebot.corpus.models import Article
from articlebot.corpus.parse import DEFAULT_MAX_BYTES, PARSER_VERSION, parse_bytes, parse_file
from articlebot.corpus.store import AddStatus, Store


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
                    # Inside a directory only files that can hold an article are read; a file
                    # named on the command line is always read, whatever its name.
                    # is_file() leaves out pipes and sockets, which would block a read.
                    if is_article_file_name(name) and file.is_file():
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
    jobs: int = 1,
) -> AddReport:
    """Parse and store every article file under `paths`.

    One bad file never stops the others: its error is recorded in the report. Each
    article is stored in its own transaction, so a crash leaves every earlier article
    stored and nothing of the one being added. `progress` may wrap the file list
    (the CLI passes a progress bar), yielding the same files in the same order. With jobs > 1 and many files, parsing (the costly
    part: HTML cleaning) runs in that many worker processes; storing stays here, in
    file order, because SQLite has one writer.
    """
    report = AddReport()
    files = list(iter_article_files(paths, report))
    ordered = progress(files) if progress else files
    for expected, path, (article, error) in zip(files, ordered, _parsed(files, max_bytes, jobs)):
        if path != expected:
            raise ValueError("progress must yield the files in the order it was given them")
        try:
            if error is not None:
                raise ParseError(str(path), error)
            assert article is not None  # _parse gives an article or an error
            status = store.add(article, parser_version=PARSER_VERSION)
        except ParseError as exc:
            report.failed.append({"path": str(path), "error": exc.reason})
        except ArticlebotError as exc:
            report.failed.append({"path": str(path), "error": str(exc)})
        else:
            setattr(report, status, getattr(report, status) + 1)
            report.articles.append({"id": article.id, "title": article.title, "paragraphs": len(article.paragraphs), "status": status})
    return report


def add_bytes(store: Store, data: bytes, label: str) -> tuple[Article, AddStatus]:
    """Parse and store one uploaded file's bytes (the bot's uploads): (the article, whether
    it was "added", "replaced" or already stored, "unchanged"), exactly as `add_paths`
    stores a file. `label` becomes the article's source_path and is never opened as a
    path; errors (ParseError) name its last part. Size limits are the caller's, checked
    before the bytes are fetched."""
    shown = PurePosixPath(label).name or label
    article = parse_bytes(data, source_path=label, shown_path=shown)
    return article, store.add(article, parser_version=PARSER_VERSION)


# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_FILES = 64
# Files handed to the pool at a time: parsed articles wait in memory for the writer,
# so this bounds memory on a huge directory.
PARALLEL_CHUNK = 512


def _parse(path: Path, max_bytes: int) -> tuple[Article | None, str | None]:
    """(article, None) or (None, reason): plain values, so they cross processes."""
    try:
        return parse_file(path, max_bytes=max_bytes), None
    except ParseError as exc:
        return None, exc.reason


def _parsed(files: list[Path], max_bytes: int, jobs: int) -> Iterator[tuple[Article | None, str | None]]:
    """The parse of each file, in order; in a process pool when it pays."""
    if jobs <= 1 or len(files) < PARALLEL_MIN_FILES:
        for path in files:
            yield _parse(path, max_bytes)
        return
    work = functools.partial(_parse, max_bytes=max_bytes)
    # forkserver: workers start from a clean process, not a fork of a possibly threaded one
    with multiprocessing.get_context("forkserver").Pool(jobs) as pool:
        for start in range(0, len(files), PARALLEL_CHUNK):
            yield from pool.imap(work, files[start : start + PARALLEL_CHUNK], chunksize=8)
