"""Search: a question -> ranked `Hit`s, over a store kept in step with its BM25 index.

The store is the source of truth; the index is derived from it and saved next to it
(`<store>.index/`). `Searcher.refresh()` brings the index in line with the store by
tokenizing only the paragraphs it lacks and dropping the ones that are gone, so adding
or removing an article never re-indexes the corpus, and a long-running process (the
bot) sees other processes' changes on its next search.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from articlebot.corpus.store import Store
from articlebot.retrieval.bm25 import BM25Params
from articlebot.retrieval.index import Index, IndexFormatError, highest_generation
from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig

try:
    import fcntl
except ImportError:  # not on Windows: one writer at a time is then the user's business
    fcntl = None

log = logging.getLogger(__name__)

# Tokenize and index new paragraphs in batches, so memory stays bounded on a big add.
BATCH = 20_000


# What is indexed for each paragraph. The article title and the section heading are
# indexed with the paragraph's text because questions name the subject of the article
# while the answering paragraph often does not repeat it (measured: README "Choices").
FIELDS = ("title", "section", "text")


@dataclass(frozen=True)
class SearchConfig:
    """Search settings. The defaults were chosen on eval/questions.jsonl (README "Choices")."""

    # k1 = 0.9, b = 0.4 (Lucene/pyserini's defaults) beat rank_bm25's 1.5/0.75 on the question set
    bm25: BM25Params = BM25Params(k1=0.9, b=0.4)
    tokenizer: TokenizerConfig = TokenizerConfig()
    fields: tuple[str, ...] = FIELDS
    per_article: int | None = None  # at most this many paragraphs of one article (None: no limit)
    # The no-answer rule: no hits when the best paragraph holds less than this share of
    # the question (idf-weighted share of its distinct terms, Index.coverage).
    min_coverage: float = 0.3
    refresh_interval: float = 2.0  # seconds between checks of the store for changes


@dataclass(frozen=True)
class Hit:
    article_id: str
    title: str
    paragraph_index: int
    text: str
    section: str | None
    score: float
    published: datetime | None
    author: str | None  # the article's author (front-matter author: often the outlet)
    url: str | None  # the article's url, when it has one
    pid: int
    highlights: tuple[tuple[int, int], ...] = ()  # [start, end) offsets of matched terms in text

    @property
    def docid(self) -> str:
        return f"{self.article_id}:{self.paragraph_index}"

    def to_dict(self) -> dict:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "paragraph_index": self.paragraph_index,
            "section": self.section,
            "text": self.text,
            "score": self.score,
            "published": self.published.isoformat() if self.published else None,
            "author": self.author,
            "url": self.url,
            "highlights": [list(span) for span in self.highlights],
        }


@dataclass
class RefreshReport:
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    reason: str | None = None  # why the index was rebuilt


def default_index_dir(store: Store) -> Path | None:
    return None if store.path == ":memory:" else Path(store.path + ".index")


class Searcher:
    """Searches one store. Not thread-safe: give each thread its own, or serialize calls."""

    def __init__(
        self,
        store: Store,
        config: SearchConfig = SearchConfig(),
        index_dir: Path | None | str = "default",
        tokenizer: Tokenizer | None = None,
        jobs: int = 1,
    ):
        self.store = store
        self.jobs = jobs  # processes tokenizing a large sync (articlebot add of many files)
        self.config = config
        self.tokenizer = tokenizer or Tokenizer(config.tokenizer)
        self.index_dir = default_index_dir(store) if index_dir == "default" else (Path(index_dir) if index_dir else None)
        # The index belongs to this store and this tokenizer; anything else is rebuilt.
        fields = "+".join(config.fields)
        self.fingerprint = f"{self.tokenizer.fingerprint()}-{fields}-{store.store_id}"
        self.index = Index(fingerprint=self.fingerprint)
        self._marker: object = None
        self._checked_at = 0.0
        self.last_refresh = self.refresh()

    # --- keeping the index in step with the store ------------------------------------

    def refresh(self) -> RefreshReport:
        """Load the saved index when it is newer, then add/remove what the store changed."""
        report = RefreshReport()
        with self._locked():
            # Read before syncing: a change committed while we sync then shows as a new
            # marker on the next check, instead of being taken as already seen.
            marker = self.store.change_marker()
            if self.index_dir is not None:
                self._load_saved(report)
            self._sync(report)
            if report.added or report.removed or report.rebuilt:
                if self.index.needs_merge():
                    self.index.merge()
                if self.index_dir is not None:
                    self.index.save(self.index_dir)
        self._marker = marker
        self._checked_at = time.monotonic()
        return report

    def refresh_if_changed(self) -> None:
        """Cheap check (at most every refresh_interval seconds) for changes to the store."""
        if time.monotonic() - self._checked_at < self.config.refresh_interval:
            return
        self._checked_at = time.monotonic()
        if self.store.change_marker() != self._marker:
            self.refresh()

    def _load_saved(self, report: RefreshReport) -> None:
        manifest = self.index_dir / "manifest.json"
        if not manifest.exists():
            return
        try:
            saved = Index.load(self.index_dir)
        except IndexFormatError as exc:
            log.warning("%s; rebuilding it", exc)
            self._start_over(report, str(exc))
            return
        if saved.fingerprint != self.fingerprint:
            self._start_over(report, "it was built for another store or other tokenizer settings")
        elif saved.generation != self.index.generation or not self.index.segments:
            self.index = saved

    def _start_over(self, report: RefreshReport, reason: str) -> None:
        # Number the new index after every generation on disk: its files then never take
        # the names of files another process may have memory-mapped.
        generation = highest_generation(self.index_dir) if self.index_dir is not None else 0
        self.index = Index(fingerprint=self.fingerprint, generation=generation)
        report.rebuilt, report.reason = True, reason

    def _sync(self, report: RefreshReport) -> None:
        first_new = len(self.index.segments)
        with _DocumentTokenizer(self.tokenizer, self.config.fields, self.jobs) as tokenize:
            batch: list[tuple[int, str, str | None, str]] = []
            for row in self.store.paragraphs_after(self.index.max_pid()):
                batch.append(row)
                if len(batch) >= BATCH:
                    self._add_batch([r[0] for r in batch], tokenize(batch), report)
                    batch = []
            self._add_batch([r[0] for r in batch], tokenize(batch), report)
        self.index.merge_tail(first_new)
        if self.store.paragraph_count() != self.index.n_docs:
            gone = np.setdiff1d(self.index.pids(), np.asarray(self.store.paragraph_pids(), dtype=np.int64))
            report.removed += self.index.delete(gone)

    def _add_batch(self, pids: list[int], docs: list[list[str]], report: RefreshReport) -> None:
        if pids:
            self.index.add(pids, docs, merge=False)  # merged once, at the end of the sync
            report.added += len(pids)

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

    # --- searching --------------------------------------------------------------------

    def search(self, query: str, k: int = 5, per_article: int | None | str = "default") -> list[Hit]:
        """The k most relevant paragraphs for `query`, best first.

        Ties are broken by paragraph id (older first). With per_article=n, at most n
        paragraphs of one article are returned (None: no limit). Returns [] when nothing
        matches or the best paragraph holds too little of the question (the no-answer
        rule, config.min_coverage).
        """
        self.refresh_if_changed()
        limit = self.config.per_article if per_article == "default" else per_article
        terms = self.tokenizer.tokens(query)
        if k <= 0:
            return []
        wanted = k if limit is None else k * 4
        while True:
            ranked, matched = self.index.search(terms, wanted, self.config.bm25)
            if not ranked:
                return []
            if self._no_answer(terms, ranked[0][0]):
                return []
            hits = self._hits(ranked, limit, k, set(terms))
            if len(hits) >= k or wanted >= matched:
                return hits
            wanted *= 4

    def _no_answer(self, terms: list[str], best_pid: int) -> bool:
        return self.index.coverage(terms, best_pid) < self.config.min_coverage

    def _hits(self, ranked: list[tuple[int, float]], limit: int | None, k: int, query_terms: set[str]) -> list[Hit]:
        rows = self.store.paragraphs_by_pid([pid for pid, _ in ranked])
        per_article: dict[str, int] = {}
        hits: list[Hit] = []
        for pid, score in ranked:
            if pid not in rows:  # removed by another process since the last refresh
                continue
            paragraph, article = rows[pid]
            if limit is not None and per_article.get(article.id, 0) >= limit:
                continue
            per_article[article.id] = per_article.get(article.id, 0) + 1
            hits.append(
                Hit(
                    article_id=article.id,
                    title=article.title,
                    paragraph_index=paragraph.index,
                    text=paragraph.text,
                    section=paragraph.section,
                    score=score,
                    published=article.published,
                    author=article.author,
                    url=article.url,
                    pid=pid,
                    highlights=self.highlight(paragraph.text, query_terms),
                )
            )
            if len(hits) == k:
                break
        return hits

    def highlight(self, text: str, query_terms: set[str]) -> tuple[tuple[int, int], ...]:
        """Merged [start, end) spans of the text's tokens that are query terms."""
        spans: list[list[int]] = []
        for token in sorted(self.tokenizer.spans(text), key=lambda t: (t.start, -t.end)):
            if token.term not in query_terms:
                continue
            if spans and token.start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], token.end)
            else:
                spans.append([token.start, token.end])
        return tuple((s, e) for s, e in spans)


# Below this many new paragraphs tokenizing in worker processes costs more than it saves.
PARALLEL_MIN_PARAGRAPHS = 4_000


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
        self._pool = None

    def __enter__(self):
        return self

    def __call__(self, rows: list[tuple[int, str, str | None, str]]) -> list[list[str]]:
        if self.jobs <= 1 or len(rows) < PARALLEL_MIN_PARAGRAPHS:
            memo: dict[str, list[str]] = {}
            return [document_tokens(self.tokenizer, self.fields, *row[1:], memo=memo) for row in rows]
        if self._pool is None:
            import multiprocessing

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
    tokenizer, fields, memo = _worker
    return document_tokens(tokenizer, fields, *row, memo=memo)
