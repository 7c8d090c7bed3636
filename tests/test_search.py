"""Search over a store: acceptance questions, the no-answer rule, diversity, highlights,
and an index that follows the store (other processes' adds and removes, persistence,
format changes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from paths import SEED

from articlebot.corpus.ingest import add_paths
from articlebot.corpus.parse import parse_file
from articlebot.corpus.sample import open_sample_store, sample_files
from articlebot.corpus.store import Store
from articlebot.retrieval.index import FORMAT_VERSION
from articlebot.retrieval.search import SearchConfig, Searcher
from articlebot.retrieval.tokenize import normalize

NOW = SearchConfig(refresh_interval=0)  # check the store before every search


@pytest.fixture(scope="module")
def sample_searcher(tokenizer):
    return Searcher(open_sample_store(), tokenizer=tokenizer)


@pytest.fixture
def seed_store(tmp_path):
    store = Store.open(tmp_path / "s.db")
    add_paths(store, [SEED])
    yield store
    store.close()


@pytest.mark.parametrize("use_sample", [False, True])
@pytest.mark.parametrize(
    "query, expected",
    [("研发经费占GDP比重", "6%左右"), ("世界旅游城市联合会有多少会员", "223个会员")],
)
def test_acceptance_questions(query, expected, use_sample, sample_searcher, seed_store, tokenizer):
    searcher = sample_searcher if use_sample else Searcher(seed_store, tokenizer=tokenizer)
    hits = searcher.search(query, k=3)
    assert expected in hits[0].text
    assert hits[0].title == "北京：打造共建“一带一路”高标准建设的试验示范"


@pytest.mark.parametrize("query", ["特斯拉股价", "比特币挖矿", "欧洲杯冠军是哪个队", "英超联赛积分榜"])
def test_no_answer_questions_get_no_hits(query, sample_searcher):
    assert sample_searcher.search(query) == []


def test_ad_text_removed_by_cleaning_is_not_found(seed_store, tokenizer):
    # 理财券 appeared only in the seed's ad block, which the cleaner drops
    assert Searcher(seed_store, tokenizer=tokenizer).search("理财券") == []


def test_no_answer_rule_uses_coverage_of_the_question(sample_searcher):
    index = sample_searcher.index
    terms = sample_searcher.tokenizer.tokens("世界旅游城市联合会有多少会员")
    best = sample_searcher.search("世界旅游城市联合会有多少会员", k=1)[0]
    assert index.coverage(terms, best.pid) > 0.9  # every word of the question is in it
    assert index.coverage(terms + ["完全不存在的词"], best.pid) < index.coverage(terms, best.pid)
    assert index.coverage([], best.pid) == 0.0


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "的了吗？",
        "，。！？、“”",
        "\x00\x01\x1b[31m",
        "'; DROP TABLE paragraphs; --",
        ".*+?[](){}|\\^$",
        "北京" * 5000,
        "a" * 10000,
    ],
)
def test_hostile_queries_never_raise(query, sample_searcher):
    hits = sample_searcher.search(query, k=5)
    assert isinstance(hits, list)
    assert len(hits) <= 5


def test_hit_fields_and_order(sample_searcher):
    hits = sample_searcher.search("Chrome 100 版本号", k=5, per_article=None)
    assert hits
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    article = sample_searcher.store.get(top.article_id)
    paragraph = article.paragraphs[top.paragraph_index]
    assert (top.text, top.section, top.title, top.published, top.author, top.url) == (
        paragraph.text,
        paragraph.section,
        article.title,
        article.published,
        article.author,
        article.url,
    )
    assert top.docid == f"{top.article_id}:{top.paragraph_index}"
    assert json.loads(json.dumps(top.to_dict()))["title"] == article.title


def test_per_article_diversity(sample_searcher):
    unlimited = sample_searcher.search("一带一路", k=5, per_article=None)
    assert len({h.article_id for h in unlimited}) == 1  # the seed article dominates
    limited = sample_searcher.search("一带一路", k=5, per_article=2)
    counts = {}
    for h in limited:
        counts[h.article_id] = counts.get(h.article_id, 0) + 1
    assert max(counts.values()) <= 2
    assert [h.pid for h in limited[:2]] == [h.pid for h in unlimited[:2]]


def test_highlights_point_at_query_terms(sample_searcher, tokenizer):
    query = "MySQL服务器暴露"
    terms = set(tokenizer.tokens(query))
    hits = sample_searcher.search(query, k=3)
    assert hits
    for hit in hits:
        assert hit.highlights
        last_end = -1
        for start, end in hit.highlights:
            assert last_end < start < end <= len(hit.text)  # sorted, merged, inside the text
            last_end = end
            span_terms = set(tokenizer.tokens(hit.text[start:end]))
            assert span_terms & terms, hit.text[start:end]
    assert any(normalize(hits[0].text[s:e]) == "mysql" for s, e in hits[0].highlights)


# --- the index follows the store --------------------------------------------------------


def scores(searcher, query):
    return [(h.pid, round(h.score, 9)) for h in searcher.search(query, k=20, per_article=None)]


def test_index_saved_beside_store_and_reused(seed_store, tokenizer):
    first = Searcher(seed_store, tokenizer=tokenizer)
    assert first.refresh().added == 31
    assert (first.writer.index_dir / "manifest.json").exists()
    second = Searcher(seed_store, tokenizer=tokenizer)
    report = second.refresh()
    assert report.added == 0 and not report.rebuilt
    assert scores(second, "一带一路 科技创新") == scores(first, "一带一路 科技创新")


def test_changes_by_another_connection_are_seen_and_equal_a_rebuild(tmp_path, tokenizer):
    db = tmp_path / "c.db"
    files = sample_files()
    writer = Store.open(db)
    add_paths(writer, files[:10])
    reader = Store.open(db)
    searcher = Searcher(reader, NOW, tokenizer=tokenizer)
    query = "微软 Windows 11 漏洞"
    before = scores(searcher, query)

    add_paths(writer, files[10:])  # another "process" adds articles...
    after_add = scores(searcher, query)
    assert after_add != before
    added_ids = {parse_file(f).id for f in files[10:]}
    assert any(h.article_id in added_ids for h in searcher.search(query, k=10, per_article=None))

    victim = searcher.search(query, k=1)[0].article_id
    writer.remove(victim)  # ...and removes one
    after_remove = searcher.search(query, k=20, per_article=None)
    assert victim not in {h.article_id for h in after_remove}

    # the incrementally updated index gives exactly what a fresh build gives
    fresh = Searcher(Store.open(db), index_dir=None, tokenizer=tokenizer)
    assert scores(searcher, query) == scores(fresh, query)
    assert scores(searcher, "北京 一带一路") == scores(fresh, "北京 一带一路")
    writer.close()


def test_older_index_format_is_rebuilt_with_a_reason(seed_store, tokenizer):
    Searcher(seed_store, tokenizer=tokenizer).refresh()
    manifest_path = seed_store.path + ".index/manifest.json"
    manifest = json.loads(Path(manifest_path).read_text())
    manifest["version"] = FORMAT_VERSION - 1
    Path(manifest_path).write_text(json.dumps(manifest))
    again = Searcher(seed_store, tokenizer=tokenizer)
    report = again.refresh()
    assert report.rebuilt and "format version" in report.reason
    assert again.search("世界旅游城市联合会有多少会员")[0].text.count("223个会员") == 1


def test_index_of_another_store_at_the_same_path_is_not_reused(tmp_path, tokenizer):
    db = tmp_path / "r.db"
    with Store.open(db) as store:
        add_paths(store, [SEED])
        Searcher(store, tokenizer=tokenizer).refresh()
    index_dir = tmp_path / "r.db.index"
    kept = tmp_path / "kept-index"
    shutil.copytree(index_dir, kept)
    db.unlink()
    with Store.open(db) as store:  # a new store: paragraph ids start again at 1
        add_paths(store, [sample_files()[0]])
        shutil.rmtree(index_dir)
        shutil.copytree(kept, index_dir)
        searcher = Searcher(store, tokenizer=tokenizer)
        assert searcher.refresh().rebuilt
        assert searcher.search("世界旅游城市联合会有多少会员") == []


def test_parallel_tokenizing_builds_the_same_index(tmp_path, tokenizer, monkeypatch):
    from articlebot.retrieval import writer as writer_module

    monkeypatch.setattr(writer_module, "PARALLEL_MIN_PARAGRAPHS", 10)
    monkeypatch.setattr(writer_module, "BATCH", 120)  # several batches through the pool
    store = open_sample_store()
    serial = Searcher(store, index_dir=None, tokenizer=tokenizer)
    parallel = Searcher(store, index_dir=None, tokenizer=tokenizer, jobs=2)
    serial.refresh(), parallel.refresh()
    assert parallel.index.n_docs == serial.index.n_docs == store.paragraph_count()
    for query in ("一带一路 科技创新", "MySQL 服务器", "遗嘱 财产"):
        assert scores(parallel, query) == scores(serial, query)


def test_a_searcher_writes_nothing_until_it_is_asked(seed_store, tokenizer):
    """Building a Searcher is cheap and has no side effect: the index is brought up to
    date (and saved beside the store) by its writer, on the first question."""
    index_dir = Path(seed_store.path + ".index")
    searcher = Searcher(seed_store, tokenizer=tokenizer)
    assert not index_dir.exists() and searcher.index.n_docs == 0
    assert searcher.search("世界旅游城市联合会有多少会员")
    assert (index_dir / "manifest.json").exists() and searcher.last_refresh.added == seed_store.paragraph_count()


def test_update_index_brings_the_saved_index_up_to_date_without_a_searcher(seed_store, tokenizer):
    from articlebot.retrieval.search import update_index

    report = update_index(seed_store)
    assert report.added == seed_store.paragraph_count()
    assert update_index(seed_store).added == 0  # the saved index is taken up, nothing redone
    assert Searcher(seed_store, tokenizer=tokenizer).refresh().added == 0


class CountingWriter:
    """Another engine's writer: Searcher needs nothing but the BackendWriter seam."""

    def __init__(self, inner):
        self.inner, self.updates = inner, 0

    def empty(self):
        return self.inner.empty()

    def update(self, index):
        self.updates += 1
        return self.inner.update(index)


def test_searcher_takes_any_writer(seed_store, tokenizer):
    from articlebot.retrieval.writer import IndexWriter

    writer = CountingWriter(IndexWriter(seed_store, tokenizer, SearchConfig().fields, None))
    searcher = Searcher(seed_store, tokenizer=tokenizer, writer=writer)
    assert searcher.search("世界旅游城市联合会有多少会员")[0].text.count("223个会员") == 1
    searcher.search("一带一路")
    assert writer.updates == 1  # the store did not change: no second update
