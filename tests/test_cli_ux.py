"""What new users tripped on (project issue 13): where the store is, what read-only
commands may create, errors with --json, the sample after the first add, an unreachable
Bot API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import SEED
from program import PROJECT, program_env  # tests/program.py

from articlebot.cli import cli
from articlebot.corpus.sample import sample_files
from articlebot.corpus.store import Store, unusable_because

QUESTIONS = PROJECT / "eval" / "questions.jsonl"
ARTICLE = "---\ntitle: 城市更新新政策\n---\n\n上海市今天发布了关于城市更新的新政策，涉及老旧小区改造和公共空间提升。\n"


@pytest.fixture(autouse=True)
def no_default_store(tmp_path: Path, monkeypatch):
    """The default location is a fresh directory of this test; no $ARTICLEBOT_DB."""
    monkeypatch.delenv("ARTICLEBOT_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def run(*args: str, env: dict | None = None, input: str | None = None):
    result = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "news.md"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "seeded" / "s.db"
    assert run("add", str(SEED), "--db", str(db)).exit_code == 0
    return db


# --- tokenize and the README's --db sentence ------------------------------------------------


def test_readme_says_which_commands_take_db():
    """README said every command takes --db, but tokenize (which needs no store) does not."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert "Every command except `tokenize` (which reads no store) takes `--db PATH`" in readme
    without = {name for name, command in cli.commands.items() if not any("--db" in p.opts for p in command.params)}
    assert without == {"tokenize"}


# --- --db before or after the command ---------------------------------------------------------


def test_db_before_the_command_is_accepted_and_the_commands_own_wins(seeded: Path, tmp_path: Path, article: Path):
    listed = run("--db", str(seeded), "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert listed.stderr == "" and len(json.loads(listed.stdout)) == 1

    other = tmp_path / "other.db"
    assert run("--db", str(other), "add", str(article)).exit_code == 0
    # the command's --db wins over the group's
    both = json.loads(run("--db", str(other), "list", "--json", "--db", str(seeded)).stdout)
    assert [a["title"] for a in both] == ["北京：打造共建“一带一路”高标准建设的试验示范"]
    assert [a["title"] for a in json.loads(run("--db", str(other), "list", "--json").stdout)] == ["城市更新新政策"]
    # $ARTICLEBOT_DB still works, and --db (either place) beats it
    env = {"ARTICLEBOT_DB": str(other)}
    assert [a["title"] for a in json.loads(run("list", "--json", env=env).stdout)] == ["城市更新新政策"]
    assert len(json.loads(run("--db", str(seeded), "list", "--json", env=env).stdout)) == 1
    assert json.loads(run("--db", str(seeded), "list", "--json", env=env).stdout)[0]["title"] != "城市更新新政策"


# --- read-only commands create nothing ----------------------------------------------------------

READ_ONLY = [
    ["list"],
    ["show", "fa353077ad21"],
    ["search", "城市更新"],
    ["stats"],
    ["eval", str(QUESTIONS)],
    ["chat"],
    ["remove", "fa353077ad21"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
@pytest.mark.parametrize("how", ["option", "env"])
def test_a_mistyped_db_is_an_error_and_creates_nothing(tmp_path: Path, command, how):
    typo = tmp_path / "typo" / "deeper" / "stroe.db"
    if how == "option":
        result = run(*command, "--db", str(typo), input="")
    else:
        result = run(*command, env={"ARTICLEBOT_DB": str(typo)}, input="")
    assert result.exit_code == 1
    assert one_line(result.stderr) == f"Error: no store at {typo} (articlebot add creates one)"
    assert not (tmp_path / "typo").exists()
    assert not (tmp_path / "xdg-data").exists()


def test_an_existing_empty_store_still_shows_the_sample(tmp_path: Path):
    empty = tmp_path / "empty.db"
    Store.open(empty).close()
    result = run("list", "--json", "--db", str(empty))
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == len(sample_files())
    assert "is empty" in result.stderr and "bundled sample" in result.stderr


def test_default_location_missing_shows_the_sample_and_creates_nothing(tmp_path: Path):
    data = tmp_path / "xdg-data"
    listed = run("list", "--json")
    assert listed.exit_code == 0
    assert len(json.loads(listed.stdout)) == len(sample_files())
    note = one_line(listed.stderr)
    assert note.startswith("Note: there is no store at ") and str(data) in note and "bundled sample" in note
    searched = run("search", "世界旅游城市联合会有多少会员", "--json")
    assert searched.exit_code == 0 and "223个会员" in json.loads(searched.stdout)["hits"][0]["text"]
    stats = run("stats", "--json")
    assert stats.exit_code == 0
    figures = json.loads(stats.stdout)
    assert (figures["articles"], figures["paragraphs"], figures["last_added"]) == (0, 0, None)
    assert "The store is empty" in run("stats").stdout
    assert not data.exists()  # none of these made a directory or a store
    # the first add makes it
    assert run("add", str(SEED)).exit_code == 0
    assert (data / "articlebot" / "articlebot.db").is_file()


# --- why a store cannot be opened -------------------------------------------------------------


def test_store_in_a_directory_that_is_missing_or_a_file_says_so(tmp_path: Path):
    assert unusable_because(tmp_path / "nowhere" / "a.db") == f"the directory {tmp_path / 'nowhere'} does not exist"
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert unusable_because(blocker / "a.db") == f"{blocker} is not a directory"
    assert unusable_because(tmp_path) == "it is a directory"
    assert unusable_because(tmp_path / "fine.db") is None


def test_permission_problems_are_named(tmp_path: Path, monkeypatch):
    """Whichever of file and directory lacks the permission is named (os.access is faked:
    the tests may run as root, who has every permission)."""
    store = tmp_path / "s.db"
    denied: set[Path] = set()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) not in denied)
    denied = {tmp_path}
    assert unusable_because(store) == f"permission denied: cannot create a file in the directory {tmp_path}"
    store.write_bytes(b"")
    assert "permission denied on the directory" in unusable_because(store) and "s.db-wal" in unusable_because(store)
    denied = {store}
    assert unusable_because(store) == f"permission denied on the file {store} (it must be readable and writable)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: no permission error to explain")
