"""The retrieval engine's interface: what `Searcher` needs from an index.

`retrieval.index.Index` (in-process, memory-mapped, exact rank_bm25 scores) implements it.
Another engine — OpenSearch/Elasticsearch over pre-tokenized text, for a corpus that
outgrows one machine (docs/scaling.md) — is one new module implementing these methods;
`tests/test_backend_contract.py` runs the same contract against every implementation.

Documents are paragraphs, identified by the store's paragraph id (pid), which only grows.
The engine receives tokens, never text: tokenizing stays in articlebot, so every engine
sees the same terms (for a remote engine: tokens joined by spaces, with a whitespace
analyzer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from articlebot.retrieval.bm25 import BM25Params


@runtime_checkable
class SearchBackend(Protocol):
    n_docs: int  # live documents

    def add(self, pids: Sequence[int], token_lists: Sequence[Sequence[str]]) -> None:
        """Index new documents; their pids are above every pid already indexed."""

    def delete(self, pids: Sequence[int] | np.ndarray) -> int:
        """Forget these documents; return how many were indexed."""

    def pids(self) -> np.ndarray:
        """Every indexed pid, ascending (to find documents the store no longer has)."""

    def max_pid(self) -> int:
        """The highest pid indexed, 0 when empty (the store sends what lies above it)."""

    def search(self, query_terms: Sequence[str], k: int, params: BM25Params) -> tuple[list[tuple[int, float]], int]:
        """(the k best (pid, score), by score descending then pid ascending; the number of
        documents holding at least one query term). Only such documents are returned."""

    def coverage(self, query_terms: Sequence[str], pid: int) -> float:
        """The idf-weighted share of the distinct query terms the document holds (0..1),
        a term absent from the index weighing as the rarest possible: the no-answer rule."""
