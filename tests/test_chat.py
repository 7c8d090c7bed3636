"""`articlebot chat`: the bot's answers in a terminal. CliRunner's stdin is not a TTY, so
these runs are the scriptable mode: an answer per input line, nothing else, exit at EOF."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from paths import SEED

from articlebot.bot.chat import format_terminal_answer, terminal_language
from articlebot.bot.replies import no_answer_text
from articlebot.cli import cli
from articlebot.corpus.store import Store
from articlebot.retrieval.search import Hit

SEED_TITLE = "北京：打造共建“一带一路”高标准建设的试验示范"
NONSENSE = "xyzzy plugh"


@pytest.fixture
def chat(tmp_path):
    runner = CliRunner()

    def run(text: str, *args: str, db: str | None = None):
        if db is None:
            db = str(tmp_path / "empty.db")
            Store.open(db).close()  # an empty store: chat answers from the sample
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
    result = chat(f"研发经费占GDP比重\n{NONSENSE}\n", "-k", "1", "--lang", "en", "--verbose")
    assert result.exit_code == 0
    assert result.stdout.count("score") == 1
    assert "fewer words" in result.stdout


def test_ids_and_scores_only_when_verbose(chat):
    plain = chat("研发经费占GDP比重\n", "--lang", "zh").stdout
    assert "score" not in plain and ":" not in plain.split("\n")[1]  # no docid
    assert "score" in chat("研发经费占GDP比重\n", "--lang", "zh", "--verbose").stdout


def test_the_best_answer_leads_with_its_snippet_then_title_date_and_source(chat):
    first = chat("世界旅游城市联合会有多少会员\n").stdout.split("\n\n")[0].split("\n")
    assert first[0].startswith("1. 世界旅游城市联合会") and "223个会员" in first[0]
    assert first[1].strip() == f"{SEED_TITLE} · 2021-12-06 · 新浪财经"


def test_more_and_full_page_through_the_answers(chat):
    out = chat("研发经费占GDP比重\n/more\n/full 2\n/full 9\n", "-k", "1", "--lang", "en").stdout
    answer, more, full, missing = out.rstrip("\n").split("\n\n")
    assert answer.startswith("1. ") and more.startswith("2. ")
    second_title_line = more.split("\n")[0]
    assert full.split("\n")[0] == second_title_line  # the same answer, now whole
    assert len(full) >= len(more)
    assert missing == "There is no answer 9."


def test_an_english_question_gets_an_english_refusal(chat):
    from articlebot.bot.chat import question_language

    assert "I found no passage" in chat(f"{NONSENSE}\n").stdout  # without --lang: the question's language
    assert "没有找到" in chat(f"{NONSENSE}\n", "--lang", "zh").stdout  # --lang wins
    assert [question_language(q, "en") for q in ("MySQL 服务器有多少", "How many servers?", "2021")] == ["zh", "en", "en"]
    assert question_language("2021", "zh") == "zh"  # no letters either way: the locale's


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


SAMPLE_HIT = Hit(
    article_id="a" * 12,
    title="标题",
    paragraph_index=0,
    text="全市研发经费支出占地区生产总值比重保持在6%左右，在国际创新城市中名列前位。",
    section=None,
    score=1.0,
    published=None,
    author=None,
    url=None,
    pid=1,
    highlights=((2, 6),),
)


def test_terminal_rendering_styles_titles_and_highlights():
    hit = SAMPLE_HIT
    shown = format_terminal_answer("研发经费", [hit], "zh")
    assert shown.startswith("1. 全市\x1b[31m\x1b[1m研发经费\x1b[0m支出")  # the matched term in bold red
    assert "\n   \x1b[1m标题\x1b[0m" in shown  # then the bold title
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


def test_the_terminal_chat_does_not_import_the_cli():
    """Presentation of hits lives in one module (bot/present.py) that the CLI, the chat and
    the bot use; the chat importing the CLI module was a cycle."""
    import subprocess
    import sys

    code = "import sys, articlebot.bot.chat; print('articlebot.cli' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_wrapping_counts_wide_characters_and_hangs_the_indent():
    from articlebot.bot.present import text_width, wrap

    segments = [
        (None, "世界旅游城市联合会已成为拥有75个国家、223个会员的国际组织，"),
        ("b", "Shadowserver"),
        (None, " found 3.6 million MySQL servers."),
    ]
    lines = ["".join(text for _, text in line) for line in wrap(segments, 30, 3)]
    assert all(text_width(line) <= 27 for line in lines)
    assert "".join(lines).replace(" ", "") == "".join(t for _, t in segments).replace(" ", "")
    assert any("Shadowserver" in line for line in lines)  # a word stays whole
    shown = format_terminal_answer("q", [SAMPLE_HIT], "zh", width=30)
    assert all(line.startswith("   ") for line in shown.split("\n")[1:])  # the hanging indent