def test_an_unwritable_store_directory_is_explained_in_one_line(tmp_path: Path, article: Path):
    """A real SQLite failure ("unable to open database file"), explained."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = run("add", str(article), "--db", str(locked / "s.db"))
        line = one_line(result.stderr.replace("failed: ", "Error: "))
        assert f"cannot open store {locked / 's.db'}: permission denied" in line
        assert "unable to open database file" not in line
    finally:
        locked.chmod(0o755)


def test_a_store_that_sqlite_cannot_open_is_explained(tmp_path: Path, article: Path, monkeypatch):
    """SQLite's own words are only "unable to open database file": the error says why,
    from the file system (here a directory made unwritable by faking os.access, which
    SQLite's failure is made to match)."""
    import sqlite3

    locked = tmp_path / "locked"
    locked.mkdir()
    real_connect = sqlite3.connect

    def connect(path, *args, **kwargs):
        if str(locked) in str(path):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    result = run("add", str(article), "--db", str(locked / "s.db"))
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"Error: cannot open store {locked / 's.db'}: permission denied: cannot create a file in the directory {locked}"
    )


# --- --json errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "kind", "needle"),
    [
        (["remove", "abcdef123456"], "ArticleNotFound", "abcdef123456"),
        (["show", "abcdef123456"], "ArticleNotFound", "abcdef123456"),
        (["show", "ab"], "ArticleNotFound", "at least 4"),
        (["list", "--db", "{missing}"], "StoreNotFound", "no store at"),
        (["stats", "--db", "{missing}"], "StoreNotFound", "no store at"),
        (["search", "城市", "--db", "{missing}"], "StoreNotFound", "no store at"),
        (["search", "--queries", "{missing}"], "FileError", "missing.db"),
        (["eval", "{missing}"], "QuestionFileError", "missing.db"),
        (["add", "{seed}", "--db", "{dir}"], "StoreError", "directory"),
        (["tokenize", "--file", "{missing}"], "TokenizerError", "missing.db"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_json_errors_are_one_json_line_on_stderr(seeded: Path, tmp_path: Path, command, kind, needle):
    values = {"{missing}": str(tmp_path / "missing.db"), "{seed}": str(SEED), "{dir}": str(tmp_path)}
    args = [values.get(a, a) for a in command]
    if "--db" not in args and args[0] != "tokenize":
        args += ["--db", str(seeded)]
    result = run(*args, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    error = json.loads(one_line(result.stderr))
    assert error["kind"] == kind and needle in error["error"]
    assert set(error) == {"error", "kind"}


def test_without_json_errors_stay_text(seeded: Path):
    result = run("remove", "abcdef123456", "--db", str(seeded))
    assert result.exit_code == 1 and one_line(result.stderr).startswith("Error: no article with id 'abcdef123456'")


# --- the sample after the first add, and eval --sample ------------------------------------------


def test_the_first_add_says_the_sample_is_no_longer_used(tmp_path: Path, article: Path):
    db = tmp_path / "first.db"
    first = run("add", str(article), "--db", str(db), "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["added"] == 1  # stdout stays JSON
    note = one_line(first.stderr)
    assert note.startswith("Note:") and "sample is no longer used" in note and "--sample" in note
    assert str(db) in note
    second = run("add", str(SEED), "--db", str(db))
    assert second.exit_code == 0 and "sample" not in second.stderr  # only when it turns non-empty


@pytest.fixture
def few_questions(tmp_path: Path) -> Path:
    lines = [line for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()][:12]
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_sample_evaluates_on_the_sample_whatever_the_store_holds(tmp_path: Path, article: Path, few_questions: Path):
    db = tmp_path / "mine.db"
    assert run("add", str(article), "--db", str(db)).exit_code == 0
    on_store = run("eval", str(few_questions), "--json", "--db", str(db))
    assert on_store.exit_code == 0
    assert json.loads(on_store.stdout)["metrics"]["recall@3"] == 0
    warning = one_line(on_store.stderr)
    assert warning.startswith("Warning: no article has the title of") and "--sample" in warning

    on_sample = run("eval", str(few_questions), "--json", "--sample", "--db", str(db))
    assert on_sample.exit_code == 0
    assert json.loads(on_sample.stdout)["metrics"]["recall@3"] > 0.5
    assert on_sample.stderr == ""
    # the store is untouched: still the one article
    assert len(json.loads(run("list", "--json", "--db", str(db)).stdout)) == 1


# --- articlebot bot with an unreachable Bot API -----------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


def test_bot_with_an_unreachable_bot_api_is_one_line_naming_the_url_not_the_token(tmp_path: Path):
    token = "123456:FAKE-tokenThatMustNeverBePrinted42"
    url = f"http://127.0.0.1:{_closed_port()}/bot"
    env = program_env(tmp_path) | {"TELEGRAM_BOT_TOKEN": token}
    db = tmp_path / "bot" / "store.db"
    result = subprocess.run(
        [sys.executable, "-m", "articlebot.cli", "bot", "--db", str(db), "--base-url", url],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    line = one_line(result.stderr)  # it was 248 lines of tracebacks
    assert line.startswith("Error: cannot reach the Bot API at ") and url in line
    for secret in (token, token.split(":", 1)[1]):
        assert secret not in result.stderr and secret not in result.stdout
    assert "Traceback" not in result.stderr
    assert not db.parent.exists()  # checked before the store is opened


def test_check_bot_api_passes_a_live_server_and_refuses_a_wrong_token():
    """The check that precedes the bot: getMe against the fake Bot API (on 127.0.0.1)."""
    import asyncio
    import threading

    from fake_telegram import FakeTelegram  # tests/fake_telegram.py

    from articlebot.bot.app import check_bot_api
    from articlebot.bot.config import BotConfig, ConfigError, api_urls

    real = "123456:REAL-token-of-the-fake-server"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeTelegram(real)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(5)
    try:
        base_url, base_file_url = api_urls(fake.base_url)
        check_bot_api(BotConfig(token=real, base_url=base_url, base_file_url=base_file_url))
        assert [c.method for c in fake.calls] == ["getMe"]
        wrong = "123456:WRONG-token-typed-in-the-environment"
        with pytest.raises(ConfigError) as info:
            check_bot_api(BotConfig(token=wrong, base_url=base_url, base_file_url=base_file_url))
        assert "TELEGRAM_BOT_TOKEN" in str(info.value) and wrong not in str(info.value)
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
