"""The index: incremental changes equal a full rebuild, persistence, format versions."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from articlebot.retrieval.index import FORMAT_VERSION, Index, IndexFormatError
from articlebot.retrieval.segment import hash_terms


def corpus(seed, n=200, vocab=40):
    rng = random.Random(seed)
    return [[f"t{int(rng.paretovariate(1.2)) % vocab}" for _ in range(rng.randint(0, 20))] for _ in range(n)]


def scores_by_pid(index, query):
    pids, scores = index.score(query)
    return dict(zip(pids.tolist(), scores.tolist()))


QUERIES = [["t0"], ["t1", "t2"], ["t3", "t3", "t9"], ["t39"], ["t5", "t0", "t1"]]


def assert_equal_to_rebuild(index, live):
    """`live`: {pid: tokens} that the index should hold."""
    pids = sorted(live)
    rebuilt = Index()
    rebuilt.add(pids, [live[p] for p in pids])
    assert index.n_docs == rebuilt.n_docs
    assert index.total_length == rebuilt.total_length
    assert np.array_equal(index.vocab_hash, rebuilt.vocab_hash)
    assert np.array_equal(index.vocab_df, rebuilt.vocab_df)
    assert np.array_equal(index.pids(), np.array(pids))
    for q in QUERIES:
        a, b = scores_by_pid(index, q), scores_by_pid(rebuilt, q)
        assert a.keys() == b.keys()
        for pid in a:
            assert a[pid] == pytest.approx(b[pid], rel=1e-12, abs=1e-15)


def test_adds_in_batches_equal_one_build():
    docs = corpus(1)
    index = Index()
    for start in range(0, len(docs), 37):
        batch = docs[start : start + 37]
        index.add(list(range(start + 1, start + 1 + len(batch))), batch)
    assert len(index.segments) > 1
    assert_equal_to_rebuild(index, {i + 1: d for i, d in enumerate(docs)})


def test_deletes_and_adds_equal_rebuild_then_merge_keeps_it():
    docs = corpus(2)
    live = {i + 1: d for i, d in enumerate(docs)}
    index = Index()
    index.add(list(live), list(live.values()))
    rng = random.Random(3)
    gone = rng.sample(sorted(live), 60)
    assert index.delete(gone) == 60
    for pid in gone:
        del live[pid]
    assert index.delete(gone) == 0  # already deleted
    extra = corpus(4, n=30)
    new_pids = list(range(1000, 1030))
    index.add(new_pids, extra)
    live.update(zip(new_pids, extra))
    assert_equal_to_rebuild(index, live)
    assert index.needs_merge()  # 60 of 230 deleted
    index.merge()
    assert len(index.segments) == 1
    assert_equal_to_rebuild(index, live)


def test_deleting_everything_leaves_an_empty_index():
    index = Index()
    index.add([1, 2], [["a"], ["b", "a"]])
    index.delete([1, 2])
    assert index.n_docs == 0 and len(index.vocab_hash) == 0
    assert index.top(["a"], k=3) == []


def test_save_and_load_round_trip(tmp_path):
    docs = corpus(5)
    index = Index(fingerprint="tok-1")
    index.add(list(range(1, 101)), docs[:100])
    index.add(list(range(101, 201)), docs[100:])
    index.delete([3, 150])
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert loaded.fingerprint == "tok-1"
    assert loaded.generation == index.generation
    for q in QUERIES:
        assert scores_by_pid(loaded, q) == scores_by_pid(index, q)
    # arrays are memory-mapped, not read into memory
    assert not loaded.segments[0].post_doc.flags.owndata  # a view of the mapped file
    # and a loaded index keeps changing correctly
    loaded.add([500], [["t1", "t2"]])
    live = {i + 1: d for i, d in enumerate(docs) if i + 1 not in (3, 150)}
    live[500] = ["t1", "t2"]
    assert_equal_to_rebuild(loaded, live)


def test_save_writes_no_pickle_and_cleans_old_generations(tmp_path):
    index = Index()
    index.add([1, 2], [["a"], ["b"]])
    index.save(tmp_path)
    index.add([3], [["c"]])
    index.save(tmp_path)
    index.merge()
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == FORMAT_VERSION and len(manifest["segments"]) == 1
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "manifest.json",
        manifest["segments"][0]["name"],
        f"vocab_hash-{index.generation:06d}.npy",
        f"vocab_df-{index.generation:06d}.npy",
    }
    for npy in tmp_path.rglob("*.npy"):
        np.load(npy, allow_pickle=False)  # raises if any array needed pickle


def test_older_format_version_is_a_clear_error(tmp_path):
    index = Index()
    index.add([1], [["a"]])
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["version"] = FORMAT_VERSION - 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version"):
        Index.load(tmp_path)


@pytest.mark.parametrize("content", ["not json", '{"format": "something-else", "version": 1}', "[]"])
def test_foreign_or_broken_manifest_is_a_clear_error(tmp_path, content):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(IndexFormatError):
        Index.load(tmp_path)


def test_missing_segment_files_are_a_clear_error(tmp_path):
    index = Index()
    index.add([1], [["a"]])
    index.save(tmp_path)
    name = json.loads((tmp_path / "manifest.json").read_text())["segments"][0]["name"]
    (tmp_path / name / "post_doc.npy").unlink()
    with pytest.raises(IndexFormatError, match="damaged"):
        Index.load(tmp_path)


@pytest.mark.parametrize("compiled", [True, False])
def test_top_k_skips_deleted_documents_on_both_paths(compiled, monkeypatch):
    from articlebot.retrieval import kernels

    if compiled and not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "ENABLED", compiled)
    monkeypatch.setattr(kernels, "MIN_DOCS", 0)
    docs = corpus(9)
    live = {i + 1: d for i, d in enumerate(docs)}
    index = Index()
    index.add(list(range(1, 101)), docs[:100])
    index.add(list(range(101, 201)), docs[100:])
    gone = [p for p, _ in index.top(["t1", "t2"], k=5)]
    index.delete(gone)
    for pid in gone:
        del live[pid]
    rebuilt = Index()
    rebuilt.add(sorted(live), [live[p] for p in sorted(live)])
    for q in QUERIES:
        got, want = index.top(q, k=10), rebuilt.top(q, k=10)
        assert [p for p, _ in got] == [p for p, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-12)
        exact = len(rebuilt.score(q)[0])  # documents holding a query term
        assert len(index.score(q)[0]) == exact
        matched = index.search(q, k=10)[1]
        assert matched == exact or (compiled and matched > max(10, exact))
    assert not set(gone) & {p for p, _ in index.top(["t1", "t2"], k=50)}


def test_pruned_top_k_equals_exhaustive_scoring(monkeypatch):
    """The compiled kernel skips postings that cannot reach the top k (max-score
    pruning). Its top k must be exactly the exhaustive one, on the first query of a
    term (bounds not known yet) and on later ones (bounds learnt), with deleted
    documents, exact ties (duplicated documents) and several segments."""
    from articlebot.retrieval import kernels

    if not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "MIN_DOCS", 0)
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(300)]

    def doc():  # a few very common words and a long tail, like news text
        return [vocab[min(int(rng.paretovariate(0.8)) - 1, len(vocab) - 1)] for _ in range(rng.randint(1, 30))]

    docs = [doc() for _ in range(3000)]
    docs += docs[:300]  # exact duplicates: ties that only the pid order breaks
    index = Index()
    index.add(list(range(1, 2801)), docs[:2800])
    index.add(list(range(2801, len(docs) + 1)), docs[2800:])
    index.delete(list(range(5, 3300, 37)))
    assert len(index.segments) > 1
    queries = [[vocab[rng.randint(0, 3)]] + [vocab[int(rng.expovariate(1 / 40)) % len(vocab)] for _ in range(rng.randint(1, 5))]
               for _ in range(150)]  # fmt: skip
    pruned = 0
    for round_ in range(2):
        for query in queries:
            pids, scores = index.score(query)  # every matching document, no pruning
            exhaustive = top_k_exhaustive(pids, scores, 10)
            for k in (1, 3, 10):
                got, matched = index.search(query, k)
                assert [p for p, _ in got] == [p for p, _ in exhaustive[:k]], (round_, query, k)
                assert [s for _, s in got] == pytest.approx([s for _, s in exhaustive[:k]], rel=1e-12)
                assert matched == len(pids) or matched > max(k, len(pids))
                pruned += matched != len(pids)
    assert pruned > 100  # the test exercised the pruning, not only the full scan


def top_k_exhaustive(pids, scores, k):
    order = sorted(range(len(pids)), key=lambda i: (-scores[i], pids[i]))[:k]
    return [(int(pids[i]), float(scores[i])) for i in order]


def test_compiled_merge_equals_numpy_merge(monkeypatch):
    """Big merges run through compiled loops: they must give the numpy merge's arrays,
    bit for bit, with deleted documents and terms whose every document was deleted."""
    from articlebot.retrieval import kernels
    from articlebot.retrieval.segment import Segment, merge

    if not kernels.ENABLED:
        pytest.skip("numba is not installed")
    docs = corpus(11, n=600, vocab=120)
    docs[5] = ["only-here", "t1"]
    segments = [Segment.build(list(range(start + 1, start + 201)), docs[start : start + 200]) for start in (0, 200, 400)]
    segments.append(Segment.build([], []))
    for segment, gone in zip(segments, ([5, 6, 7], [], list(range(0, 200, 3)))):
        segment.deleted = segment.deleted.copy()
        segment.deleted[gone] = True
    monkeypatch.setattr(kernels, "MERGE_MIN_POSTINGS", 10**12)
    expected = merge(segments)
    monkeypatch.setattr(kernels, "MERGE_MIN_POSTINGS", 0)
    got = merge(segments)
    for name in ("term_hash", "post_ptr", "post_doc", "post_tf", "doc_pid", "doc_len", "term_max_tf", "term_min_dl", "deleted"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert got.postings(int(hash_terms(["only-here"])[0])) is None  # its one document was deleted


@pytest.mark.parametrize("compiled_merge", [False, True])
def test_frequencies_beyond_two_bytes_are_kept_exactly(compiled_merge, monkeypatch):
    """Term frequencies are stored in 2 bytes, and in 4 for a segment where one does not
    fit; merging such a segment with 2-byte ones keeps every frequency, and scores stay
    rank_bm25's."""
    from rank_bm25 import BM25Okapi

    from articlebot.retrieval import kernels

    if compiled_merge and not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "MERGE_MIN_POSTINGS", 0 if compiled_merge else 10**12)
    docs = [["a", "b"], ["b"], ["c"], ["b", "c"], ["a"] * 70_000 + ["c"], ["c", "a"]]
    index = Index()
    index.add([1, 2, 3, 4], docs[:4])
    index.add([5], docs[4:5])
    assert [s.post_tf.dtype for s in index.segments] == [np.uint16, np.int32]
    index.merge()
    assert len(index.segments) == 1 and index.segments[0].post_tf.dtype == np.int32
    index.add([6], docs[5:])
    reference = BM25Okapi(docs).get_scores(["a"])
    got = scores_by_pid(index, ["a"])
    for pid in (1, 5, 6):
        assert got[pid] == pytest.approx(reference[pid - 1], rel=1e-12)
    expected = sorted((pid for pid in (1, 5, 6)), key=lambda pid: (-reference[pid - 1], pid))
    assert [p for p, _ in index.top(["a"], k=4)] == expected


