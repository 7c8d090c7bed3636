"""Search: a question -> ranked `Hit`s, from the store's BM25 index.

`Searcher` is a reader: it answers questions from an index (the `SearchBackend` seam)
and never writes one itself. When the store has changed (checked at most every
`refresh_interval` seconds, so a long-running process such as the bot sees other
processes' changes), it asks its writer (`BackendWriter`; by default
`retrieval.writer.IndexWriter`, which keeps the saved index beside the store) for an
up-to-date index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from articlebot.corpus.store import Store
from articlebot.retrieval.backend import BackendWriter, SearchBackend
from articlebot.retrieval.bm25 import BM25Params
from articlebot.retrieval.sentinel import DEFAULT, Default
from articlebot.retrieval.snippet import Match, best_window, shifted
from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig
from articlebot.retrieval.writer import IndexWriter, RefreshReport, default_index_dir

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
    # The excerpt of text that best answers the question (at most 200 characters), and
    # the matched terms' offsets in it.
    snippet: str = ""
    snippet_highlights: tuple[tuple[int, int], ...] = ()

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
            "snippet": self.snippet,
            "snippet_highlights": [list(span) for span in self.snippet_highlights],
        }


class Searcher:
    """Answers questions about one store. Not thread-safe: give each thread its own, or
    serialize calls. Building one is cheap: the index is loaded (and brought up to date
    by the writer) on the first question, or by an explicit refresh()."""

    def __init__(
        self,
        store: Store,
        config: SearchConfig = SearchConfig(),
        index_dir: Path | str | None | Default = DEFAULT,
        tokenizer: Tokenizer | None = None,
        jobs: int = 1,
        writer: BackendWriter | None = None,
    ):
        """index_dir: where the index is saved (DEFAULT: beside the store; None: in memory
        only). writer: what brings the index up to date (default: an IndexWriter there)."""
        self.store = store
        self.config = config
        self.tokenizer = tokenizer or Tokenizer(config.tokenizer)
        if writer is None:
            directory = default_index_dir(store) if index_dir is DEFAULT else (Path(index_dir) if index_dir else None)
            writer = IndexWriter(store, self.tokenizer, config.fields, directory, jobs)
        self.writer = writer
        self.index: SearchBackend = writer.empty()
        self.last_refresh: RefreshReport | None = None
        self._marker: object = None
        self._checked_at = 0.0
        self._opened = False

    # --- keeping up with the store ------------------------------------------------------

    def refresh(self) -> RefreshReport:
        """Take the writer's up-to-date index (it adds/removes what the store changed)."""
        # Read before updating: a change committed meanwhile then shows as a new marker on
        # the next check, instead of being taken as already seen.
        marker = self.store.change_marker()
        self.index, report = self.writer.update(self.index)
        self._marker, self._opened = marker, True
        self._checked_at = time.monotonic()
        self.last_refresh = report
        return report

    def refresh_if_changed(self) -> None:
        """Cheap check (at most every refresh_interval seconds) for changes to the store."""
        if self._opened and time.monotonic() - self._checked_at < self.config.refresh_interval:
            return
        self._checked_at = time.monotonic()
        if not self._opened or self.store.change_marker() != self._marker:
            self.refresh()

    # --- searching --------------------------------------------------------------------

    def search(self, query: str, k: int = 5, per_article: int | None | Default = DEFAULT) -> list[Hit]:
        """The k most relevant paragraphs for `query`, best first.

        Ties are broken by paragraph id (older first). With per_article=n, at most n
        paragraphs of one article are returned (None: no limit). Returns [] when nothing
        matches or the best paragraph holds too little of the question (the no-answer
        rule, config.min_coverage).
        """
        self.refresh_if_changed()
        limit = self.config.per_article if per_article is DEFAULT else per_article
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
            hits = self._hits(ranked, limit, k, set(terms), self.index.term_weights(terms))
            if len(hits) >= k or wanted >= matched:
                return hits
            wanted *= 4

    def _no_answer(self, terms: list[str], best_pid: int) -> bool:
        return self.index.coverage(terms, best_pid) < self.config.min_coverage

    def _hits(
        self, ranked: list[tuple[int, float]], limit: int | None, k: int, query_terms: set[str], weights: dict[str, float]
    ) -> list[Hit]:
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
                    **self._marked(paragraph.text, query_terms, weights),
                )
            )
            if len(hits) == k:
                break
        return hits

    def _marked(self, text: str, query_terms: set[str], weights: dict[str, float]) -> dict:
        """A hit's highlights, and its snippet with the highlights inside it."""
        matches = self.matches(text, query_terms)
        highlights = merged_spans(matches)
        start, end = best_window(text, matches, weights)
        return {"highlights": highlights, "snippet": text[start:end], "snippet_highlights": shifted(highlights, start, end)}

    def matches(self, text: str, query_terms: set[str]) -> list[Match]:
        """Every token of the text that is a query term, in text order."""
        tokens = sorted(self.tokenizer.spans(text), key=lambda t: (t.start, -t.end))
        return [Match(t.start, t.end, t.term) for t in tokens if t.term in query_terms]

    def highlight(self, text: str, query_terms: set[str]) -> tuple[tuple[int, int], ...]:
        """Merged [start, end) spans of the text's tokens that are query terms."""
        return merged_spans(self.matches(text, query_terms))


def merged_spans(matches: list[Match]) -> tuple[tuple[int, int], ...]:
    """The matches' [start, end) spans, overlapping ones merged (matches in text order)."""
    spans: list[list[int]] = []
    for m in matches:
        if spans and m.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], m.end)
        else:
            spans.append([m.start, m.end])
    return tuple((s, e) for s, e in spans)


def update_index(store: Store, config: SearchConfig = SearchConfig(), jobs: int = 1) -> RefreshReport:
    """Bring the saved index beside the store up to date, without answering anything
    (what `articlebot add` and `remove` do after changing the store)."""
    writer = IndexWriter(store, Tokenizer(config.tokenizer), config.fields, default_index_dir(store), jobs)
    return writer.update(writer.empty())[1]
