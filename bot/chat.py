"""`articlebot chat`: the bot's answers in a terminal.

On a TTY it is a prompt loop; otherwise it answers each input line and exits at EOF,
printing answers only, so it can be scripted (`articlebot chat < questions.txt`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

import click

from articlebot.bot.replies import language_of, no_answer_text
from articlebot.cli import render_hit
from articlebot.retrieval.search import Hit

PROMPT = "> "
QUIT = {"quit", "exit", "/quit", "/exit"}

TEXTS = {
    "zh": {
        "welcome": "articlebot 问答：输入问题后回车。/help 查看提示，quit 或 Ctrl-D 退出。",
        "help": "提示：\n• 用几个关键词提问效果最好，例如：研发经费占GDP比重\n"
        "• 没有结果时，换个说法或少用几个词。\n• quit、exit 或 Ctrl-D 退出。",
    },
    "en": {
        "welcome": "articlebot chat: type a question and press Enter. /help for tips, quit or Ctrl-D to leave.",
        "help": "Tips:\n• A few key words work best, e.g. 研发经费占GDP比重\n"
        "• No answer? Try other words, or fewer words.\n• quit, exit or Ctrl-D leaves.",
    },
}


def terminal_language(env: Mapping[str, str] = os.environ) -> str:
    """The chat's language from the locale, as the bot takes it from Telegram's language_code."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return language_of(env[name])
    return language_of(None)


def format_terminal_answer(query: str, hits: list[Hit], lang: str) -> str:
    """Hits as the CLI's `search` shows them (bold titles, highlighted terms), or the
    bot's no-answer hint."""
    if not hits:
        return no_answer_text(query, lang)
    return "\n\n".join(render_hit(rank, hit) for rank, hit in enumerate(hits, 1))


def _prompted_lines() -> Iterator[str]:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            yield input(PROMPT)
        except (EOFError, KeyboardInterrupt):  # Ctrl-D / Ctrl-C leave, on a fresh line
            click.echo()
            return


def run_chat(search: Callable[[str], list[Hit]], lang: str, interactive: bool, stream: TextIO | None = None) -> None:
    """Answer questions until quit/exit or the end of input. Empty lines are skipped."""
    if interactive:
        click.echo(TEXTS[lang]["welcome"])
        lines: Iterator[str] = _prompted_lines()
    else:
        lines = iter(stream or sys.stdin)
    for line in lines:
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT:
            break
        if question == "/help":
            click.echo(TEXTS[lang]["help"] + "\n")
            continue
        click.echo(format_terminal_answer(question, search(question), lang) + "\n")
