"""Our BM25 Okapi against the reference, rank_bm25 0.2.2 BM25Okapi, on generated corpora.

Scores must agree to 1e-9 relative for every document holding a query term (documents
holding none score exactly 0 in rank_bm25 and are not returned by our index), and the
top-k order must be rank_bm25's order with ties broken by paragraph id.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from articlebot.retrieval import kernels
from articlebot.retrieval.bm25 import BM25Params
from articlebot.retrieval.index import Index

REL = 1e-9


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """Run top-k through the numba kernel and through the numpy fallback."""
    if request.param == "compiled" and not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "ENABLED", request.param == "compiled")
    monkeypatch.setattr(kernels, "MIN_DOCS", 0)  # compile even for tiny test corpora
    return request.param


def build(docs, start_pid=1):
    index = Index()
    index.add(list(range(start_pid, start_pid + len(docs))), docs)
    return index


def assert_same_scores(index, docs, query, params=BM25Params(), pids=None):
    pids = pids if pids is not None else list(range(1, len(docs) + 1))
    reference = BM25Okapi(docs, k1=params.k1, b=params.b, epsilon=params.epsilon).get_scores(query)
    got_pids, got_scores = index.score(query, params)
    got = dict(zip(got_pids.tolist(), got_scores.tolist()))
    query_set = set(query)
    for i, pid in enumerate(pids):
        holds_term = bool(query_set & set(docs[i]))
        assert (pid in got) == holds_term, (pid, docs[i], query)
        if holds_term:
            assert got[pid] == pytest.approx(reference[i], rel=REL, abs=1e-12), (pid, query)
        elif docs[i] or params.b != 1.0:
            assert reference[i] == 0.0
        else:  # rank_bm25 divides 0 by 0 for an empty document when b = 1; we never return it
            assert np.isnan(reference[i])
    return reference, got


def reference_order(reference, docs, query, pids):
    query_set = set(query)
    matched = [(-reference[i], pid) for i, pid in enumerate(pids) if query_set & set(docs[i])]
    return [pid for _, pid in sorted(matched)]


def random_corpus(rng, n_docs, vocab, max_len):
    words = [f"w{i}" for i in range(vocab)]
    # Zipf-like: low word numbers are frequent, so some idfs are negative
    return [[words[min(int(rng.paretovariate(1.1)) - 1, vocab - 1)] for _ in range(rng.randint(0, max_len))] for _ in range(n_docs)]


@pytest.mark.parametrize("seed", range(8))
def test_random_corpora_scores_and_order(seed, path):
    rng = random.Random(seed)
    docs = random_corpus(rng, rng.randint(1, 300), rng.randint(2, 80), rng.randint(1, 40))
    index = build(docs)
    pids = list(range(1, len(docs) + 1))
    for _ in range(10):
        query = [f"w{rng.randint(0, 90)}" for _ in range(rng.randint(1, 6))]
        reference, _ = assert_same_scores(index, docs, query)
        expected = reference_order(reference, docs, query, pids)
        top = index.top(query, k=10)
        assert [pid for pid, _ in top] == expected[:10]
        for pid, score in top:
            assert score == pytest.approx(reference[pid - 1], rel=REL, abs=1e-12)
        matched = index.search(query, k=10)[1]  # number of matching documents
        if path == "numpy":
            assert matched == len(expected)
        else:  # exact, or an upper bound above k when the kernel skipped postings
            assert matched == len(expected) or matched > max(10, len(expected))


def test_repeated_query_tokens_count_each_time():
    docs = [["a", "b"], ["a", "c", "c"], ["b", "c"], ["d"], ["d", "d", "a"]]
    index = build(docs)
    single, _ = assert_same_scores(index, docs, ["c"])
    double, got = assert_same_scores(index, docs, ["c", "c"])
    assert double[1] == pytest.approx(2 * single[1])
    assert_same_scores(index, docs, ["c", "a", "c", "zzz", "a"])


def test_df_half_of_corpus_gives_zero_idf():
    docs = [["x", "y"], ["x"], ["y"], ["z"]]  # x in 2 of 4 documents: ln(2.5) - ln(2.5) = 0
    index = build(docs)
    reference, got = assert_same_scores(index, docs, ["x"])
    assert got[1] == 0.0 and got[2] == 0.0


def test_word_in_every_document_gets_epsilon_times_mean_idf():
    docs = [["the", "a"], ["the", "b"], ["the", "c"], ["the", "d", "d"]]
    index = build(docs)
    reference, got = assert_same_scores(index, docs, ["the"])
    ref_model = BM25Okapi(docs)
    assert ref_model.idf["the"] == pytest.approx(0.25 * ref_model.average_idf)
    assert got[4] == pytest.approx(reference[3], rel=REL)


def test_one_document_corpus_scores_negative_like_reference():
    docs = [["only", "doc", "doc"]]
    index = build(docs)
    reference, got = assert_same_scores(index, docs, ["doc"])
    assert got[1] < 0  # idf is negative for a word in the only document, as in rank_bm25


def test_tiny_corpora():
    for docs in ([["a"]], [["a"], ["b"]], [["a"], []], [[], [], ["a", "a"]], [["a", "b"], ["b", "a"]]):
        index = build(docs)
        for query in (["a"], ["b"], ["a", "b"], ["c"]):
            assert_same_scores(index, docs, query)


def test_empty_corpus_returns_nothing_where_reference_crashes():
    with pytest.raises(ZeroDivisionError):
        BM25Okapi([])
    index = Index()
    assert index.top(["a"], k=5) == []
    pids, scores = index.score(["a"])
    assert len(pids) == 0 and len(scores) == 0


def test_empty_query_and_unknown_terms(path):
    index = build([["a"], ["b"]])
    assert index.top([], k=5) == []
    assert index.top(["nothing", "here"], k=5) == []


@pytest.mark.parametrize(
    "params", [BM25Params(k1=1.2, b=0.75), BM25Params(k1=0.9, b=0.4, epsilon=0.1), BM25Params(k1=2.0, b=1.0), BM25Params(k1=1.5, b=0.0)]
)
def test_parameters_are_honoured(params):
    rng = random.Random(42)
    docs = random_corpus(rng, 120, 30, 25)
    index = build(docs)
    with np.errstate(invalid="ignore"):
        for query in (["w0", "w3"], ["w1"], ["w7", "w7", "w2"]):
            assert_same_scores(index, docs, query, params)


def test_ties_broken_by_paragraph_id(path):
    docs = [["a", "b"], ["c"], ["a", "b"], ["a", "b"], ["d"]]
    index = build(docs, start_pid=10)
    top = index.top(["a"], k=2)
    assert [pid for pid, _ in top] == [10, 12]
    assert top[0][1] == top[1][1]


def test_top_k_does_not_depend_on_k(path):
    rng = random.Random(7)
    docs = random_corpus(rng, 500, 20, 15)
    index = build(docs)
    full = index.top(["w1", "w2"], k=1000)
    for k in (1, 3, 10, 50):
        assert index.top(["w1", "w2"], k=k) == full[:k]


def test_bad_parameters_rejected():
    with pytest.raises(ValueError):
        BM25Params(b=1.5)
    with pytest.raises(ValueError):
        BM25Params(k1=-1)
