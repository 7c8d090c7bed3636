"""Retrieval evaluation: a question file -> the searcher's hits -> metrics and a TREC run.

The question file has one JSON object a line (UTF-8; blank lines and lines starting
with `#` are skipped):

    {"id": "q001", "query": "...", "title": "<article title>", "answer": "<substring>"}
    {"id": "q002", "query": "...", "answers": ["<substring>", "<substring>"]}
    {"id": "q003", "query": "...", "title": null, "answer": null}      # no-answer

`id` is optional (default "L<line number>"); `title` is optional for an answerable
question (then only the answer decides). A hit is relevant to a question when the
title is absent/null or equals the hit's article title, and the hit's text contains
one of the answers (exact substring). `"answer": null` (or `"answers": null`) makes a
no-answer question: the right response to it is no hits at all.

Metrics. Each answer of a question stands for one right paragraph, so:

- recall@k: the share of the question's answers found in the top k hits (an answer is
  found by the first relevant hit that contains it); with one answer this is 0 or 1.
- MRR@10: 1 / rank of the first relevant hit (any answer) within the top 10, else 0.
- nDCG@10: binary gains, linear gain with a log2(rank + 1) discount (trec_eval's
  formula): gain 1 at the rank where an answer is first found, 0 for other hits
  (a repeated copy of a found answer earns nothing); the ideal is one 1 per answer.
- These are averaged over the answerable questions (None when there are none).
- no_answer_recall: the share of no-answer questions that got no hits.
- no_answer_precision: among all questions that got no hits, the share that really
  were no-answer questions (1.0 when no question got no hits).
- false_refusals: the share of answerable questions that got no hits.
- latency_ms_p50 / _p99: nearest-rank percentiles of the time of each search call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from articlebot.corpus.errors import ArticlebotError
from articlebot.retrieval.sentinel import DEFAULT, Default

if TYPE_CHECKING:  # retrieval.search imports numpy; the metrics need none of it
    from articlebot.retrieval.search import Hit

MRR_DEPTH = 10  # MRR and nDCG look at the top 10, whatever k is
SNIPPET_CHARS = 80


class EvalError(ArticlebotError):
    """The evaluation cannot run or its output cannot be written."""


class QuestionFileError(EvalError):
    """The question file is missing, unreadable, or has a bad line (named with its number)."""

    def __init__(self, path: str | Path, reason: str, line: int | None = None):
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


# --- questions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    query: str
    title: str | None = None  # the right article's title; None: any article
    answers: tuple[str, ...] = ()  # substrings of the right paragraphs; () = no-answer question
    line: int = 0  # line number in the question file (0 when built in code)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: str | Path) -> list[Question]:
    """Read a question file (format in the module docstring); raise QuestionFileError on any bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionFileError(path, "no such file") from None
    except IsADirectoryError:
        raise QuestionFileError(path, "is a directory, not a question file") from None
    except UnicodeDecodeError:
        raise QuestionFileError(path, "is not UTF-8 text") from None
    except OSError as exc:
        raise QuestionFileError(path, f"cannot read: {exc.strerror or exc}") from None

    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        question = _parse_line(path, number, line)
        if question.id in seen:
            raise QuestionFileError(path, f"duplicate id {question.id!r} (first on line {seen[question.id]})", number)
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionFileError(path, "has no questions")
    return questions


