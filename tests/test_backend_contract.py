"""The contract every retrieval engine behind Searcher keeps (retrieval/backend.py).

Parametrized over the implementations; a new engine (e.g. OpenSearch over pre-tokenized
text, docs/scaling.md) adds itself to ENGINES and must pass the same tests. Tests
marked exact are for engines that promise rank_bm25's scores (ours does; Lucene's BM25
ranks alike but scores differently, see docs/scaling.md).
"""

from __future__ import annotations

import pytest
from rank_bm25 import BM25Okapi

from articlebot.retrieval.backend import BackendWriter, SearchBackend
from articlebot.retrieval.bm25 import BM25Params
from articlebot.retrieval.index import Index

ENGINES = {"articlebot-index": Index}
EXACT = {"articlebot-index"}

DOCS = {
    1: ["北京", "一带", "一路", "一带一路", "任务", "清单"],
    2: ["世界", "旅游", "城市", "联合会", "会员", "223"],
    3: ["北京", "研发", "经费", "比重"],
    5: ["mysql", "服务器", "暴露", "互联网", "mysql"],
    8: ["北京", "北京", "冬奥会"],
}
PARAMS = BM25Params(k1=0.9, b=0.4)


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    backend = ENGINES[request.param]()
    pids = sorted(DOCS)
    backend.add(pids, [DOCS[p] for p in pids])
    backend.name = request.param
    return backend


def test_implements_the_protocol(engine):
    assert isinstance(engine, SearchBackend)


def test_counts_and_pids(engine):
    assert engine.n_docs == 5
    assert engine.max_pid() == 8
    assert list(engine.pids()) == [1, 2, 3, 5, 8]


def test_search_returns_matching_documents_best_first(engine):
    ranked, matched = engine.search(["北京"], 10, PARAMS)
    assert matched == 3
    assert {pid for pid, _ in ranked} == {1, 3, 8}
    assert ranked[0][0] == 8  # two occurrences in a short document
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert engine.search(["不存在"], 10, PARAMS) == ([], 0)
    assert engine.search([], 10, PARAMS) == ([], 0)


def test_k_limits_and_ties_break_by_pid(engine):
    engine.add([9, 10], [["同分"], ["同分"]])
    ranked, matched = engine.search(["同分"], 1, PARAMS)
    assert matched == 2 and [pid for pid, _ in ranked] == [9]


def test_new_pids_must_grow(engine):
    with pytest.raises(ValueError):
        engine.add([4], [["迟到"]])


def test_delete_forgets_documents(engine):
    assert engine.delete([3, 99]) == 1
    assert engine.n_docs == 4 and 3 not in set(engine.pids())
    ranked, matched = engine.search(["研发"], 10, PARAMS)
    assert (ranked, matched) == ([], 0)
    assert engine.delete([3]) == 0


def test_coverage(engine):
    assert engine.coverage(["世界", "旅游", "会员"], 2) == pytest.approx(1.0)
    assert engine.coverage(["世界", "旅游", "会员"], 1) == 0.0
    partial = engine.coverage(["世界", "从未出现的词"], 2)
    assert 0.0 < partial < 0.5  # the unseen word weighs as the rarest possible
    assert engine.coverage([], 2) == 0.0


def test_exact_scores_equal_rank_bm25(engine):
    if engine.name not in EXACT:
        pytest.skip("this engine ranks like BM25 but does not promise rank_bm25's scores")
    pids = sorted(DOCS)
    reference = BM25Okapi([DOCS[p] for p in pids], k1=PARAMS.k1, b=PARAMS.b, epsilon=PARAMS.epsilon)
    for query in (["北京"], ["北京", "研发", "mysql"], ["mysql", "mysql"]):
        expected = reference.get_scores(query)
        ranked, _ = engine.search(query, 10, PARAMS)
        for pid, score in ranked:
            assert score == pytest.approx(expected[pids.index(pid)], rel=1e-9)


def test_the_index_writer_implements_the_writer_seam(tmp_path):
    from articlebot.corpus.store import Store
    from articlebot.retrieval.tokenize import Tokenizer
    from articlebot.retrieval.writer import IndexWriter

    with Store.open(tmp_path / "s.db") as store:
        writer = IndexWriter(store, Tokenizer(), ("text",), None)
        assert isinstance(writer, BackendWriter)
        assert isinstance(writer.empty(), SearchBackend)
