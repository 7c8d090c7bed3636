"""The corpus and its search, as the bot's async handlers use them.

SQLite connections belong to the thread that opened them, and a search (jieba + BM25)
or an ingest (HTML cleaning) takes milliseconds to seconds of CPU. So the Library owns
one worker thread: the store and the searcher are opened, used and closed only there,
and handlers await the results without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from articlebot.corpus.ingest import add_bytes
from articlebot.corpus.models import Article, ArticleSummary, StoreStats
from articlebot.corpus.sample import SampleFallback
from articlebot.corpus.store import AddStatus, Store
from articlebot.retrieval.search import Hit, SearchConfig, Searcher

log = logging.getLogger(__name__)

T = TypeVar("T")


class Library:
    """The corpus and search for the bot: one Store + Searcher used from ONE thread
    (an executor with a single worker), so SQLite and the index are never shared
    between threads and searches never block the event loop.

    While the store is empty, questions are answered from the bundled sample corpus
    (like every CLI command); the first article added switches to the store.
    """

    def __init__(
        self,
        db_path: str | os.PathLike,
        search_config: SearchConfig = SearchConfig(),
        sample_when_empty: bool = True,
    ):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articlebot-library")
        self._config = search_config
        self._sample_when_empty = sample_when_empty
        self._store: Store | None = None
        self._searcher: Searcher | None = None
        self._fallback: SampleFallback | None = None
        self._sample_searcher: tuple[Store, Searcher] | None = None  # the sample and its search
        self._closed = False
        try:  # opening builds or loads the index: done once, on the worker thread
            self._executor.submit(self._open, db_path).result()
        except BaseException:
            self.close()
            raise

    # --- the async API the handlers use --------------------------------------------------

    async def search(self, query: str, k: int) -> list[Hit]:
        return await self._run(self._search, query, k)

    async def add_document(self, data: bytes, filename: str) -> Article:
        """Parse and store a file's bytes; `filename` is only a label (the article's
        source_path), never opened. Raises ParseError for an unusable file."""
        article, _status = await self.add_document_status(data, filename)
        return article

    async def add_document_status(self, data: bytes, filename: str) -> tuple[Article, AddStatus]:
        """add_document, also saying whether the article was "added", "replaced" or
        already stored ("unchanged")."""
        return await self._run(self._add, data, filename)

    async def remove(self, article_id: str) -> ArticleSummary:
        """Remove an article (id or unique prefix); ArticleNotFound / AmbiguousId otherwise."""
        return await self._run(self._remove, article_id)

    async def stats(self) -> StoreStats:
        """Counts of the store (not of the sample: see `using_sample`)."""
        return await self._run(self._stats)

    @property
    def using_sample(self) -> bool:
        """True while questions are answered from the bundled sample (the store is empty)."""
        return self.sample_articles is not None

    @property
    def sample_articles(self) -> int | None:
        """How many sample articles answer questions; None when the store does."""
        return self._fallback.sample_size if self._fallback is not None else None

    def close(self) -> None:
        """Close the store (waiting for a running search); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._close).result()
        self._executor.shutdown(wait=True)

    # --- on the worker thread -----------------------------------------------------------

    async def _run(self, func: Callable[..., T], *args) -> T:
        if self._closed:
            raise RuntimeError("the library is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args))

    def _open(self, db_path: str | os.PathLike) -> None:
        self._store = Store.open(db_path)
        self._searcher = Searcher(self._store, self._config)
        self._searcher.refresh()  # build or load the index now, not on the first question
        self._searcher.index.warm_up()
        if self._sample_when_empty:
            self._fallback = SampleFallback(self._store)
            if self._corpus() is not self._searcher:
                log.warning(
                    "The store %s is empty: answering from the bundled sample (%d articles)", self._store.path, self.sample_articles
                )

    def _corpus(self) -> Searcher:
        """The searcher to answer from, by the sample policy (corpus.sample.SampleFallback)."""
        assert self._store is not None and self._searcher is not None
        corpus = self._fallback.corpus() if self._fallback is not None else self._store
        if corpus is self._store:
            self._sample_searcher = None
            return self._searcher
        if self._sample_searcher is None or self._sample_searcher[0] is not corpus:
            self._sample_searcher = (corpus, Searcher(corpus, self._config, index_dir=None))
        return self._sample_searcher[1]

    def _search(self, query: str, k: int) -> list[Hit]:
        return self._corpus().search(query, k=k)

    def _add(self, data: bytes, label: str) -> tuple[Article, AddStatus]:
        assert self._store is not None and self._searcher is not None
        article, status = add_bytes(self._store, data, label)
        self._searcher.refresh()  # searchable from the next question on
        return article, status

    def _remove(self, article_id: str) -> ArticleSummary:
        assert self._store is not None and self._searcher is not None
        removed = self._store.remove(article_id)
        self._searcher.refresh()
        return removed

    def _close(self) -> None:
        self._sample_searcher = None
        if self._fallback is not None:
            self._fallback.close()
        if self._store is not None:
            self._store.close()

    def _stats(self) -> StoreStats:
        assert self._store is not None  # opened in __init__, before any call
        return self._store.stats()