def _parse_line(path: Path, number: int, line: str) -> Question:
    def bad(reason: str) -> QuestionFileError:
        return QuestionFileError(path, reason, number)

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise bad("expected a JSON object")

    if "query" not in record:
        raise bad('missing "query"')
    query = record["query"]
    if not isinstance(query, str):
        raise bad(f'"query" must be a string, not {_kind(query)}')
    if not query.strip():
        raise bad('"query" is empty')

    qid = record.get("id")
    if qid is None:
        qid = f"L{number}"
    elif isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    elif not isinstance(qid, str):
        raise bad(f'"id" must be a string, not {_kind(qid)}')
    if not qid or any(c.isspace() for c in qid):
        raise bad(f'"id" must be non-empty and without spaces (it is a TREC query id): {qid!r}')

    title = record.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise bad(f'"title" must be a non-empty string or null, not {_kind(title)}')

    if "answer" in record and "answers" in record:
        raise bad('give either "answer" or "answers", not both')
    if "answer" in record:
        answer = record["answer"]
        if answer is None:
            answers: tuple[str, ...] = ()
        elif isinstance(answer, str):
            if not answer:
                raise bad('"answer" is an empty string (use null for a no-answer question)')
            answers = (answer,)
        else:
            raise bad(f'"answer" must be a string or null, not {_kind(answer)}')
    elif "answers" in record:
        value = record["answers"]
        if value is None:
            answers = ()
        elif not isinstance(value, list):
            raise bad(f'"answers" must be a list of strings, not {_kind(value)}')
        elif not value:
            raise bad('"answers" is empty (use "answer": null for a no-answer question)')
        elif not all(isinstance(a, str) and a for a in value):
            raise bad('"answers" must hold only non-empty strings')
        else:
            answers = tuple(dict.fromkeys(value))  # a repeated answer counts once
    else:
        raise bad('missing "answer" (use "answer": null for a no-answer question)')

    return Question(id=qid, query=query, title=title, answers=answers, line=number)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", str: "a string"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def unknown_titles(questions: Iterable[Question], known_titles: Iterable[str]) -> list[Question]:
    """The questions naming a title no article has (a typo makes every hit wrong)."""
    known = set(known_titles)
    return [q for q in questions if q.title is not None and q.answerable and q.title not in known]


# --- metrics (pure) ---------------------------------------------------------------------


def recall_at_k(ranked_relevance: Sequence[int | bool], n_relevant: int, k: int) -> float:
    """The share of the n_relevant relevant items found in the top k.

    ranked_relevance[i] is how many relevant items the hit at rank i + 1 newly brings
    (True/False for one). 0.0 when k <= 0 or n_relevant <= 0; never above 1.0.
    """
    if k <= 0 or n_relevant <= 0:
        return 0.0
    found = sum(int(r) for r in ranked_relevance[:k])
    return min(1.0, found / n_relevant)


def reciprocal_rank(ranked_relevance: Sequence[int | bool], k: int = MRR_DEPTH) -> float:
    """1 / the rank of the first relevant hit within the top k, else 0.0."""
    for rank, relevant in enumerate(ranked_relevance[: max(k, 0)], 1):
        if relevant:
            return 1.0 / rank
    return 0.0


def dcg_at_k(gains: Sequence[float], k: int = MRR_DEPTH) -> float:
    """Discounted cumulative gain: sum of gain_i / log2(i + 1) over ranks i = 1..k."""
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains[: max(k, 0)], 1))


def ndcg_at_k(gains: Sequence[float], ideal_gains: Sequence[float], k: int = MRR_DEPTH) -> float:
    """DCG@k of the ranking's gains over the DCG@k of the ideal ranking.

    ideal_gains are the gains of all the relevant items (any order; they are sorted
    best first here). 0.0 when the ideal DCG is 0 (nothing relevant) or the ranking is
    empty. Binary relevance is gains of 0 and 1.
    """
    ideal = dcg_at_k(sorted(ideal_gains, reverse=True), k)
    if ideal <= 0:
        return 0.0
    return dcg_at_k(gains, k) / ideal


