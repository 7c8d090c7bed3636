"""Bringing the BM25 index up to date with the store: the index's one writer.

The store is the source of truth; the index is derived from it and saved next to it
(`<store>.index/`). `IndexWriter.update()` brings an index in line with the store by
tokenizing only the paragraphs it lacks and dropping the ones that are gone, so adding
or removing an article never re-indexes the corpus. Writers in different processes are
serialized by a lock file; readers (`Searcher`) never write, they ask the writer for an
up-to-date index when the store has changed, as tantivy separates its IndexWriter from
its searchers.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from articlebot.corpus.store import Store
from articlebot.retrieval.backend import SearchBackend
from articlebot.retrieval.index import Index, IndexFormatError, highest_generation
from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig

try:
    import fcntl
except ImportError:  # not on Windows: one writer at a time is then the user's business
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# Tokenize and index new paragraphs in batches, so memory stays bounded on a big add.
BATCH = 20_000
# Below this many new paragraphs tokenizing in worker processes costs more than it saves.
PARALLEL_MIN_PARAGRAPHS = 4_000


@dataclass
class RefreshReport:
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    reason: str | None = None  # why the index was rebuilt


def default_index_dir(store: Store) -> Path | None:
    return None if store.path == ":memory:" else Path(store.path + ".index")


class IndexWriter:
    """Keeps one store's index up to date: loads the saved index when another process
    saved a newer one, adds what the store added, deletes what it removed, merges, saves.

    `index_dir` None keeps the index in memory only (the bundled sample, tests)."""

    def __init__(self, store: Store, tokenizer: Tokenizer, fields: tuple[str, ...], index_dir: Path | None, jobs: int = 1):
        self.store = store
        self.tokenizer = tokenizer
        self.fields = fields
        self.index_dir = index_dir
        self.jobs = jobs  # processes tokenizing a large sync (articlebot add of many files)
        # The index belongs to this store and this tokenizer; anything else is rebuilt.
        self.fingerprint = f"{tokenizer.fingerprint()}-{'+'.join(fields)}-{store.store_id}"

    def empty(self) -> Index:
        return Index(fingerprint=self.fingerprint)

    def update(self, index: SearchBackend) -> tuple[Index, RefreshReport]:
        """(the up-to-date index, what changed). `index` is the caller's current one:
        it is returned, changed in place, unless a newer saved one replaces it."""
        report = RefreshReport()
        if not isinstance(index, Index):  # another engine's: nothing of it can be reused
            index = self.empty()
        with self._locked():
            if self.index_dir is not None:
                index = self._load_saved(index, report)
            self._sync(index, report)
            if report.added or report.removed or report.rebuilt:
                if index.needs_merge():
                    index.merge()
                if self.index_dir is not None:
                    index.save(self.index_dir)
        return index, report

    def _load_saved(self, index: Index, report: RefreshReport) -> Index:
        assert self.index_dir is not None
        if not (self.index_dir / "manifest.json").exists():
            return index
        try:
            saved = Index.load(self.index_dir)
        except IndexFormatError as exc:
            log.warning("%s; rebuilding it", exc)
            return self._start_over(report, str(exc))
        if saved.fingerprint != self.fingerprint:
            return self._start_over(report, "it was built for another store or other tokenizer settings")
        if saved.generation != index.generation or not index.segments:
            return saved
        return index

    def _start_over(self, report: RefreshReport, reason: str) -> Index:
        # Number the new index after every generation on disk: its files then never take
        # the names of files another process may have memory-mapped.
        generation = highest_generation(self.index_dir) if self.index_dir is not None else 0
        report.rebuilt, report.reason = True, reason
        return Index(fingerprint=self.fingerprint, generation=generation)

    def _sync(self, index: Index, report: RefreshReport) -> None:
        first_new = len(index.segments)
        with _DocumentTokenizer(self.tokenizer, self.fields, self.jobs) as tokenize:
            batch: list[tuple[int, str, str | None, str]] = []
            for row in self.store.paragraphs_after(index.max_pid()):
                batch.append(row)
                if len(batch) >= BATCH:
                    self._add_batch(index, batch, tokenize, report)
                    batch = []
            self._add_batch(index, batch, tokenize, report)
        index.merge_tail(first_new)
        if self.store.paragraph_count() != index.n_docs:
            gone = np.setdiff1d(index.pids(), np.asarray(self.store.paragraph_pids(), dtype=np.int64))
            report.removed += index.delete(gone)

    @staticmethod
    def _add_batch(
        index: Index, batch: list[tuple[int, str, str | None, str]], tokenize: _DocumentTokenizer, report: RefreshReport
    ) -> None:
        if batch:
            index.add([row[0] for row in batch], tokenize(batch), merge=False)  # merged once, at the end of the sync
            report.added += len(batch)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize index writers across processes (an flock on <index>/.lock)."""
        if self.index_dir is None or fcntl is None:
            yield
            return
        self.index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.index_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def document_tokens(
    tokenizer: Tokenizer,
    fields: tuple[str, ...],
    title: str,
    section: str | None,
    text: str,
    memo: dict[str, list[str]] | None = None,
) -> list[str]:
    """The tokens indexed for one paragraph: its fields' tokens, in field order.

    `memo` remembers the tokens of titles and sections, which repeat for every
    paragraph of an article."""
    values = {"title": title, "section": section, "text": text}
    tokens: list[str] = []
    for field in fields:
        value = values[field]
        if not value:
            continue
        if field == "text" or memo is None:
            tokens += tokenizer.tokens(value)
        else:
            if value not in memo:
                if len(memo) > 10_000:
                    memo.clear()
                memo[value] = tokenizer.tokens(value)
            tokens += memo[value]
    return tokens


class _DocumentTokenizer:
    """Tokenizes batches of (pid, title, section, text) rows, in worker processes when
    there are many (jieba/rjieba hold the GIL, so threads would not help)."""

    def __init__(self, tokenizer: Tokenizer, fields: tuple[str, ...], jobs: int):
        self.tokenizer, self.fields, self.jobs = tokenizer, fields, jobs
        self._pool: multiprocessing.pool.Pool | None = None

    def __enter__(self):
        return self

    def __call__(self, rows: list[tuple[int, str, str | None, str]]) -> list[list[str]]:
        if self.jobs <= 1 or len(rows) < PARALLEL_MIN_PARAGRAPHS:
            memo: dict[str, list[str]] = {}
            return [document_tokens(self.tokenizer, self.fields, *row[1:], memo=memo) for row in rows]
        if self._pool is None:
            self._pool = multiprocessing.get_context("forkserver").Pool(
                self.jobs, initializer=_init_worker, initargs=(self.tokenizer.config, self.tokenizer.engine, self.fields)
            )
        return self._pool.map(_tokenize_row, [row[1:] for row in rows], chunksize=256)

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()


_worker: tuple[Tokenizer, tuple[str, ...], dict] | None = None  # set once in each worker process


def _init_worker(config: TokenizerConfig, engine: str, fields: tuple[str, ...]) -> None:
    global _worker
    _worker = (Tokenizer(config, engine=engine), fields, {})


def _tokenize_row(row: tuple[str, str | None, str]) -> list[str]:
    assert _worker is not None, "the worker was not initialised"
    tokenizer, fields, memo = _worker
    return document_tokens(tokenizer, fields, *row, memo=memo)
