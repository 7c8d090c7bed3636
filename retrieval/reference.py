"""The engine checked against the reference implementation, from the CLI.

`articlebot eval FILE --reference` re-scores every question with rank_bm25's
`BM25Okapi` over exactly the tokens the index holds (the same fields, the same
tokenizer) and reports any difference from our engine's top k: another document, another
order, or a score more than REL apart. Ties (scores equal to rounding) may come in
either order. rank_bm25 is pure Python and scores every paragraph for every question,
so this takes seconds per question on a large store; it is a check, not a mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from articlebot.retrieval.search import Searcher
from articlebot.retrieval.writer import document_tokens

REL = 1e-9  # relative tolerance on a score: float sums in another order


@dataclass
class ReferenceDifference:
    query: str
    ours: list[tuple[int, float]]  # (pid, score), best first
    reference: list[tuple[int, float]]

    def to_dict(self) -> dict:
        return {"query": self.query, "ours": [list(e) for e in self.ours], "reference": [list(e) for e in self.reference]}


@dataclass
class ReferenceReport:
    k: int
    questions: int = 0
    hits_compared: int = 0
    differences: list[ReferenceDifference] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "engine": "rank_bm25.BM25Okapi",
            "k": self.k,
            "questions": self.questions,
            "hits_compared": self.hits_compared,
            "differences": [d.to_dict() for d in self.differences],
        }


def compare_with_rank_bm25(searcher: Searcher, queries: Sequence[str], k: int) -> ReferenceReport:
    """Our top k of each query (the engine's ranking, before the no-answer rule and the
    per-article limit) against rank_bm25's over the same documents."""
    from rank_bm25 import BM25Okapi  # imported here: only this check needs it

    searcher.refresh()
    report = ReferenceReport(k=k)
    memo: dict[str, list[str]] = {}
    rows = searcher.store.paragraphs_after(0)
    pids, docs = [], []
    for pid, title, section, text in rows:
        pids.append(pid)
        docs.append(document_tokens(searcher.tokenizer, searcher.config.fields, title, section, text, memo=memo))
    params = searcher.config.bm25
    reference = BM25Okapi(docs, k1=params.k1, b=params.b, epsilon=params.epsilon) if docs else None
    doc_sets = [set(doc) for doc in docs]
    for query in queries:
        terms = searcher.tokenizer.tokens(query)
        ours, _ = searcher.index.search(terms, k, params)
        ranking = _reference_ranking(reference, doc_sets, pids, terms)
        report.questions += 1
        report.hits_compared += min(k, len(ranking))
        if not same_ranking(ours, ranking, k):
            report.differences.append(ReferenceDifference(query, ours, ranking[:k]))
    return report


def _reference_ranking(reference, doc_sets: list[set[str]], pids: list[int], terms: list[str]) -> list[tuple[int, float]]:
    """rank_bm25's ranking of the documents holding a query term (the others score 0 and
    are no answer), by score descending, ties by smaller pid as ours."""
    if reference is None or not terms:
        return []
    scores = reference.get_scores(terms)
    wanted = set(terms)
    matched = [(float(scores[i]), pid) for i, pid in enumerate(pids) if wanted & doc_sets[i]]
    matched.sort(key=lambda e: (-e[0], e[1]))
    return [(pid, score) for score, pid in matched]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def same_ranking(ours: list[tuple[int, float]], reference: list[tuple[int, float]], k: int) -> bool:
    """Whether our top k is the reference's: as many hits, the same scores rank by rank,
    and each of our documents has in the reference the score it has in ours (so documents
    may differ only among scores tied to rounding)."""
    top = reference[:k]
    if len(ours) != len(top) or not all(close(a[1], b[1]) for a, b in zip(ours, top)):
        return False
    scores = dict(reference)
    return len({pid for pid, _ in ours}) == len(ours) and all(pid in scores and close(scores[pid], s) for pid, s in ours)