def refusal_metrics(no_answer: Sequence[bool], refused: Sequence[bool]) -> dict[str, float | None]:
    """The no-answer metrics from, per question, whether it is a no-answer question and
    whether it got no hits (was refused).

    no_answer_recall = refused no-answer questions / no-answer questions (None if none);
    no_answer_precision = refused no-answer questions / refused questions (1.0 if none refused);
    false_refusals = refused answerable questions / answerable questions (None if none).
    """
    if len(no_answer) != len(refused):
        raise ValueError("no_answer and refused must have one entry per question")
    n_no_answer = sum(1 for n in no_answer if n)
    n_answerable = len(no_answer) - n_no_answer
    n_refused = sum(1 for r in refused if r)
    right = sum(1 for n, r in zip(no_answer, refused) if n and r)
    wrong = n_refused - right
    return {
        "no_answer_recall": right / n_no_answer if n_no_answer else None,
        "no_answer_precision": right / n_refused if n_refused else 1.0,
        "false_refusals": wrong / n_answerable if n_answerable else None,
    }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None (a metric is None for a question it does
    not apply to); None when no value is left."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


# --- running the questions --------------------------------------------------------------


class SearcherLike(Protocol):
    def search(self, query: str, k: int = ..., per_article: int | None | Default = ...) -> list[Hit]: ...


def answers_in(hit: Hit, question: Question) -> set[int]:
    """The indices of the question's answers this hit holds (none when the title differs)."""
    if not question.answerable or (question.title is not None and hit.title != question.title):
        return set()
    return {i for i, answer in enumerate(question.answers) if answer in hit.text}


def answer_in_snippet(hit: Hit, question: Question) -> bool:
    """Whether the hit's snippet shows one of the question's answers (right title too)."""
    if not question.answerable or (question.title is not None and hit.title != question.title):
        return False
    return any(answer in hit.snippet for answer in question.answers)


def is_relevant(hit: Hit, question: Question) -> bool:
    return bool(answers_in(hit, question))


@dataclass
class QueryResult:
    question: Question
    hits: list[Hit]
    latency_ms: float
    new_answers: list[int] = field(default_factory=list)  # per rank: answers first found there
    relevant: list[bool] = field(default_factory=list)  # per rank: the hit holds an answer
    k: int = 10

    @classmethod
    def judge(cls, question: Question, hits: list[Hit], latency_ms: float, k: int) -> QueryResult:
        found: set[int] = set()
        new_answers, relevant = [], []
        for hit in hits:
            held = answers_in(hit, question)
            new_answers.append(len(held - found))
            relevant.append(bool(held))
            found |= held
        return cls(question, hits, latency_ms, new_answers, relevant, k)

    @property
    def rank(self) -> int | None:
        """The rank (from 1) of the first relevant hit, None when no hit is relevant."""
        return next((i for i, r in enumerate(self.relevant, 1) if r), None)

    @property
    def refused(self) -> bool:
        return not self.hits

    @property
    def correct(self) -> bool:
        """Right at rank 1 (answerable), or no hits (no-answer question)."""
        return self.rank == 1 if self.question.answerable else self.refused

    def recall(self, k: int) -> float | None:
        if not self.question.answerable:
            return None
        return recall_at_k(self.new_answers, len(self.question.answers), k)

    def snippet_at(self, k: int) -> float | None:
        """1.0 when a hit of the top k shows an answer inside its snippet (the excerpt a
        reader sees first), else 0.0; None for a no-answer question."""
        if not self.question.answerable:
            return None
        return float(any(answer_in_snippet(hit, self.question) for hit in self.hits[:k]))

    def rr(self) -> float | None:
        return reciprocal_rank(self.relevant, MRR_DEPTH) if self.question.answerable else None

    def ndcg(self) -> float | None:
        if not self.question.answerable:
            return None
        gains = [1.0 if n else 0.0 for n in self.new_answers]
        return ndcg_at_k(gains, [1.0] * len(self.question.answers), MRR_DEPTH)

    def to_dict(self) -> dict:
        q = self.question
        top = self.hits[0] if self.hits else None
        return {
            "id": q.id,
            "query": q.query,
            "line": q.line,
            "answerable": q.answerable,
            "expected_title": q.title,
            "expected_answers": list(q.answers),
            "rank": self.rank,
            "correct": self.correct,
            "recall@1": self.recall(1),
            "recall@3": self.recall(3),
            f"recall@{self.k}": self.recall(self.k),
            "snippet@1": self.snippet_at(1),
            "snippet@3": self.snippet_at(3),
            "rr@10": self.rr(),
            "ndcg@10": self.ndcg(),
            "latency_ms": round(self.latency_ms, 3),
            "top": None if top is None else {"docid": top.docid, "title": top.title, "snippet": snippet(top.text), "score": top.score},
            "hits": [h.docid for h in self.hits],
        }


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class EvalReport:
    k: int
    per_article: int | None | Default
    results: list[QueryResult]

    @property
    def answerable(self) -> list[QueryResult]:
        return [r for r in self.results if r.question.answerable]

    @property
    def no_answer(self) -> list[QueryResult]:
        return [r for r in self.results if not r.question.answerable]

    @property
    def metrics(self) -> dict[str, float | None]:
        """Metric name -> value (None when the questions it averages over are absent)."""
        answerable = self.answerable
        values: dict[str, float | None] = {}
        for k in dict.fromkeys((1, 3, self.k)):
            values[f"recall@{k}"] = _mean([r.recall(k) for r in answerable])
        values["mrr@10"] = _mean([r.rr() for r in answerable])
        values["ndcg@10"] = _mean([r.ndcg() for r in answerable])
        for k in (1, 3):
            values[f"snippet@{k}"] = _mean([r.snippet_at(k) for r in answerable])
        values.update(refusal_metrics([not r.question.answerable for r in self.results], [r.refused for r in self.results]))
        latencies = [r.latency_ms for r in self.results]
        values["latency_ms_p50"] = percentile(latencies, 50)
        values["latency_ms_p99"] = percentile(latencies, 99)
        return values

    @property
    def misses(self) -> list[QueryResult]:
        """Answerable questions not right at rank 1, and no-answer questions that got hits."""
        return [r for r in self.results if not r.correct]

    def to_dict(self) -> dict:
        return {
            "k": self.k,
            "per_article": self.per_article.value if isinstance(self.per_article, Default) else self.per_article,
            "questions": len(self.results),
            "answerable": len(self.answerable),
            "no_answer": len(self.no_answer),
            "metrics": {
                name: round(value, 3) if value is not None and name.startswith("latency") else value for name, value in self.metrics.items()
            },
            "results": [r.to_dict() for r in self.results],
        }