@pytest.mark.parametrize("compiled_merge", [False, True])
def test_term_stats_bound_every_posting(compiled_merge, monkeypatch, tmp_path):
    """Each term's largest frequency and shortest document (what the pruning's bounds are
    made of) are exact over its postings, after building, merging (with deletions) and a
    save/load; the bound made of them is at least every posting's saturated tf."""
    from articlebot.retrieval import kernels
    from articlebot.retrieval.bm25 import BM25Params, length_norm

    if compiled_merge and not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "MERGE_MIN_POSTINGS", 0 if compiled_merge else 10**12)
    docs = corpus(5, n=400, vocab=60)
    index = Index()
    index.add(list(range(1, 301)), docs[:300])
    index.add(list(range(301, 401)), docs[300:])
    index.delete(list(range(1, 400, 3)))
    index.merge()
    index.save(tmp_path)
    index = Index.load(tmp_path)
    params = BM25Params()
    for segment in index.segments:
        for t in range(len(segment.term_hash)):
            lo, hi = segment.post_ptr[t], segment.post_ptr[t + 1]
            docs_t, tfs = segment.post_doc[lo:hi], segment.post_tf[lo:hi]
            assert segment.term_max_tf[t] == tfs.max()
            assert segment.term_min_dl[t] == segment.doc_len[docs_t].min()
        bound = index._ratio_bound(segment, np.arange(len(segment.term_hash)), params)
        norm = length_norm(segment.doc_len, index.avgdl, params)
        for t in range(len(segment.term_hash)):
            lo, hi = segment.post_ptr[t], segment.post_ptr[t + 1]
            tf = segment.post_tf[lo:hi].astype(float)
            assert (tf * (params.k1 + 1) / (tf + norm[segment.post_doc[lo:hi]]) <= bound[t] * (1 + 1e-12)).all()


