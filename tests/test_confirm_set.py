"""The frozen confirm question set (eval/confirm.jsonl) stays valid: its format, its counts,
and, when the shared archive is present, its answers against the articles it names.
No search is run here: the set is only checked, never scored."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from articlebot.corpus.parse import parse_file
from articlebot.corpus.sample import sample_files
from articlebot.retrieval.evaluate import load_questions

EVAL = Path(__file__).resolve().parents[1] / "eval"
CONFIRM = EVAL / "confirm.jsonl"
FILES = EVAL / "confirm-files.txt"


def _checker():
    spec = importlib.util.spec_from_file_location("check_questions", EVAL / "check_questions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_confirm_set_has_its_counts_and_its_own_ids():
    questions = load_questions(CONFIRM)
    answerable = [q for q in questions if q.answerable]
    no_answer = [q for q in questions if not q.answerable]
    assert len(questions) >= 120 and len(answerable) >= 85 and len(no_answer) >= 25
    assert all(q.id.startswith("c") for q in answerable) and all(q.id.startswith("x") for q in no_answer)
    assert not {q.id for q in questions} & {q.id for q in load_questions(EVAL / "questions.jsonl")}
    languages = Counter(_checker().language(q.query) for q in questions)
    assert languages["en"] + languages["mixed"] >= 10


def test_confirm_articles_are_the_archive_articles_missing_from_the_sample(shared_corpus_dir):
    names = FILES.read_text(encoding="utf-8").split()
    sample = [parse_file(f) for f in sample_files()]
    sample_ids, sample_titles = {a.id for a in sample}, {a.title for a in sample}
    archive = {f.name: parse_file(f) for f in sorted(shared_corpus_dir.glob("*.md"))}
    expected = [n for n, a in archive.items() if a.id not in sample_ids and a.title not in sample_titles]
    assert names == expected


def test_confirm_answers_hold_in_the_confirm_articles(shared_corpus_dir, capsys):
    names = FILES.read_text(encoding="utf-8").split()
    files = [str(shared_corpus_dir / n) for n in names]
    assert _checker().main([str(CONFIRM), *files, "--other", str(EVAL / "questions.jsonl")]) == 0, capsys.readouterr().out
