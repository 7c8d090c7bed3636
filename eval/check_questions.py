"""Check a question file against the articles it is written for; exit 1 on any problem.

    python eval/check_questions.py QUESTIONS ARTICLE_FILE_OR_DIR... [--other OTHER.jsonl]

The articles are parsed exactly as `articlebot add` parses them (corpus.parse.parse_file),
so the paragraphs are the cleaned paragraphs the product stores and searches. Checks:

- the file loads with the evaluator's own reader (valid JSON lines, keys, unique ids);
- ids: answerable questions `cNNN`/`qNNN`, no-answer questions `xNNN`/`nNNN`; with
  --other, no id is also used in the other question file;
- every `title` is exactly one article's title; no-answer lines have null title and answer;
- every answer substring occurs in exactly one paragraph of all the given articles, and
  that paragraph belongs to the article named by `title`;
- the answers of a multi-answer question are in different paragraphs;
- answers of 5-20 characters (others are reported as warnings, not errors).

Prints counts by kind and per article.

Example (the confirm set; the archive unpacked to $DIR):

    python eval/check_questions.py eval/confirm.jsonl \
        $(sed "s|^|$DIR/hexo-news/|" eval/confirm-files.txt) --other eval/questions.jsonl
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from articlebot.corpus.formats import is_article_file_name  # noqa: E402
from articlebot.corpus.parse import parse_file  # noqa: E402
from articlebot.retrieval.evaluate import load_questions  # noqa: E402

ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def article_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_article_file_name(p.name)))
        else:
            files.append(path)
    return files


def language(query: str) -> str:
    """'en' without any CJK character, 'mixed' with CJK and at least two ASCII words, else 'zh'."""
    if not CJK.search(query):
        return "en"
    return "mixed" if len(ASCII_WORD.findall(query)) >= 2 else "zh"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions")
    parser.add_argument("articles", nargs="+", help="article files or directories")
    parser.add_argument("--other", action="append", default=[], help="another question file whose ids must not be reused")
    args = parser.parse_args(argv)

    questions = load_questions(args.questions)
    articles = [parse_file(f) for f in article_files(args.articles)]
    titles = Counter(a.title for a in articles)
    paragraphs = [(a.title, p.index, p.text) for a in articles for p in a.paragraphs]

    errors: list[str] = []
    warnings: list[str] = []
    for title, n in titles.items():
        if n > 1:
            errors.append(f"title {title!r} is shared by {n} articles")
    other_ids = {q.id for path in args.other for q in load_questions(path)}

    per_article: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for q in questions:
        where = f"{q.id} (line {q.line})"
        if q.id in other_ids:
            errors.append(f"{where}: id also used in {', '.join(args.other)}")
        kinds[language(q.query)] += 1
        if not q.answerable:
            kinds["no-answer"] += 1
            if not re.fullmatch(r"[xn]\d{3}", q.id):
                errors.append(f"{where}: a no-answer id should be xNNN")
            if q.title is not None:
                errors.append(f"{where}: a no-answer question must have a null title")
            continue
        kinds["answerable"] += 1
        if len(q.answers) > 1:
            kinds["multi-answer"] += 1
        if not re.fullmatch(r"[cq]\d{3}", q.id):
            errors.append(f"{where}: an answerable id should be cNNN")
        if titles.get(q.title) != 1:
            errors.append(f"{where}: title {q.title!r} is not the title of exactly one article")
            continue
        per_article[q.title] += 1
        found: list[int] = []
        for answer in q.answers:
            if not 5 <= len(answer) <= 20:
                warnings.append(f"{where}: answer {answer!r} has {len(answer)} characters")
            hits = [(t, i) for t, i, text in paragraphs if answer in text]
            if len(hits) != 1:
                errors.append(f"{where}: answer {answer!r} occurs in {len(hits)} paragraphs: {hits}")
            elif hits[0][0] != q.title:
                errors.append(f"{where}: answer {answer!r} is in {hits[0][0]!r}, not in {q.title!r}")
            else:
                found.append(hits[0][1])
        if len(found) != len(set(found)):
            errors.append(f"{where}: two answers are in the same paragraph {found}")

    print(f"{len(questions)} questions over {len(articles)} articles ({len(paragraphs)} paragraphs)")
    print(
        f"answerable {kinds['answerable']} (multi-answer {kinds['multi-answer']}), no-answer {kinds['no-answer']}; "
        f"language: zh {kinds['zh']}, en {kinds['en']}, mixed {kinds['mixed']}"
    )
    for a in articles:
        print(f"  {per_article[a.title]:3d}  {Path(a.source_path).name}  {a.id}  {a.title}")
    for line in warnings:
        print("warning:", line)
    for line in errors:
        print("error:", line)
    missing = [a.title for a in articles if per_article[a.title] == 0]
    if missing:
        print(f"note: {len(missing)} article(s) without a question")
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
