"""`articlebot chat`: the bot's answers in a terminal. CliRunner's stdin is not a TTY, so
these runs are the scriptable mode: an answer per input line, nothing else, exit at EOF."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from paths import SEED

from articlebot.bot.chat import format_terminal_answer, terminal_language
from articlebot.bot.replies import no_answer_text
from articlebot.cli import cli
from articlebot.retrieval.search import Hit

SEED_TITLE = "北京：打造共建“一带一路”高标准建设的试验示范"
NONSENSE = "xyzzy plugh"


@pytest.fixture
def chat(tmp_path):
    runner = CliRunner()

    def run(text: str, *args: str, db: str | None = None):
        db = db or str(tmp_path / "empty.db")
        result = runner.invoke(cli, ["chat", "--db", db, *args], input=text, catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return run


def test_answers_each_line_from_the_sample_then_exits_at_eof(chat):
    result = chat(f"研发经费占GDP比重\n\n   \n{NONSENSE}\n", "--lang", "zh")
    assert result.exit_code == 0
    assert "bundled sample" in result.stderr  # open_corpus's note, on stderr only
    answers = result.stdout.split("\n\n")
    assert SEED_TITLE in answers[0] and "6%左右" in answers[0]
    assert result.stdout.rstrip("\n").endswith(no_answer_text(NONSENSE, "zh"))
    assert "没有找到" in result.stdout and "换个说法" in result.stdout
    assert "> " not in result.stdout and "articlebot" not in result.stdout  # answers only: no prompt, no banner


def test_k_limits_the_passages_and_english_hint(chat):
    result = chat(f"研发经费占GDP比重\n{NONSENSE}\n", "-k", "1", "--lang", "en")
    assert result.exit_code == 0
    assert result.stdout.count("score") == 1
    assert "fewer words" in result.stdout


def test_quit_stops_and_help_gives_tips(chat):
    result = chat("/help\nquit\n研发经费占GDP比重\n", "--lang", "en")
    assert result.exit_code == 0
    assert "Tips" in result.stdout and "6%左右" not in result.stdout


def test_empty_input_exits_quietly(chat):
    result = chat("")
    assert result.exit_code == 0 and result.stdout == ""


def test_uses_the_users_store_when_it_has_articles(chat, tmp_path):
    db = str(tmp_path / "own.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["add", str(SEED), "--db", db]).exit_code == 0
    result = chat("世界旅游城市联合会有多少会员\n", db=db)
    assert result.exit_code == 0
    assert "bundled sample" not in result.stderr
    assert "223个会员" in result.stdout


def test_terminal_rendering_styles_titles_and_highlights():
    text = "全市研发经费支出占地区生产总值比重保持在6%左右"
    hit = Hit(
        article_id="a" * 12,
        title="标题",
        paragraph_index=0,
        text=text,
        section=None,
        score=1.0,
        published=None,
        source=None,
        pid=1,
        highlights=((2, 6),),
    )
    shown = format_terminal_answer("研发经费", [hit], "zh")
    assert "\x1b[1m1. 标题" in shown  # bold title
    assert "全市\x1b[31m\x1b[1m研发经费\x1b[0m支出" in shown  # the matched term in bold red
    assert format_terminal_answer("q", [], "en") == no_answer_text("q", "en")


@pytest.mark.parametrize(
    "env, lang",
    [
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LC_ALL": "en_GB", "LANG": "zh_CN"}, "en"),
        ({}, "zh"),
        ({"LANG": "C.UTF-8"}, "zh"),
    ],
)
def test_terminal_language_follows_the_locale(env, lang):
    assert terminal_language(env) == lang
