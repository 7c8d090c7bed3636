"""Tests of corpus.store: the SQLite store of articles and paragraphs."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import platformdirs
import pytest

from articlebot.corpus.errors import AmbiguousId, ArticleNotFound, IdCollision, StoreError
from articlebot.corpus.models import Article, Paragraph
from articlebot.corpus.store import SCHEMA_VERSION, Store, default_db_path, resolve_db_path

CST = timezone(timedelta(hours=8))


def sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def make_article(
    n: int = 3,
    source_path: str = "news/a.txt",
    content_hash: str | None = None,
    *,
    title: str = "北京发布暴雨预警",
    published: datetime | None = datetime(2024, 7, 30, 9, 15, tzinfo=CST),
    article_id: str | None = None,
    texts: list[str | None] | None = None,
) -> Article:
    content_hash = content_hash or sha(f"{source_path}:{title}:{n}")
    article_id = article_id or content_hash[:12]
    texts = texts if texts is not None else [f"第{i}段：{title}的正文内容。" for i in range(n)]
    paragraphs = tuple(
        Paragraph(article_id=article_id, index=i, text=t, section="一、概况" if i < 2 else "二、应对") for i, t in enumerate(texts)
    )
    return Article(
        id=article_id,
        title=title,
        source_path=source_path,
        content_hash=content_hash,
        paragraphs=paragraphs,
        published=published,
        author="新京报",
        reporter="新京报记者 徐美慧",
        categories=("社会", "天气"),
        tags=("暴雨", "北京"),
        url="https://example.com/a",
        original_title="原标题：北京暴雨",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "articlebot.db"


@pytest.fixture
def store(db_path: Path):
    with Store.open(db_path) as s:
        yield s


def sql_count(path: Path, sql: str, params: tuple = ()) -> int:
    """Count rows with a separate connection, so the store's own code is not trusted."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


# --- opening ----------------------------------------------------------------


def test_open_creates_parent_dir_schema_and_wal(db_path: Path):
    assert not db_path.parent.exists()
    with Store.open(db_path) as s:
        assert s.path == str(db_path)
        assert s.is_empty() and len(s) == 0
    assert db_path.is_file()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'paragraphs'").fetchone()[0]
        assert "AUTOINCREMENT" in sql
    finally:
        conn.close()


def test_connection_pragmas(store: Store):
    conn = store._conn
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_reopen_keeps_data(db_path: Path):
    art = make_article()
    with Store.open(db_path) as s:
        s.add(art)
    with Store.open(db_path) as s:
        assert s.get(art.id) == art
        assert s.stats().schema_version == SCHEMA_VERSION


def test_open_newer_schema_fails(db_path: Path):
    Store.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer") as info:
        Store.open(db_path)
    assert str(db_path) in str(info.value)


