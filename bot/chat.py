"""`articlebot chat`: the bot's answers in a terminal.

On a TTY it is a prompt loop; otherwise it answers each input line and exits at EOF,
printing answers only, so it can be scripted (`articlebot chat < questions.txt`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import click

from articlebot.bot.present import full_paragraph, terminal_answer
from articlebot.bot.replies import language_of, no_answer_text
from articlebot.retrieval.search import Hit

PROMPT = "> "
QUIT = {"quit", "exit", "/quit", "/exit"}
PAGES = 4  # a question fetches k * PAGES answers; /more shows the next k

TEXTS = {
    "zh": {
        "welcome": "articlebot 问答：输入问题后回车。/help 查看提示，quit 或 Ctrl-D 退出。",
        "help": "提示：\n• 用几个关键词提问效果最好，例如：研发经费占GDP比重\n"
        "• /more 显示更多答案，/full N 显示第 N 个答案的整段原文。\n"
        "• 没有结果时，换个说法或少用几个词。\n• quit、exit 或 Ctrl-D 退出。",
        "nothing_more": "没有更多答案了。",
        "ask_first": "请先提问。",
        "no_such": "没有第 {n} 个答案。",
    },
    "en": {
        "welcome": "articlebot chat: type a question and press Enter. /help for tips, quit or Ctrl-D to leave.",
        "help": "Tips:\n• A few key words work best, e.g. 研发经费占GDP比重\n"
        "• /more shows further answers, /full N the whole paragraph of answer N.\n"
        "• No answer? Try other words, or fewer words.\n• quit, exit or Ctrl-D leaves.",
        "nothing_more": "No further answers.",
        "ask_first": "Ask a question first.",
        "no_such": "There is no answer {n}.",
    },
}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def terminal_language(env: Mapping[str, str] = os.environ) -> str:
    """The chat's language from the locale, as the bot takes it from Telegram's language_code."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return language_of(env[name])
    return language_of(None)


def question_language(question: str, default: str) -> str:
    """The language to answer in: Chinese for a question with Chinese characters, English
    for one in Latin letters only, else `default` (the locale's)."""
    if _CJK.search(question):
        return "zh"
    return "en" if _LATIN.search(question) else default


def format_terminal_answer(query: str, hits: list[Hit], lang: str, width: int | None = None, verbose: bool = False) -> str:
    """The answers as the chat shows them (bot/present.py), or the no-answer hint."""
    if not hits:
        return no_answer_text(query, lang)
    return terminal_answer(hits, width=width, verbose=verbose)


def _prompted_lines() -> Iterator[str]:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            yield input(PROMPT)
        except (EOFError, KeyboardInterrupt):  # Ctrl-D / Ctrl-C leave, on a fresh line
            click.echo()
            return


@dataclass
class ChatSession:
    """One conversation: the last question's answers, for /more and /full."""

    search: Callable[[str], list[Hit]]
    k: int
    lang: str | None  # fixed by --lang; None: each question's own language
    default_lang: str
    width: int | None = None
    verbose: bool = False
    hits: list[Hit] = field(default_factory=list)
    shown: int = 0
    last_lang: str = "zh"

    def reply(self, line: str) -> str:
        """What the chat prints for one input line (a question or a command)."""
        if line == "/help":
            return TEXTS[self.lang or self.default_lang]["help"]
        if line == "/more":
            return self._more()
        if line.startswith("/full"):
            return self._full(line.removeprefix("/full").strip())
        lang = self.lang or question_language(line, self.default_lang)
        self.hits, self.last_lang = self.search(line), lang
        self.shown = min(self.k, len(self.hits))
        return format_terminal_answer(line, self.hits[: self.shown], lang, self.width, self.verbose)

    def _more(self) -> str:
        texts = TEXTS[self.lang or self.last_lang]
        if not self.hits:
            return texts["ask_first"]
        if self.shown >= len(self.hits):
            return texts["nothing_more"]
        page = self.hits[self.shown : self.shown + self.k]
        first = self.shown + 1
        self.shown += len(page)
        return terminal_answer(page, first_rank=first, width=self.width, verbose=self.verbose)

    def _full(self, arg: str) -> str:
        texts = TEXTS[self.lang or self.last_lang]
        if not self.hits:
            return texts["ask_first"]
        n = int(arg) if arg.isdigit() else 1
        if not 1 <= n <= self.shown:
            return texts["no_such"].format(n=arg or n)
        return full_paragraph(self.hits[n - 1], n, self.width, self.verbose)


def run_chat(session: ChatSession, interactive: bool, stream: TextIO | None = None) -> None:
    """Answer questions until quit/exit or the end of input. Empty lines are skipped."""
    if interactive:
        click.echo(TEXTS[session.lang or session.default_lang]["welcome"])
        lines: Iterator[str] = _prompted_lines()
    else:
        lines = iter(stream or sys.stdin)
    for line in lines:
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT:
            break
        click.echo(session.reply(question) + "\n")
