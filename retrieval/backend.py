"""The retrieval engine's seams: what `Searcher` needs from an index, and from its writer.

`Searcher` answers questions through `SearchBackend` alone, and gets an up-to-date
backend from a `BackendWriter` when the store changes. `retrieval.index.Index`
(in-process, memory-mapped, exact rank_bm25 scores) with `retrieval.writer.IndexWriter`
implements them. Another engine — OpenSearch/Elasticsearch over pre-tokenized text, for a
corpus that outgrows one machine (docs/scaling.md) — is one new module implementing
both; `tests/test_backend_contract.py` runs the same contract against every
implementation.

Documents are paragraphs, identified by the store's paragraph id (pid), which only grows.
The engine receives tokens, never text: tokenizing stays in articlebot, so every engine
sees the same terms (for a remote engine: tokens joined by spaces, with a whitespace
analyzer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from articlebot.retrieval.bm25 import BM25Params

if TYPE_CHECKING:
    from articlebot.retrieval.writer import RefreshReport


@runtime_checkable
class SearchBackend(Protocol):
    """The read side: what answering a question needs."""

    n_docs: int  # live documents

    def search(self, query_terms: Sequence[str], k: int, params: BM25Params) -> tuple[list[tuple[int, float]], int]:
        """(the k best (pid, score), by score descending then pid ascending; the number of
        documents holding at least one query term, or an upper bound of it greater than k).
        Only such documents are returned."""
        ...

    def coverage(self, query_terms: Sequence[str], pid: int) -> float:
        """The idf-weighted share of the distinct query terms the document holds (0..1),
        a term absent from the index weighing as the rarest possible: the no-answer rule."""
        ...

    def term_weights(self, query_terms: Sequence[str]) -> dict[str, float]:
        """The weight of each distinct query term as coverage weighs it (idf floored at 0;
        a term absent from the index the rarest possible): what a snippet should hold."""
        ...

    def warm_up(self) -> None:
        """Get ready to answer fast (load compiled code, open connections); called once
        by long-lived processes before their first question."""
        ...


@runtime_checkable
class BackendWriter(Protocol):
    """The write side: brings an index in line with the store (added paragraphs by pid,
    removed ones noticed). One writer at a time per index, across processes."""

    def empty(self) -> SearchBackend:
        """An index with nothing in it yet: what a reader holds before its first update."""
        ...

    def update(self, index: SearchBackend) -> tuple[SearchBackend, RefreshReport]:
        """(the up-to-date index, what changed); `index` is the reader's current one."""
        ...
