"""Tests of corpus.ingest: adding files and directory trees to a store (library level)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from paths import SEED

from articlebot.corpus.ingest import AddReport, add_paths, iter_article_files
from articlebot.corpus.parse import parse_file
from articlebot.corpus.store import Store

# A long enough sentence that merge_short never folds a paragraph into its neighbour
# (MIN_CHARS = 10) and short enough that split_long never splits it (MAX_CHARS = 500).
SENTENCE = "上海市今天发布了关于城市更新的新政策，涉及老旧小区改造、公共空间提升和交通组织优化等多个方面的内容"
MARKER = "触发器标记XYZ"


def markdown_article(title: str, n: int = 3, marker_in: int | None = None, extra: str = "") -> str:
    """A plain markdown article: '# title' then n paragraphs (the marker in paragraph `marker_in`)."""
    paragraphs = [f"{SENTENCE}，{title}第{i}段{MARKER if i == marker_in else ''}{extra}。" for i in range(n)]
    return f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"


def html_page(title: str, n: int = 4) -> str:
    body = "".join(f"<p>{SENTENCE}，{title}第{i}段。</p>" for i in range(n))
    return f"<!DOCTYPE html><html><head><title>{title} - 某某网</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


def file_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def dump(db: Path) -> tuple[list, list]:
    """Every row of the articles and paragraphs tables, read through a separate connection."""
    conn = sqlite3.connect(db)
    try:
        articles = conn.execute("SELECT * FROM articles ORDER BY id").fetchall()
        paragraphs = conn.execute("SELECT * FROM paragraphs ORDER BY pid").fetchall()
    finally:
        conn.close()
    return articles, paragraphs


def paragraph_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT a.id, (SELECT count(*) FROM paragraphs p WHERE p.article_id = a.id) FROM articles a").fetchall()
    finally:
        conn.close()
    return dict(rows)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "articlebot.db"


@pytest.fixture
def store(db_path: Path):
    s = Store.open(db_path)
    yield s
    s.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """nested dirs, every supported extension, a hidden dir + hidden file, an image."""
    root = tmp_path / "articles"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.md").write_text(markdown_article("甲文章", 2), encoding="utf-8")
    (root / "b.txt").write_text(markdown_article("乙文章", 3), encoding="utf-8")
    (root / "sub" / "c.html").write_text(html_page("丙文章", 4), encoding="utf-8")
    (root / "sub" / "deeper" / "NOEXT").write_text(markdown_article("丁文章", 5), encoding="utf-8")
    # ignored: hidden directory (even with article files inside) and hidden file
    (root / ".hidden" / "e.md").write_text(markdown_article("隐藏目录文章", 2), encoding="utf-8")
    (root / ".hidden" / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / ".secret.md").write_text(markdown_article("隐藏文件文章", 2), encoding="utf-8")
    # not an article file: counted as skipped, never read
    (root / "sub" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return root


# --- directory trees ---------------------------------------------------------


def test_add_tree_counts_and_articles(store: Store, tree: Path):
    report = add_paths(store, [tree])

    assert isinstance(report, AddReport)
    assert (report.added, report.unchanged, report.replaced) == (4, 0, 0)
    assert report.skipped == 1  # x.png only: hidden entries are ignored, not skipped
    assert report.failed == []
    expected = [
        (tree / "a.md", "甲文章", 2),
        (tree / "b.txt", "乙文章", 3),
        (tree / "sub" / "c.html", "丙文章", 4),
        (tree / "sub" / "deeper" / "NOEXT", "丁文章", 5),
    ]
    assert report.articles == [{"id": file_id(path), "title": title, "paragraphs": n, "status": "added"} for path, title, n in expected]
    titles = {a.title for a in store.list_articles()}
    assert titles == {"甲文章", "乙文章", "丙文章", "丁文章"}
    for path, title, n in expected:
        article = store.get(file_id(path))
        assert article.title == title
        assert len(article.paragraphs) == n
        assert article.source_path == str(path.resolve())
    assert report.to_dict() == {
        "added": 4,
        "unchanged": 0,
        "replaced": 0,
        "skipped": 1,
        "failed": [],
        "articles": report.articles,
    }


def test_iter_article_files_order_hidden_and_skipped(tree: Path):
    report = AddReport()
    files = list(iter_article_files([tree], report))
    assert files == [
        tree / "a.md",
        tree / "b.txt",
        tree / "sub" / "c.html",
        tree / "sub" / "deeper" / "NOEXT",
    ]
    assert not any(part.startswith(".") for f in files for part in f.relative_to(tree).parts)
    assert report.skipped == 1
    assert report.failed == []


def test_suffixes_are_case_insensitive_and_unknown_ones_skipped(store: Store, tmp_path: Path):
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "UPPER.MD").write_text(markdown_article("大写扩展名", 2), encoding="utf-8")
    (root / "page.HTM").write_text(html_page("网页文章", 2), encoding="utf-8")
    (root / "notes.docx").write_text(markdown_article("不是文章", 2), encoding="utf-8")
    (root / "data.json").write_text('{"a": 1}', encoding="utf-8")
    report = add_paths(store, [root])
    assert report.added == 2
    assert report.skipped == 2
    assert sorted(a["title"] for a in report.articles) == sorted(["大写扩展名", "网页文章"])


def test_file_named_explicitly_is_read_whatever_its_name(store: Store, tmp_path: Path):
    odd = tmp_path / "article.data"
    odd.write_text(markdown_article("命名文件", 2), encoding="utf-8")
    report = add_paths(store, [odd])
    assert report.added == 1 and report.skipped == 0
    assert store.get(file_id(odd)).title == "命名文件"


def test_seed_article_parsed_and_stored(store: Store):
    report = add_paths(store, [SEED])
    seed_id = hashlib.sha256(SEED.read_bytes()).hexdigest()[:12]
    assert report.added == 1 and report.failed == []
    [entry] = report.articles
    assert entry["id"] == seed_id
    assert entry["title"] == "北京：打造共建“一带一路”高标准建设的试验示范"
    article = store.get(seed_id)
    assert article.published.isoformat() == "2021-12-06T10:56:51+00:00"
    assert article.categories == ("金融", "新浪财经", "新浪财经－国內")
    assert entry["paragraphs"] == len(article.paragraphs) == len(parse_file(SEED).paragraphs) > 10


# --- bad files -----------------------------------------------------------------


def test_bad_files_do_not_stop_the_good_ones(store: Store, tmp_path: Path):
    root = tmp_path / "batch"
    root.mkdir()
    (root / "1-good.md").write_text(markdown_article("第一篇", 2), encoding="utf-8")
    (root / "2-binary.md").write_bytes(b"\x00\x01\x02\x03binary\xff\xfe" * 20)
    (root / "3-empty.txt").write_bytes(b"")
    (root / "4-broken.md").write_text(
        "---\ntitle: [unclosed\ndate: 2024-01-01\n---\n\n" + markdown_article("坏头信息", 2), encoding="utf-8"
    )
    (root / "5-good.md").write_text(markdown_article("第五篇", 3), encoding="utf-8")

    report = add_paths(store, [root])

    assert report.added == 2
    assert [a["title"] for a in report.articles] == ["第一篇", "第五篇"]
    assert len(store) == 2
    failed = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert set(failed) == {"2-binary.md", "3-empty.txt", "4-broken.md"}
    for f in report.failed:
        assert Path(f["path"]).parent == root
        assert set(f) == {"path", "error"}
        assert f["error"]
    assert "binary" in failed["2-binary.md"]
    assert "empty" in failed["3-empty.txt"]
    assert "front matter" in failed["4-broken.md"]


def test_missing_path_is_a_failure(store: Store, tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text(markdown_article("存在的文章", 2), encoding="utf-8")
    missing = tmp_path / "nope" / "missing.md"
    report = add_paths(store, [missing, good])
    assert report.failed == [{"path": str(missing), "error": "no such file or directory"}]
    assert report.added == 1
    assert len(store) == 1


def test_oversized_file_fails(store: Store, tmp_path: Path):
    big = tmp_path / "big.md"
    big.write_text(markdown_article("大文件", 20), encoding="utf-8")
    report = add_paths(store, [big], max_bytes=100)
    assert report.added == 0
    assert len(report.failed) == 1 and "limit" in report.failed[0]["error"]
    assert store.is_empty()


# --- re-adding -------------------------------------------------------------------


def test_readd_is_idempotent(store: Store, tree: Path, db_path: Path):
    first = add_paths(store, [tree])
    before = dump(db_path)
    again = add_paths(store, [tree])

    assert (again.added, again.replaced, again.unchanged) == (0, 0, 4)
    assert again.failed == []
    assert [a["status"] for a in again.articles] == ["unchanged"] * 4
    assert [a["id"] for a in again.articles] == [a["id"] for a in first.articles]
    assert dump(db_path) == before  # same rows, same pids, same added_at


def test_edited_file_replaces_old_version(store: Store, tree: Path, db_path: Path):
    add_paths(store, [tree])
    edited = tree / "b.txt"
    old_id = file_id(edited)
    edited.write_text(markdown_article("乙文章修订版", 4), encoding="utf-8")
    new_id = file_id(edited)
    assert new_id != old_id

    report = add_paths(store, [tree])

    assert (report.added, report.replaced, report.unchanged) == (0, 1, 3)
    by_status = {a["status"]: a for a in report.articles}
    assert by_status["replaced"] == {"id": new_id, "title": "乙文章修订版", "paragraphs": 4, "status": "replaced"}
    assert len(store) == 4
    ids = {a.id for a in store.list_articles()}
    assert old_id not in ids and new_id in ids
    counts = paragraph_counts(db_path)
    assert counts[new_id] == 4
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM paragraphs WHERE article_id = ?", (old_id,)).fetchone()[0] == 0
    finally:
        conn.close()


def test_same_content_twice_in_one_add(store: Store, tmp_path: Path):
    root = tmp_path / "dup"
    root.mkdir()
    text = markdown_article("重复文章", 2)
    (root / "a.md").write_text(text, encoding="utf-8")
    (root / "b.md").write_text(text, encoding="utf-8")
    report = add_paths(store, [root])
    assert (report.added, report.unchanged) == (1, 1)
    assert len(store) == 1


# --- a failure in the middle of an article's transaction ----------------------------


def test_failure_mid_transaction_leaves_no_half_article(store: Store, tmp_path: Path, db_path: Path):
    root = tmp_path / "five"
    root.mkdir()
    files = []
    for i in range(5):
        path = root / f"{i + 1}.md"
        # only the 3rd file's 2nd paragraph (index 1) carries the marker
        path.write_text(markdown_article(f"文章{i + 1}", 3 + i, marker_in=1 if i == 2 else None), encoding="utf-8")
        files.append(path)
    parsed = {file_id(p): parse_file(p) for p in files}
    third = parse_file(files[2])
    assert MARKER not in third.paragraphs[0].text and MARKER in third.paragraphs[1].text
    assert sum(MARKER in p.text for a in parsed.values() for p in a.paragraphs) == 1

    # A trigger makes the 2nd paragraph insert of the 3rd article fail, after its
    # article row and first paragraph were already written in the same transaction.
    trigger = sqlite3.connect(db_path)
    trigger.execute(
        "CREATE TRIGGER fail_marker BEFORE INSERT ON paragraphs "
        f"WHEN NEW.text LIKE '%{MARKER}%' BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
    )
    trigger.commit()
    trigger.close()

    report = add_paths(store, [root])

    third_id = file_id(files[2])
    assert report.added == 4
    assert [a["title"] for a in report.articles] == ["文章1", "文章2", "文章4", "文章5"]
    assert len(report.failed) == 1
    assert report.failed[0]["path"] == str(files[2])
    assert "simulated failure" in report.failed[0]["error"]

    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM articles WHERE id = ?", (third_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM paragraphs WHERE article_id = ?", (third_id,)).fetchone()[0] == 0
        # no orphan paragraph of any kind
        assert conn.execute("SELECT count(*) FROM paragraphs WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0] == 0
    finally:
        conn.close()
    counts = paragraph_counts(db_path)
    assert set(counts) == {file_id(p) for i, p in enumerate(files) if i != 2}
    for article_id, count in counts.items():
        assert count == len(parsed[article_id].paragraphs)
        stored = store.get(article_id)
        assert [p.text for p in stored.paragraphs] == [p.text for p in parsed[article_id].paragraphs]
    assert not store.is_empty()

    # Without the trigger, adding again stores the 3rd and leaves the others alone.
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER fail_marker")
    conn.commit()
    conn.close()
    before = {row[0]: row for row in dump(db_path)[0]}
    again = add_paths(store, [root])
    assert (again.added, again.unchanged, again.replaced, again.failed) == (1, 4, 0, [])
    assert [a["status"] for a in again.articles] == ["unchanged", "unchanged", "added", "unchanged", "unchanged"]
    counts = paragraph_counts(db_path)
    assert counts == {article_id: len(a.paragraphs) for article_id, a in parsed.items()}
    after = {row[0]: row for row in dump(db_path)[0]}
    assert {k: v for k, v in after.items() if k != third_id} == before


# --- progress callback ---------------------------------------------------------------


def test_progress_receives_full_file_list(store: Store, tree: Path, tmp_path: Path):
    missing = tmp_path / "missing.md"
    seen: list[list[Path]] = []

    def progress(files):
        seen.append(list(files))
        yield from files

    report = add_paths(store, [tree, missing], progress=progress)
    assert seen == [[tree / "a.md", tree / "b.txt", tree / "sub" / "c.html", tree / "sub" / "deeper" / "NOEXT"]]
    assert report.added == 4


def test_progress_iteration_drives_processing(store: Store, tree: Path):
    stored_when_yielded: list[int] = []

    def progress(files):
        for f in files[:2]:  # a progress wrapper that stops early: the rest is never processed
            stored_when_yielded.append(len(store))
            yield f

    report = add_paths(store, [tree], progress=progress)
    # each file is processed after it is yielded, before the next one is asked for
    assert stored_when_yielded == [0, 1]
    assert report.added == 2
    assert [a["title"] for a in report.articles] == ["甲文章", "乙文章"]
    assert len(store) == 2


def test_progress_may_not_reorder(store: Store, tree: Path):
    # files are parsed ahead (maybe in other processes) in list order, so a progress
    # wrapper that reorders would pair files with the wrong articles: it is refused
    with pytest.raises(ValueError, match="order"):
        add_paths(store, [tree], progress=lambda files: reversed(files))


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel_parsing_stores_the_same_articles_in_order(tmp_path: Path, monkeypatch, jobs):
    from articlebot.corpus import ingest

    monkeypatch.setattr(ingest, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(ingest, "PARALLEL_CHUNK", 3)  # several chunks
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i:02d}.md").write_text(f"---\ntitle: 文章{i}\n---\n<p>第{i}篇文章的正文内容，足够长的一段话。</p>", encoding="utf-8")
    (folder / "09.md").write_bytes(b"\x00\x01binary")
    with Store.open(tmp_path / f"p{jobs}.db") as store:
        report = add_paths(store, [folder], jobs=jobs)
        assert [a["title"] for a in report.articles] == [f"文章{i}" for i in range(8)]
        assert [f["path"] for f in report.failed] == [str(folder / "09.md")]
        assert [store.get(a["id"]).paragraphs[0].text for a in report.articles] == [
            f"第{i}篇文章的正文内容，足够长的一段话。" for i in range(8)
        ]


# --- the shared corpus of real articles ------------------------------------------------


def test_shared_corpus_adds_cleanly_and_readds_unchanged(shared_corpus_dir: Path, tmp_path: Path):
    db = tmp_path / "shared.db"
    with Store.open(db) as store:
        report = add_paths(store, [shared_corpus_dir])
        assert report.failed == []
        assert report.added == 52
        assert len(store) == 52
        assert all(a["paragraphs"] > 0 for a in report.articles)
        before = dump(db)
        again = add_paths(store, [shared_corpus_dir])
        assert again.unchanged == 52
        assert (again.added, again.replaced, again.failed) == (0, 0, [])
    assert dump(db) == before
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def test_shared_corpus_copy_of_seed_has_seed_id(shared_corpus_dir: Path, tmp_path: Path):
    seed_copy = tmp_path / "seed-copy.md"
    shutil.copyfile(shared_corpus_dir / "seed.md", seed_copy)
    assert file_id(seed_copy) == file_id(SEED)


# --- bugs found while writing these tests ---------------------------------------------------


@pytest.mark.parametrize("date", ["99999999999999999999", ".inf"])
def test_out_of_range_numeric_date_is_a_failure_not_a_crash(store: Store, tmp_path: Path, date: str):
    root = tmp_path / "dates"
    root.mkdir()
    (root / "1.md").write_text(markdown_article("日期之前", 2), encoding="utf-8")
    (root / "2.md").write_text(f"---\ntitle: 坏日期\ndate: {date}\n---\n\n{SENTENCE}。\n", encoding="utf-8")
    (root / "3.md").write_text(markdown_article("日期之后", 2), encoding="utf-8")
    report = add_paths(store, [root])
    assert report.added == 2
    assert [Path(f["path"]).name for f in report.failed] == ["2.md"]
    assert "date" in report.failed[0]["error"]


def test_file_edited_into_a_copy_of_another_drops_its_old_version(store: Store, tmp_path: Path):
    root = tmp_path / "copy"
    root.mkdir()
    a, b = root / "a.md", root / "b.md"
    a.write_text(markdown_article("甲", 2), encoding="utf-8")
    b.write_text(markdown_article("乙", 2), encoding="utf-8")
    add_paths(store, [root])
    old_b = file_id(b)
    b.write_bytes(a.read_bytes())  # b.md is overwritten with a copy of a.md
    add_paths(store, [root])
    assert old_b not in {s.id for s in store.list_articles()}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_in_a_directory_is_not_read(tmp_path: Path):
    root = tmp_path / "pipes"
    root.mkdir()
    (root / "a.md").write_text(markdown_article("正常文章", 2), encoding="utf-8")
    os.mkfifo(root / "pipe.md")
    # (only the file listing is checked: reading the pipe would hang the test run)
    files = list(iter_article_files([root], AddReport()))
    assert files == [root / "a.md"]


def test_readme_and_license_in_a_directory_are_not_articles(tmp_path):
    from articlebot.corpus.ingest import AddReport, iter_article_files

    folder = tmp_path / "articles"
    folder.mkdir()
    for name in ("README.md", "LICENSE", "CHANGELOG.txt", "news.md"):
        (folder / name).write_text("# 标题\n\n正文内容足够长，是一篇文章。\n", encoding="utf-8")
    report = AddReport()
    assert [p.name for p in iter_article_files([folder], report)] == ["news.md"]
    assert report.skipped == 3
    # named explicitly, a README is read like any file
    assert [p.name for p in iter_article_files([folder / "README.md"], AddReport())] == ["README.md"]


def test_add_bytes_stores_an_upload_as_add_stores_a_file(tmp_path):
    """One add_bytes for uploads: the label is the source_path, never opened; the bytes
    give the same article (id, paragraphs) as the same file added from disk."""
    from articlebot.corpus.errors import ParseError
    from articlebot.corpus.ingest import add_bytes

    data = SEED.read_bytes()
    with Store.open(tmp_path / "s.db") as store:
        article, status = add_bytes(store, data, "telegram:abc/../../etc/passwd.md")
        assert status == "added" and article.source_path == "telegram:abc/../../etc/passwd.md"
        assert add_bytes(store, data, "telegram:abc/x.md")[1] == "unchanged"
        stored = store.get(article.id)
        assert [p.text for p in stored.paragraphs] == [p.text for p in parse_file(SEED).paragraphs]
        with pytest.raises(ParseError, match="empty.md"):
            add_bytes(store, b"  \n", "telegram:abc/empty.md")
        assert len(store) == 1


@pytest.mark.parametrize(
    ("name", "in_folder", "upload"),
    [
        ("a.md", True, True),
        ("A.HTML", True, True),
        ("page.xhtml", True, True),
        ("notes.text", True, True),
        ("plain", True, False),  # a bare name: read inside folders, not accepted as an upload
        ("README.md", False, True),
        ("photo.jpg", False, False),
        ("setup.exe", False, False),
    ],
)
def test_one_list_of_article_file_names(name, in_folder, upload):
    from articlebot.corpus.formats import has_article_suffix, is_article_file_name

    assert is_article_file_name(name) is in_folder
    assert has_article_suffix(name) is upload
