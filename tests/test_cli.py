"""Tests of the `articlebot` command line (click.testing.CliRunner, plus a few real subprocess runs)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import SEED
from program import program_env  # tests/program.py

from articlebot.cli import cli
from articlebot.corpus.parse import parse_file
from articlebot.corpus.sample import sample_files
from articlebot.corpus.store import Store

SEED_ID = hashlib.sha256(SEED.read_bytes()).hexdigest()[:12]
SEED_TITLE = "北京：打造共建“一带一路”高标准建设的试验示范"
SEED_PUBLISHED = "2021-12-06T10:56:51+00:00"
SENTENCE = "上海市今天发布了关于城市更新的新政策，涉及老旧小区改造、公共空间提升和交通组织优化等多个方面的内容"
COMMANDS = ["add", "list", "show", "remove", "stats"]


def markdown_article(title: str, n: int = 3, date: str | None = None) -> str:
    body = "\n\n".join(f"{SENTENCE}，{title}第{i}段。" for i in range(n)) + "\n"
    if date:
        return f"---\ntitle: {title}\ndate: {date}\n---\n\n{body}"
    return f"# {title}\n\n{body}"


def file_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture(autouse=True)
def guard_default_store(tmp_path: Path, monkeypatch):
    """Whatever a test forgets, the real user data dir is never used."""
    monkeypatch.setenv("ARTICLEBOT_DB", str(tmp_path / "guard" / "default.db"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "store" / "articlebot.db")


def run(runner: CliRunner, *args: str, env: dict | None = None):
    result = runner.invoke(cli, list(args), env=env, catch_exceptions=True)
    # No command may crash: only clean exits (SystemExit) are allowed.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def assert_one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture
def empty(db: str) -> str:
    """An existing store without articles (as after removing the last one)."""
    Store.open(db).close()
    return db


@pytest.fixture
def seeded(runner: CliRunner, db: str) -> str:
    result = run(runner, "add", str(SEED), "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return db


# --- add -------------------------------------------------------------------------------


def test_add_seed_json(runner: CliRunner, db: str):
    result = run(runner, "add", str(SEED), "--db", db, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"added", "unchanged", "replaced", "skipped", "failed", "articles"}
    assert data["added"] == 1
    assert (data["unchanged"], data["replaced"], data["skipped"], data["failed"]) == (0, 0, 0, [])
    assert data["articles"] == [{"id": SEED_ID, "title": SEED_TITLE, "paragraphs": len(parse_file(SEED).paragraphs), "status": "added"}]
    assert Path(db).is_file()

    again = run(runner, "add", str(SEED), "--db", db, "--json")
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    assert (data["added"], data["unchanged"]) == (0, 1)
    assert data["articles"][0]["status"] == "unchanged"


def test_add_human_summary(runner: CliRunner, db: str, tmp_path: Path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text(markdown_article("人类可读", 2), encoding="utf-8")
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = run(runner, "add", str(root), "--db", db)
    assert result.exit_code == 0
    assert "1 added, 0 replaced, 0 unchanged, 0 failed, 1 skipped" in result.stdout


def test_add_with_one_failing_file(runner: CliRunner, db: str, tmp_path: Path):
    root = tmp_path / "batch"
    root.mkdir()
    (root / "a.md").write_text(markdown_article("好的一篇", 2), encoding="utf-8")
    (root / "b.md").write_bytes(b"\x00\x01\x02 not text \x00" * 10)
    (root / "c.md").write_text(markdown_article("另一篇", 3), encoding="utf-8")

    result = run(runner, "add", str(root), "--db", db, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["added"] == 2
    assert [a["title"] for a in data["articles"]] == ["好的一篇", "另一篇"]
    assert len(data["failed"]) == 1
    assert data["failed"][0]["path"] == str(root / "b.md")
    assert "binary" in data["failed"][0]["error"]

    listed = json.loads(run(runner, "list", "--db", db, "--json").stdout)
    assert sorted(a["title"] for a in listed) == sorted(["好的一篇", "另一篇"])


def test_add_id_collision_fails_the_file_never_drops_it(runner: CliRunner, db: str, tmp_path: Path, monkeypatch):
    """Two different files whose ids collide: the second is a failure naming both files,
    not a silent "unchanged" (the id is forced, as a real 48-bit clash is too rare to find)."""
    monkeypatch.setattr("articlebot.corpus.parse.article_id", lambda digest: "c0111de0c0de")
    first, second = tmp_path / "first.md", tmp_path / "second.md"
    first.write_text(markdown_article("第一篇", 2), encoding="utf-8")
    second.write_text(markdown_article("第二篇", 2), encoding="utf-8")
    result = run(runner, "add", str(first), str(second), "--db", db, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["added"], data["unchanged"]) == (1, 0)
    assert [Path(f["path"]).name for f in data["failed"]] == ["second.md"]
    error = data["failed"][0]["error"]
    assert "c0111de0c0de" in error and "second.md" in error and "first.md" in error
    listed = json.loads(run(runner, "list", "--db", db, "--json").stdout)
    assert [a["title"] for a in listed] == ["第一篇"]
    # the same content again is still "unchanged", not a collision with itself
    again = json.loads(run(runner, "add", str(first), "--db", db, "--json").stdout)
    assert (again["unchanged"], again["failed"]) == (1, [])


def test_add_missing_path(runner: CliRunner, db: str, tmp_path: Path):
    missing = tmp_path / "does-not-exist.md"
    result = run(runner, "add", str(missing), "--db", db)
    assert result.exit_code == 1
    assert f"{missing}: no such file or directory" in result.stderr
    assert "0 added" in result.stdout
    assert "Traceback" not in result.stderr


def test_add_max_size(runner: CliRunner, db: str):
    result = run(runner, "add", str(SEED), "--db", db, "--json", "--max-size", "0.001")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["added"] == 0
    assert "limit" in data["failed"][0]["error"]


# --- list / show -------------------------------------------------------------------------


def test_list_json(runner: CliRunner, db: str, tmp_path: Path):
    old = tmp_path / "old.md"
    new = tmp_path / "new.md"
    undated = tmp_path / "undated.md"
    # 10:00 at +08:00 is 02:00 UTC: earlier than 03:00 UTC although it sorts later as text
    old.write_text(markdown_article("较早的文章", 2, date="2024-01-01T10:00:00+08:00"), encoding="utf-8")
    new.write_text(markdown_article("较新的文章", 4, date="2024-01-01T03:00:00+00:00"), encoding="utf-8")
    undated.write_text(markdown_article("没有日期", 3), encoding="utf-8")
    assert run(runner, "add", str(old), str(new), str(undated), "--db", db).exit_code == 0

    result = run(runner, "list", "--db", db, "--json")
    assert result.exit_code == 0
    assert result.stderr == ""  # a non-empty store: no sample note
    data = json.loads(result.stdout)
    assert [(a["id"], a["title"], a["paragraphs"]) for a in data] == [
        (file_id(new), "较新的文章", 4),
        (file_id(old), "较早的文章", 2),
        (file_id(undated), "没有日期", 3),
    ]
    assert data[0]["published"] == "2024-01-01T03:00:00+00:00"
    assert data[2]["published"] is None

    human = run(runner, "list", "--db", db)
    assert human.exit_code == 0
    lines = human.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(file_id(new)) and "2024-01-01" in lines[0] and "较新的文章" in lines[0]


def test_show_json(runner: CliRunner, seeded: str):
    result = run(runner, "show", SEED_ID, "--db", seeded, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    parsed = parse_file(SEED)
    assert data["id"] == SEED_ID
    assert data["title"] == SEED_TITLE
    assert data["published"] == SEED_PUBLISHED
    assert data["categories"] == ["金融", "新浪财经", "新浪财经－国內"]
    assert data["paragraph_count"] == len(parsed.paragraphs)
    assert data["paragraphs"] == [{"index": p.index, "section": p.section, "text": p.text} for p in parsed.paragraphs]
    assert [p["index"] for p in data["paragraphs"]] == list(range(len(parsed.paragraphs)))
    assert "立足首都功能，打造“丝路会客厅”“空中丝绸之路”" in {p["section"] for p in data["paragraphs"]}


def test_show_human(runner: CliRunner, seeded: str):
    result = run(runner, "show", SEED_ID, "--db", seeded)
    assert result.exit_code == 0
    out = result.stdout
    assert out.splitlines()[0] == SEED_TITLE
    assert f"id: {SEED_ID}" in out
    assert f"published: {SEED_PUBLISHED}" in out
    assert "categories: 金融 / 新浪财经 / 新浪财经－国內" in out
    sections = []
    for p in parse_file(SEED).paragraphs:
        if p.section and p.section not in sections:
            sections.append(p.section)
    assert len(sections) >= 2
    for section in sections:
        assert f"## {section}" in out
    assert "[0] 12月6日" in out


def test_show_unique_prefix(runner: CliRunner, seeded: str):
    result = run(runner, "show", SEED_ID[:6], "--db", seeded, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == SEED_ID


def test_show_unknown_id(runner: CliRunner, seeded: str):
    result = run(runner, "show", "ffffffffffff", "--db", seeded)
    assert result.exit_code != 0
    assert_one_error_line(result, "ffffffffffff")
    assert result.stdout == ""


def test_show_too_short_prefix(runner: CliRunner, seeded: str):
    result = run(runner, "show", SEED_ID[:3], "--db", seeded)
    assert_one_error_line(result, "at least 4 characters")


# --- remove ------------------------------------------------------------------------------


def test_remove(runner: CliRunner, seeded: str, tmp_path: Path):
    other = tmp_path / "other.md"
    other.write_text(markdown_article("留下的文章", 2), encoding="utf-8")
    assert run(runner, "add", str(other), "--db", seeded).exit_code == 0

    result = run(runner, "remove", SEED_ID, "--db", seeded)
    assert result.exit_code == 0
    assert SEED_ID in result.stdout and SEED_TITLE in result.stdout

    listed = json.loads(run(runner, "list", "--db", seeded, "--json").stdout)
    assert [a["id"] for a in listed] == [file_id(other)]
    stats = json.loads(run(runner, "stats", "--db", seeded, "--json").stdout)
    assert stats["paragraphs"] == 2  # the removed article's paragraphs are gone too

    again = run(runner, "remove", SEED_ID, "--db", seeded)
    assert_one_error_line(again, SEED_ID)


def test_remove_json(runner: CliRunner, seeded: str):
    result = run(runner, "remove", SEED_ID[:8], "--db", seeded, "--json")
    assert result.exit_code == 0
    removed = json.loads(result.stdout)["removed"]
    assert removed["id"] == SEED_ID and removed["title"] == SEED_TITLE


def test_remove_unknown(runner: CliRunner, seeded: str):
    result = run(runner, "remove", "abcdef123456", "--db", seeded)
    assert_one_error_line(result, "abcdef123456")


# --- stats -------------------------------------------------------------------------------


def test_stats_json_after_seed(runner: CliRunner, seeded: str):
    result = run(runner, "stats", "--db", seeded, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    parsed = parse_file(SEED)
    assert data["articles"] == 1
    assert data["paragraphs"] == len(parsed.paragraphs)
    assert data["characters"] == sum(len(p.text) for p in parsed.paragraphs)
    assert data["last_added"]["id"] == SEED_ID
    assert data["last_added"]["title"] == SEED_TITLE
    assert data["last_added"]["paragraphs"] == len(parsed.paragraphs)
    assert Path(data["db_path"]) == Path(seeded)

    human = run(runner, "stats", "--db", seeded)
    assert "articles:   1" in human.stdout
    assert f"last added: {SEED_ID}  {SEED_TITLE}" in human.stdout


def test_stats_last_added_is_the_latest(runner: CliRunner, seeded: str, tmp_path: Path):
    later = tmp_path / "later.md"
    later.write_text(markdown_article("后加的文章", 2), encoding="utf-8")
    assert run(runner, "add", str(later), "--db", seeded).exit_code == 0
    data = json.loads(run(runner, "stats", "--db", seeded, "--json").stdout)
    assert data["articles"] == 2
    assert data["last_added"]["id"] == file_id(later)


def test_stats_empty_store(runner: CliRunner, empty: str):
    result = run(runner, "stats", "--db", empty, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["articles"], data["paragraphs"], data["last_added"]) == (0, 0, None)
    human = run(runner, "stats", "--db", empty)
    assert "The store is empty" in human.stdout


# --- bad --db ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["stats"], ["show", SEED_ID], ["add", str(SEED)]])
def test_db_is_a_directory(runner: CliRunner, tmp_path: Path, command):
    result = run(runner, *command, "--db", str(tmp_path))
    assert_one_error_line(result, "directory")


@pytest.mark.parametrize("command", [["list"], ["stats"], ["add", str(SEED)], ["remove", SEED_ID]])
def test_db_is_a_garbage_file(runner: CliRunner, tmp_path: Path, command):
    garbage = tmp_path / "garbage.db"
    content = b"this is not a database\n" * 200
    garbage.write_bytes(content)
    result = run(runner, *command, "--db", str(garbage))
    assert_one_error_line(result, "not an SQLite database")
    assert garbage.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db"]


def test_db_parent_is_a_file(runner: CliRunner, tmp_path: Path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = run(runner, "add", str(SEED), "--db", str(blocker / "sub" / "a.db"))
    assert result.exit_code == 1 and "cannot open store" in result.stderr
    result = run(runner, "list", "--db", str(blocker / "sub" / "a.db"))
    assert_one_error_line(result, "no store at", str(blocker / "sub" / "a.db"))


# --- ARTICLEBOT_DB ---------------------------------------------------------------------------


def test_env_var_is_honoured(runner: CliRunner, tmp_path: Path):
    env_db = tmp_path / "env" / "store.db"
    env = {"ARTICLEBOT_DB": str(env_db)}
    assert run(runner, "add", str(SEED), env=env).exit_code == 0
    assert env_db.is_file()

    listed = run(runner, "list", "--json", env=env)
    assert listed.exit_code == 0
    assert listed.stderr == ""
    assert [a["id"] for a in json.loads(listed.stdout)] == [SEED_ID]

    other = tmp_path / "other.db"
    Store.open(other).close()  # empty: the sample is listed
    fallback = run(runner, "list", "--json", "--db", str(other), env=env)
    assert fallback.exit_code == 0
    assert "empty" in fallback.stderr and str(other) in fallback.stderr
    assert len(json.loads(fallback.stdout)) == len(sample_files())


# --- empty store: the bundled sample ------------------------------------------------------


def test_empty_store_lists_the_sample(runner: CliRunner, empty: str):
    db = empty
    result = run(runner, "list", "--db", db, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data) == 31 == len(sample_files())
    assert SEED_ID in {a["id"] for a in data}
    note = result.stderr.strip().splitlines()
    assert len(note) == 1
    assert note[0].startswith("Note:") and "empty" in note[0] and "31 articles" in note[0]
    assert db in note[0]
    # the store itself stays empty: the sample lives in memory
    stats = json.loads(run(runner, "stats", "--db", db, "--json").stdout)
    assert stats["articles"] == 0

    human = run(runner, "list", "--db", db)
    assert len(human.stdout.splitlines()) == 31
    assert "Note:" not in human.stdout


def test_empty_store_show_seed(runner: CliRunner, empty: str):
    db = empty
    result = run(runner, "show", SEED_ID, "--db", db, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["title"] == SEED_TITLE
    assert data["published"] == SEED_PUBLISHED
    assert "empty" in result.stderr


def test_empty_store_show_unknown(runner: CliRunner, empty: str):
    db = empty
    result = run(runner, "show", "ffffffffffff", "--db", db)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error:")


# --- help / version ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help(runner: CliRunner, command):
    result = run(runner, *command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    if command:
        assert command[0] in result.stdout


def test_top_level_help_lists_commands(runner: CliRunner):
    out = run(runner, "-h").stdout
    for command in COMMANDS:
        assert command in out


def test_version(runner: CliRunner):
    from articlebot import __version__

    result = run(runner, "--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


# --- the real program, in a subprocess ---------------------------------------------------------


def articlebot(*args: str, db: Path | None = None, cwd: Path) -> subprocess.CompletedProcess:
    env = program_env()
    if db is not None:
        env["ARTICLEBOT_DB"] = str(db)
    return subprocess.run(
        [sys.executable, "-m", "articlebot.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_subprocess_add_and_show_seed(tmp_path: Path):
    db = tmp_path / "sub.db"
    added = articlebot("add", str(SEED), "--json", db=db, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["articles"][0]["id"] == SEED_ID

    shown = articlebot("show", SEED_ID[:6], "--json", "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["title"] == SEED_TITLE
    assert data["published"] == SEED_PUBLISHED
    assert shown.stderr == ""


def test_subprocess_user_errors_have_no_traceback(tmp_path: Path):
    db = tmp_path / "sub.db"
    unknown = articlebot("show", "unknown", "--db", str(db), cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1].startswith("Error:")
    assert "Traceback" not in unknown.stderr

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"garbage" * 100)
    bad = articlebot("list", "--db", str(garbage), cwd=tmp_path)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "not an SQLite database" in lines[0]
    assert garbage.read_bytes() == b"garbage" * 100

    missing = articlebot("add", str(tmp_path / "missing.md"), "--db", str(db), cwd=tmp_path)
    assert missing.returncode == 1
    assert "no such file or directory" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_subprocess_help(tmp_path: Path):
    result = articlebot("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Usage: articlebot" in result.stdout


def test_add_out_of_range_date_is_reported_not_a_crash(runner: CliRunner, db: str, tmp_path: Path):
    root = tmp_path / "dates"
    root.mkdir()
    (root / "1.md").write_text(markdown_article("好文章", 2), encoding="utf-8")
    (root / "2.md").write_text(f"---\ntitle: 坏日期\ndate: 99999999999999999999\n---\n\n{SENTENCE}。\n", encoding="utf-8")
    result = run(runner, "add", str(root), "--db", db, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["added"] == 1
    assert [Path(f["path"]).name for f in data["failed"]] == ["2.md"]