def test_open_directory_fails(tmp_path: Path):
    with pytest.raises(StoreError, match="it is a directory") as info:
        Store.open(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_open_garbage_file_fails_and_leaves_it_alone(tmp_path: Path):
    path = tmp_path / "notes.db"
    garbage = b"this is not an SQLite file\x00\xff" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not an SQLite database") as info:
        Store.open(path)
    assert str(path) in str(info.value)
    assert not isinstance(info.value, sqlite3.Error)
    assert path.read_bytes() == garbage


def test_open_foreign_sqlite_db_fails(tmp_path: Path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an articlebot store"):
        Store.open(path)


def test_open_unwritable_location_fails(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as info:
        Store.open(blocker / "sub" / "articlebot.db")  # parent "directory" is a regular file
    assert str(blocker / "sub" / "articlebot.db") in str(info.value)


def test_memory_store():
    with Store.memory() as s:
        assert s.path == ":memory:"
        assert s.add(make_article()) == "added"
        assert len(s) == 1


# --- paths ------------------------------------------------------------------


def test_default_db_path():
    assert default_db_path() == Path(platformdirs.user_data_dir("articlebot")) / "articlebot.db"


def test_resolve_db_path_precedence(tmp_path: Path):
    env = {"ARTICLEBOT_DB": str(tmp_path / "env.db")}
    assert resolve_db_path(str(tmp_path / "cli.db"), env=env) == tmp_path / "cli.db"
    assert resolve_db_path(None, env=env) == tmp_path / "env.db"
    assert resolve_db_path(None, env={"ARTICLEBOT_DB": ""}) == default_db_path()
    assert resolve_db_path(None, env={}) == default_db_path()


# --- add / get --------------------------------------------------------------


def test_add_get_round_trip(store: Store):
    art = make_article(4)
    assert store.add(art) == "added"
    got = store.get(art.id)
    assert got == art
    assert got.published.utcoffset() == timedelta(hours=8)
    assert got.published.isoformat() == "2024-07-30T09:15:00+08:00"
    assert got.categories == ("社会", "天气") and got.tags == ("暴雨", "北京")
    assert [p.section for p in got.paragraphs] == ["一、概况", "一、概况", "二、应对", "二、应对"]
    assert [p.index for p in got.paragraphs] == [0, 1, 2, 3]


def test_get_returns_paragraphs_in_index_order(store: Store):
    art = make_article(5)
    shuffled = Article(**{**art.__dict__, "paragraphs": tuple(reversed(art.paragraphs))})
    store.add(shuffled)
    assert store.get(art.id).paragraphs == art.paragraphs


def test_round_trip_without_optional_fields(store: Store):
    art = Article(id="0123456789ab", title="t", source_path="x.md", content_hash="0123456789abcdef")
    store.add(art)
    assert store.get(art.id) == art


def test_naive_published_rejected(store: Store):
    with pytest.raises(ValueError):
        store.add(make_article(published=datetime(2024, 1, 1)))
    assert store.is_empty()


def test_readd_is_unchanged(store: Store, db_path: Path):
    art = make_article(3)
    store.add(art)
    added_at = store.list_articles()[0].added_at
    assert store.add(art) == "unchanged"
    assert store.add(art, parser_version=0) == "unchanged"
    assert len(store) == 1
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 3
    assert store.list_articles()[0].added_at == added_at  # nothing rewritten


def test_same_source_path_new_content_replaces(store: Store, db_path: Path):
    old = make_article(3, "news/a.txt", sha("v1"))
    other = make_article(2, "news/b.txt", sha("other"))
    store.add(old)
    store.add(other)
    new = make_article(5, "news/a.txt", sha("v2"))
    assert store.add(new) == "replaced"
    with pytest.raises(ArticleNotFound):
        store.get(old.id)
    assert store.get(new.id) == new
    assert store.get(other.id) == other
    assert len(store) == 2
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 5 + 2
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs WHERE article_id = ?", (old.id,)) == 0


def test_older_parser_version_is_replaced(store: Store, db_path: Path):
    art = make_article(3)
    store.add(art, parser_version=1)
    reparsed = make_article(4, art.source_path, art.content_hash)
    assert store.add(reparsed, parser_version=2) == "replaced"
    assert store.get(art.id) == reparsed
    assert sql_count(db_path, "SELECT parser_version FROM articles") == 2
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 4
    assert store.add(art, parser_version=1) == "unchanged"  # never downgrade
    assert len(store.get(art.id).paragraphs) == 4


def test_same_id_other_content_is_an_error_not_dropped(store: Store):
    """An id collision (same 12 digits, different full hash) was reported "unchanged"
    and the second article silently dropped: now it fails, naming both files."""
    first = make_article(2, "a.txt", sha("one"), article_id="same-id-0001")
    clash = make_article(3, "b.txt", sha("two"), article_id="same-id-0001")
    store.add(first)
    with pytest.raises(IdCollision) as info:
        store.add(clash)
    assert "b.txt" in str(info.value) and "a.txt" in str(info.value) and "same-id-0001" in str(info.value)
    assert store.get("same-id-0001") == first  # the stored one is kept, untouched
    assert len(store) == 1


def test_same_id_other_content_at_the_same_path_replaces(store: Store):
    """The edited file whose new content happens to keep the id is a replacement, not a clash."""
    first = make_article(2, "a.txt", sha("one"), article_id="same-id-0001")
    edited = make_article(3, "a.txt", sha("two"), article_id="same-id-0001")
    store.add(first)
    assert store.add(edited) == "replaced"
    assert store.get("same-id-0001") == edited


def test_failed_add_rolls_back(store: Store, db_path: Path):
    kept = make_article(3, "kept.txt", sha("kept"))
    store.add(kept)
    bad = make_article(source_path="bad.txt", content_hash=sha("bad"), texts=["ok", None, "never"])
    with pytest.raises(StoreError) as info:
        store.add(bad)
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert sql_count(db_path, "SELECT count(*) FROM articles WHERE id = ?", (bad.id,)) == 0
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs WHERE article_id = ?", (bad.id,)) == 0
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 3
    assert store.get(kept.id) == kept
    assert store.add(make_article(1, "later.txt", sha("later"))) == "added"  # no transaction left open


def test_failed_replace_keeps_old_article(store: Store, db_path: Path):
    old = make_article(3, "a.txt", sha("v1"))
    store.add(old)
    bad = make_article(source_path="a.txt", content_hash=sha("v2"), texts=["ok", None])
    with pytest.raises(StoreError):
        store.add(bad)
    assert store.get(old.id) == old
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 3


# --- ids --------------------------------------------------------------------


def test_prefix_lookup_and_ambiguity(store: Store):
    a = make_article(1, "a.txt", "abcd1111" + "0" * 56)
    b = make_article(1, "b.txt", "abcd2222" + "0" * 56)
    store.add(a)
    store.add(b)
    assert store.get("abcd1").id == a.id
    assert store.resolve_id("abcd22") == b.id
    with pytest.raises(AmbiguousId) as info:
        store.get("abcd")
    assert a.id in str(info.value) and b.id in str(info.value)
    with pytest.raises(ArticleNotFound):
        store.get("abc1")  # long enough, matches nothing
    with pytest.raises(ArticleNotFound):
        store.get("ab")  # unique... but too short to trust


def test_exact_id_wins_over_prefix(store: Store):
    short = make_article(1, "a.txt", sha("x"), article_id="beef")
    longer = make_article(1, "b.txt", sha("y"), article_id="beef00112233")
    store.add(short)
    store.add(longer)
    assert store.get("beef").id == "beef"
    assert store.get("beef0").id == "beef00112233"


def test_unknown_id(store: Store):
    with pytest.raises(ArticleNotFound, match="no article with id 'deadbeef'"):
        store.get("deadbeef")
    with pytest.raises(ArticleNotFound):
        store.remove("deadbeef")


# --- remove -----------------------------------------------------------------


def test_remove_deletes_article_and_paragraphs(store: Store, db_path: Path):
    gone = make_article(4, "gone.txt", sha("gone"))
    kept = make_article(2, "kept.txt", sha("kept"))
    store.add(gone)
    store.add(kept)
    summary = store.remove(gone.id[:6])
    assert summary.id == gone.id and summary.paragraph_count == 4 and summary.title == gone.title
    with pytest.raises(ArticleNotFound):
        store.get(gone.id)
    assert sql_count(db_path, "SELECT count(*) FROM articles") == 1
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs WHERE article_id = ?", (gone.id,)) == 0
    assert sql_count(db_path, "SELECT count(*) FROM paragraphs") == 2


def test_pids_not_reused(store: Store):
    store.add(make_article(3, "a.txt", sha("a")))
    max_pid = max(pid for pid, _ in store.iter_paragraphs())
    store.remove(sha("a")[:12])
    store.add(make_article(3, "b.txt", sha("b")))
    new_pids = [pid for pid, _ in store.iter_paragraphs()]
    assert len(new_pids) == 3 and min(new_pids) > max_pid


def test_iter_paragraphs_in_pid_order(store: Store):
    a = make_article(2, "a.txt", sha("a"))
    b = make_article(3, "b.txt", sha("b"))
    store.add(a)
    store.add(b)
    items = list(store.iter_paragraphs())
    pids = [pid for pid, _ in items]
    assert pids == sorted(pids) and len(set(pids)) == 5
    assert [p for _, p in items] == list(a.paragraphs + b.paragraphs)


# --- list / stats -----------------------------------------------------------


def test_list_order_and_counts(store: Store):
    # 09:00+08:00 is 01:00 UTC, earlier than 02:00+00:00 although it sorts later as text.
    early = make_article(1, "e.txt", sha("e"), title="早", published=datetime(2024, 1, 1, 9, tzinfo=CST))
    late = make_article(2, "l.txt", sha("l"), title="晚", published=datetime(2024, 1, 1, 2, tzinfo=UTC))
    undated_b = make_article(3, "u1.txt", sha("u1"), title="B", published=None)
    undated_a = make_article(4, "u2.txt", sha("u2"), title="A", published=None)
    same_time_z = make_article(5, "z.txt", sha("z"), title="Z", published=datetime(2023, 5, 1, tzinfo=CST))
    same_time_y = make_article(6, "y.txt", sha("y"), title="Y", published=datetime(2023, 5, 1, tzinfo=CST))
    for art in (undated_b, early, same_time_z, undated_a, late, same_time_y):
        store.add(art)
    listed = store.list_articles()
    assert [s.title for s in listed] == ["晚", "早", "Y", "Z", "A", "B"]
    assert [s.paragraph_count for s in listed] == [2, 1, 6, 5, 4, 3]
    assert listed[0].published == late.published and listed[-1].published is None
    assert listed[0].source_path == "l.txt" and listed[0].author == "新京报"
    assert listed[0].added_at.tzinfo is not None


def test_stats(store: Store, db_path: Path):
    empty = store.stats()
    assert (empty.articles, empty.paragraphs, empty.characters, empty.last_added) == (0, 0, 0, None)
    assert empty.db_path == str(db_path) and empty.schema_version == SCHEMA_VERSION
    first = make_article(2, "a.txt", sha("a"), texts=["一二三", "四五"])
    second = make_article(3, "b.txt", sha("b"), title="第二篇", texts=["abc", "中文字", "x"])
    store.add(first)
    store.add(second)
    st = store.stats()
    assert (st.articles, st.paragraphs, st.characters) == (2, 5, 3 + 2 + 3 + 3 + 1)
    assert st.last_added.id == second.id and st.last_added.paragraph_count == 3
    assert st.to_dict()["last_added"]["title"] == "第二篇"
    assert not store.is_empty() and len(store) == 2