def evaluate(
    searcher: SearcherLike,
    questions: Sequence[Question],
    k: int = 10,
    per_article: int | None | Default = DEFAULT,
    clock: Callable[[], float] = time.perf_counter,
    warm_up: bool = True,
) -> EvalReport:
    """Run each question through searcher.search(query, k=max(k, 10), per_article) and judge it.

    per_article=DEFAULT uses the searcher's own setting (what the bot does). With
    warm_up, the first question is searched once untimed beforehand: the first search
    of a process pays one-time costs (about 0.2 s) that would otherwise be its p99.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    depth = max(k, MRR_DEPTH)
    if warm_up and questions:
        searcher.search(questions[0].query, k=depth, per_article=per_article)
    results = []
    for question in questions:
        start = clock()
        hits = list(searcher.search(question.query, k=depth, per_article=per_article))
        elapsed_ms = (clock() - start) * 1000
        results.append(QueryResult.judge(question, hits, elapsed_ms, k))
    return EvalReport(k=k, per_article=per_article, results=results)


def write_trec_run(report: EvalReport, path: str | Path, tag: str = "articlebot") -> int:
    """Write the hits as a TREC run file: `qid Q0 docid rank score tag` a line, ranks from 1.

    docid is `<article_id>:<paragraph_index>`; questions without hits write no lines.
    Returns the number of lines written.
    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"a TREC run tag has no spaces: {tag!r}")
    lines = [f"{r.question.id} Q0 {hit.docid} {rank} {hit.score:.6f} {tag}\n" for r in report.results for rank, hit in enumerate(r.hits, 1)]
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(lines)
    except OSError as exc:
        raise EvalError(f"cannot write the run file {path}: {exc.strerror or exc}") from None
    return len(lines)