def test_bulk_load_merges_once_and_small_adds_keep_geometric_segments(monkeypatch):
    """Batches added with merge=False are merged by one merge_tail() call: a bulk load
    into an empty index ends as one segment (up to MAX_MERGED_DOCS documents each),
    a small add after it stays a small segment, and results equal a full rebuild."""
    import articlebot.retrieval.index as index_module

    monkeypatch.setattr(index_module, "SEGMENT_DOCS", 40)
    monkeypatch.setattr(index_module, "MAX_MERGED_DOCS", 250)
    docs = corpus(21, n=330)
    live = {i + 1: d for i, d in enumerate(docs)}
    index = Index()
    for start in range(0, 300, 60):  # five batches of a bulk load
        index.add(list(range(start + 1, start + 61)), docs[start : start + 60], merge=False)
    assert len(index.segments) == 10  # 40 + 20 per batch, nothing merged yet
    index.merge_tail(0)
    assert [s.n_docs for s in index.segments] == [240, 60]  # grouped up to MAX_MERGED_DOCS
    index.add(list(range(301, 306)), docs[300:305])  # a small add: its own segment
    assert [s.n_docs for s in index.segments] == [240, 60, 5]
    index.add(list(range(306, 331)), docs[305:330])  # 25 new take the 5 (<= 2 x 25), then the 60 (<= 2 x 30)
    assert [s.n_docs for s in index.segments] == [240, 90]
    assert_equal_to_rebuild(index, live)


def test_warm_up_loads_the_compiled_scorer_before_any_question(monkeypatch):
    from articlebot.retrieval import kernels

    if not kernels.ENABLED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernels, "MIN_DOCS", 0)
    monkeypatch.setattr(kernels, "_compiled", None)
    index = Index()
    index.add([1, 2, 3], [["a", "b"], ["b"], ["c"]])
    index.warm_up()
    assert kernels._compiled is not None
    assert [p for p, _ in index.top(["b"], k=2)] == [2, 1]  # and the index still answers


def test_equality_is_identity_and_never_raises():
    """A dataclass __eq__ would compare the numpy fields and raise ValueError."""
    a, b = Index(), Index()
    assert a == a and a != b
    assert len({a, b}) == 2  # hashable, by identity
