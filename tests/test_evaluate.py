"""Retrieval evaluation: metrics with hand-computed values, the question file, the TREC run,
`evaluate` over a fake searcher, and `articlebot eval` end to end on the bundled sample."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from articlebot.cli import cli
from articlebot.corpus.errors import ArticlebotError
from articlebot.corpus.store import Store
from articlebot.retrieval.evaluate import (
    EvalReport,
    QueryResult,
    Question,
    QuestionFileError,
    dcg_at_k,
    evaluate,
    is_relevant,
    load_questions,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    refusal_metrics,
    unknown_titles,
    write_trec_run,
)
from articlebot.retrieval.search import Hit
from articlebot.retrieval.sentinel import DEFAULT

BEIJING = "北京：打造共建“一带一路”高标准建设的试验示范"


def hit(title: str, text: str, article_id: str = "a", index: int = 0, score: float = 1.0) -> Hit:
    return Hit(
        article_id=article_id,
        title=title,
        paragraph_index=index,
        text=text,
        section=None,
        score=score,
        published=None,
        author=None,
        url=None,
        pid=index + 1,
    )


# --- recall@k ---------------------------------------------------------------------------


def test_recall_one_relevant_is_zero_or_one():
    ranked = [0, 0, 1, 0]
    assert recall_at_k(ranked, 1, 1) == 0.0
    assert recall_at_k(ranked, 1, 2) == 0.0
    assert recall_at_k(ranked, 1, 3) == 1.0
    assert recall_at_k(ranked, 1, 10) == 1.0  # k larger than the list


def test_recall_several_relevant_counts_the_share_found():
    ranked = [True, False, True, False, False, True]  # 3 of 4 relevant items retrieved
    assert recall_at_k(ranked, 4, 1) == 0.25
    assert recall_at_k(ranked, 4, 3) == 0.5
    assert recall_at_k(ranked, 4, 5) == 0.5
    assert recall_at_k(ranked, 4, 6) == 0.75
    assert recall_at_k(ranked, 4, 100) == 0.75


def test_recall_counts_and_edge_cases():
    assert recall_at_k([2, 0, 1], 3, 1) == pytest.approx(2 / 3)  # one hit bringing two items
    assert recall_at_k([2, 1], 2, 2) == 1.0  # never above 1
    assert recall_at_k([], 1, 10) == 0.0
    assert recall_at_k([1], 0, 10) == 0.0
    assert recall_at_k([1], 1, 0) == 0.0


# --- MRR ----------------------------------------------------------------------------------


def test_reciprocal_rank():
    assert reciprocal_rank([0, 0, 1, 1]) == pytest.approx(1 / 3)
    assert reciprocal_rank([1, 0]) == 1.0
    assert reciprocal_rank([False, True]) == 0.5
    assert reciprocal_rank([0, 0, 0]) == 0.0
    assert reciprocal_rank([]) == 0.0
    assert reciprocal_rank([0, 0, 1], k=2) == 0.0  # beyond the cut-off
    assert reciprocal_rank([0] * 10 + [1]) == 0.0  # k defaults to 10
    assert reciprocal_rank([0] * 9 + [1]) == 0.1


# --- nDCG ---------------------------------------------------------------------------------


def test_ndcg_graded_gains():
    gains = [3, 2, 3, 0, 1, 2]
    # DCG@6  = 3/log2(2) + 2/log2(3) + 3/log2(4) + 0/log2(5) + 1/log2(6) + 2/log2(7)
    #        = 3 + 1.261860 + 1.5 + 0 + 0.386853 + 0.712414 = 6.861127
    # ideal = the gains sorted best first: [3, 3, 2, 2, 1, 0]
    # IDCG@6 = 3 + 3/1.584963 + 2/2 + 2/2.321928 + 1/2.584963 + 0
    #        = 3 + 1.892789 + 1 + 0.861353 + 0.386853 = 7.140995
    # nDCG@6 = 6.861127 / 7.140995 = 0.960808
    assert dcg_at_k(gains, 6) == pytest.approx(6.861127, abs=1e-6)
    assert ndcg_at_k(gains, gains, 6) == pytest.approx(0.960808, abs=1e-6)
    assert ndcg_at_k(gains, sorted(gains), 6) == pytest.approx(0.960808, abs=1e-6)  # ideal given in any order
    assert ndcg_at_k(gains, gains, 10) == pytest.approx(0.960808, abs=1e-6)  # k larger than the list
    # nDCG@3 = (3 + 1.261860 + 1.5) / (3 + 1.892789 + 1) = 5.761860 / 5.892789 = 0.977781
    assert ndcg_at_k(gains, gains, 3) == pytest.approx(0.977781, abs=1e-6)
    # nDCG@1 = 3 / 3
    assert ndcg_at_k(gains, gains, 1) == 1.0


def test_ndcg_binary():
    # relevant at ranks 2 and 4, two relevant items in all:
    # DCG = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG = 1 + 1/log2(3) = 1.630930;  nDCG = 0.650921
    assert ndcg_at_k([0, 1, 0, 1], [1, 1]) == pytest.approx(0.650921, abs=1e-6)
    # a third relevant item never retrieved: IDCG = 1 + 0.630930 + 0.5 = 2.130930 -> 0.498189
    assert ndcg_at_k([0, 1, 0, 1], [1, 1, 1]) == pytest.approx(1.061606 / 2.130930, abs=1e-6)
    assert ndcg_at_k([1, 0, 0], [1]) == 1.0
    assert ndcg_at_k([0, 0, 1], [1]) == pytest.approx(0.5)  # 1/log2(4)
    assert ndcg_at_k([True, False], [True]) == 1.0


def test_ndcg_empty_and_cut_off():
    assert ndcg_at_k([], [1]) == 0.0
    assert ndcg_at_k([], []) == 0.0
    assert ndcg_at_k([1, 1], []) == 0.0  # nothing relevant: 0, not a division by zero
    assert ndcg_at_k([0, 0, 1], [1], k=2) == 0.0
    assert ndcg_at_k([0] * 10 + [1], [1]) == 0.0  # k defaults to 10


# --- no-answer metrics, latency ---------------------------------------------------------


def test_refusal_metrics():
    # questions:      na    na     ans    ans    ans
    no_answer = [True, True, False, False, False]
    refused = [True, False, True, False, False]
    m = refusal_metrics(no_answer, refused)
    assert m["no_answer_recall"] == 0.5  # 1 of the 2 no-answer questions got no hits
    assert m["no_answer_precision"] == 0.5  # of the 2 refused questions 1 was no-answer
    assert m["false_refusals"] == pytest.approx(1 / 3)  # 1 of 3 answerable questions refused


def test_refusal_metrics_edge_cases():
    nothing_refused = refusal_metrics([True, False], [False, False])
    assert nothing_refused == {"no_answer_recall": 0.0, "no_answer_precision": 1.0, "false_refusals": 0.0}
    only_answerable = refusal_metrics([False, False], [False, True])
    assert only_answerable == {"no_answer_recall": None, "no_answer_precision": 0.0, "false_refusals": 0.5}
    only_no_answer = refusal_metrics([True, True], [True, True])
    assert only_no_answer == {"no_answer_recall": 1.0, "no_answer_precision": 1.0, "false_refusals": None}
    with pytest.raises(ValueError):
        refusal_metrics([True], [])


def test_percentile_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0  # ceil(2.5) = 3rd smallest
    assert percentile(values, 99) == 5.0
    assert percentile(values, 0) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([], 50) is None


# --- the question file ------------------------------------------------------------------


def write(tmp_path, *lines: str, name="q.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_formats(tmp_path):
    path = write(
        tmp_path,
        "# a comment",
        "",
        '{"id": "q001", "query": "研发经费", "title": "T", "answer": "6%左右"}',
        "   ",
        '{"query": "会员", "answers": ["223个会员", "75个国家", "223个会员"], "note": "extra keys are ignored"}',
        '{"id": "q003", "query": "理财券", "title": null, "answer": null}',
        '{"id": 7, "query": "x", "answer": "y"}',
        "  # an indented comment",
    )
    questions = load_questions(path)
    assert questions == [
        Question("q001", "研发经费", "T", ("6%左右",), line=3),
        Question("L5", "会员", None, ("223个会员", "75个国家"), line=5),
        Question("q003", "理财券", None, (), line=6),
        Question("7", "x", None, ("y",), line=7),
    ]
    assert [q.answerable for q in questions] == [True, True, False, True]


def test_load_questions_accepts_a_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes('\ufeff{"query": "a", "answer": "b"}\r\n{"query": "c", "answer": null}\r\n'.encode("utf-8"))
    assert [(q.id, q.query) for q in load_questions(path)] == [("L1", "a"), ("L2", "c")]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"query": "x", "answer": "y"', "invalid JSON"),
        ('["x", "y"]', "expected a JSON object"),
        ('{"title": "T", "answer": "y"}', 'missing "query"'),
        ('{"query": 12, "answer": "y"}', '"query" must be a string, not a number'),
        ('{"query": null, "answer": "y"}', '"query" must be a string, not null'),
        ('{"query": "  ", "answer": "y"}', '"query" is empty'),
        ('{"query": "x", "answer": 5}', '"answer" must be a string or null, not a number'),
        ('{"query": "x", "answer": ["y"]}', '"answer" must be a string or null, not a list'),
        ('{"query": "x", "answer": ""}', '"answer" is an empty string'),
        ('{"query": "x", "answers": []}', '"answers" is empty'),
        ('{"query": "x", "answers": "y"}', '"answers" must be a list of strings'),
        ('{"query": "x", "answers": ["y", 3]}', '"answers" must hold only non-empty strings'),
        ('{"query": "x", "answer": "y", "answers": ["z"]}', 'either "answer" or "answers"'),
        ('{"query": "x", "title": "T"}', 'missing "answer"'),
        ('{"query": "x", "title": 3, "answer": "y"}', '"title" must be a non-empty string or null'),
        ('{"id": "a b", "query": "x", "answer": "y"}', '"id" must be non-empty and without spaces'),
        ('{"id": ["a"], "query": "x", "answer": "y"}', '"id" must be a string, not a list'),
        ('{"id": "q1", "query": "x", "answer": "y"}', "duplicate id 'q1' (first on line 2)"),
    ],
)
def test_load_questions_bad_lines_name_file_and_line(tmp_path, bad_line, message):
    path = write(tmp_path, "# header", '{"id": "q1", "query": "ok", "answer": "fine"}', "", bad_line)
    with pytest.raises(QuestionFileError) as info:
        load_questions(path)
    assert isinstance(info.value, ArticlebotError)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}, line 4: ")
    assert message in str(info.value)


def test_load_questions_missing_empty_or_binary_file(tmp_path):
    with pytest.raises(QuestionFileError, match="no such file"):
        load_questions(tmp_path / "absent.jsonl")
    with pytest.raises(QuestionFileError, match="has no questions"):
        load_questions(write(tmp_path, "# only a comment", ""))
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x81{")
    with pytest.raises(QuestionFileError, match="not UTF-8"):
        load_questions(binary)
    with pytest.raises(QuestionFileError, match="directory"):
        load_questions(tmp_path)


# --- relevance ----------------------------------------------------------------------------


def test_relevance_needs_the_title_when_given_and_the_answer():
    q = Question("q", "x", "A", ("alpha",))
    assert is_relevant(hit("A", "an alpha here"), q)
    assert not is_relevant(hit("B", "an alpha here"), q)  # right text, wrong article
    assert not is_relevant(hit("A", "no answer"), q)
    anywhere = Question("q", "x", None, ("alpha", "beta"))
    assert is_relevant(hit("B", "beta"), anywhere)
    assert not is_relevant(hit("A", "alpha"), Question("q", "x", None, ()))  # no-answer: nothing is


def test_unknown_titles():
    questions = [Question("a", "x", "Known", ("y",)), Question("b", "x", "Typo", ("y",)), Question("c", "x", None, ("y",))]
    assert [q.id for q in unknown_titles(questions, ["Known", "Other"])] == ["b"]


# --- evaluate over a fake searcher --------------------------------------------------------


class FakeSearcher:
    """Returns canned hits per query and records how it was called."""

    def __init__(self, hits_by_query: dict[str, list[Hit]]):
        self.hits_by_query = hits_by_query
        self.calls: list[tuple[str, int, object]] = []

    def search(self, query, k=5, per_article=DEFAULT):
        self.calls.append((query, k, per_article))
        return self.hits_by_query.get(query, [])[:k]


def fake_clock(durations_ms):
    """perf_counter stand-in: each search takes the next duration."""
    times, now = [], 0.0
    for d in durations_ms:
        times += [now, now + d / 1000]
        now += d / 1000 + 1
    return iter(times).__next__


QUESTIONS = [
    # right article at rank 2: recall@1 0, recall@3 1, RR 1/2, nDCG 1/log2(3) = 0.630930
    Question("qa", "alpha?", "A", ("alpha",)),
    # two answers, "one" at rank 1 and "two" at rank 4 (rank 3 repeats "one"):
    # recall@1 1/2, recall@3 1/2, recall@10 1, RR 1,
    # nDCG = (1 + 1/log2(5)) / (1 + 1/log2(3)) = 1.430677 / 1.630930 = 0.877215
    Question("qb", "one two?", None, ("one", "two")),
    # the answer text, but in another article than the expected one: all 0
    Question("qc", "gamma?", "A", ("gamma",)),
    # answerable, but no hits: all 0, a false refusal
    Question("qd", "delta?", "A", ("delta",)),
    # no-answer, no hits: right
    Question("qe", "nothing?", None, ()),
    # no-answer, but hits: wrong
    Question("qf", "nothing either?", None, ()),
]
HITS = {
    "alpha?": [hit("B", "beta", "b", 0, 9.5), hit("A", "an alpha", "a", 3, 7.25), hit("A", "other", "a", 4, 1.0)],
    "one two?": [
        hit("A", "one", "a", 1, 4.0),
        hit("B", "zero", "b", 1, 3.0),
        hit("B", "one again", "b", 2, 2.0),
        hit("C", "and two", "c", 0, 1.0),
    ],
    "gamma?": [hit("B", "gamma", "b", 5, 2.0)],
    "nothing either?": [hit("C", "something", "c", 9, 0.5)],
}


@pytest.fixture
def report() -> EvalReport:
    return evaluate(FakeSearcher(HITS), QUESTIONS, k=5, clock=fake_clock([1, 2, 3, 4, 5, 6]))


def test_evaluate_searches_like_the_bot():
    searcher = FakeSearcher(HITS)
    evaluate(searcher, QUESTIONS[:2], k=5, warm_up=False)
    evaluate(searcher, QUESTIONS[:1], k=20, per_article=None, warm_up=False)
    assert searcher.calls == [("alpha?", 10, DEFAULT), ("one two?", 10, DEFAULT), ("alpha?", 20, None)]
    searcher.calls.clear()
    evaluate(searcher, QUESTIONS[:2], k=5)  # one untimed search of the first question first
    assert searcher.calls == [("alpha?", 10, DEFAULT), ("alpha?", 10, DEFAULT), ("one two?", 10, DEFAULT)]
    with pytest.raises(ValueError):
        evaluate(searcher, QUESTIONS, k=0)


def test_evaluate_aggregates_by_hand(report):
    m = report.metrics
    assert list(m) == [
        "recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10", "snippet@1", "snippet@3",
        "no_answer_recall", "no_answer_precision", "false_refusals", "latency_ms_p50", "latency_ms_p99",
    ]  # fmt: skip
    # over the 4 answerable questions qa, qb, qc, qd:
    assert m["recall@1"] == pytest.approx((0 + 0.5 + 0 + 0) / 4)  # 0.125
    assert m["recall@3"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)  # 0.375
    assert m["recall@5"] == pytest.approx((1 + 1 + 0 + 0) / 4)  # 0.5
    assert m["mrr@10"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)  # 0.375
    assert m["ndcg@10"] == pytest.approx((0.630930 + 0.877215) / 4, abs=1e-6)  # 0.377036
    # qe refused rightly, qf got hits; refused: qd (answerable) and qe (no-answer)
    assert m["no_answer_recall"] == 0.5
    assert m["no_answer_precision"] == 0.5
    assert m["false_refusals"] == 0.25
    # latencies 1..6 ms: nearest rank ceil(3) -> 3, ceil(5.94) -> 6
    assert m["latency_ms_p50"] == pytest.approx(3.0)
    assert m["latency_ms_p99"] == pytest.approx(6.0)
    assert [r.rank for r in report.results] == [2, 1, None, None, None, None]
    assert [r.question.id for r in report.misses] == ["qa", "qc", "qd", "qf"]


def test_evaluate_without_answerable_or_no_answer_questions():
    only_no_answer = evaluate(FakeSearcher({}), [Question("n", "x", None, ())])
    m = only_no_answer.metrics
    assert m["recall@1"] is None and m["mrr@10"] is None and m["false_refusals"] is None
    assert m["no_answer_recall"] == 1.0 and m["no_answer_precision"] == 1.0
    only_answerable = evaluate(FakeSearcher({"x": [hit("A", "y")]}), [Question("a", "x", None, ("y",))], k=1)
    m = only_answerable.metrics
    assert m["recall@1"] == m["mrr@10"] == m["ndcg@10"] == 1.0
    assert "recall@3" in m and m["no_answer_recall"] is None and m["no_answer_precision"] == 1.0


def test_report_to_dict(report):
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert (data["k"], data["questions"], data["answerable"], data["no_answer"]) == (5, 6, 4, 2)
    assert data["metrics"]["mrr@10"] == pytest.approx(0.375)
    qa, qb, qc, qd, qe, qf = data["results"]
    assert qa["id"] == "qa" and qa["expected_title"] == "A" and qa["expected_answers"] == ["alpha"]
    assert qa["rank"] == 2 and qa["rr@10"] == 0.5 and qa["correct"] is False
    assert qa["recall@1"] == 0 and qa["recall@3"] == 1 and qa["recall@5"] == 1
    assert qa["top"] == {"docid": "b:0", "title": "B", "snippet": "beta", "score": 9.5}
    assert qa["hits"] == ["b:0", "a:3", "a:4"]
    assert qb["recall@1"] == 0.5 and qb["ndcg@10"] == pytest.approx(0.877215, abs=1e-6)
    assert qd["rank"] is None and qd["top"] is None and qd["hits"] == []
    assert qe["answerable"] is False and qe["correct"] is True and qe["recall@1"] is None
    assert qf["correct"] is False and qf["top"]["title"] == "C"
    assert qa["latency_ms"] == pytest.approx(1.0)


def test_write_trec_run(report, tmp_path):
    path = tmp_path / "run.trec"
    assert write_trec_run(report, path) == 3 + 4 + 1 + 1
    assert path.read_text(encoding="utf-8").splitlines() == [
        "qa Q0 b:0 1 9.500000 articlebot",
        "qa Q0 a:3 2 7.250000 articlebot",
        "qa Q0 a:4 3 1.000000 articlebot",
        "qb Q0 a:1 1 4.000000 articlebot",
        "qb Q0 b:1 2 3.000000 articlebot",
        "qb Q0 b:2 3 2.000000 articlebot",
        "qb Q0 c:0 4 1.000000 articlebot",
        "qc Q0 b:5 1 2.000000 articlebot",
        "qf Q0 c:9 1 0.500000 articlebot",  # qd and qe got no hits: no lines
    ]
    write_trec_run(report, path, tag="bm25-k1.5")
    assert all(line.split()[5] == "bm25-k1.5" for line in path.read_text().splitlines())
    with pytest.raises(ValueError):
        write_trec_run(report, path, tag="two words")
    with pytest.raises(ArticlebotError, match="cannot write the run file"):
        write_trec_run(report, tmp_path / "no" / "such" / "dir.trec")


# --- articlebot eval, end to end on the bundled sample ------------------------------------


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return invoke


def sample_questions(tmp_path, *extra: dict):
    records = [
        {"id": "q001", "query": "研发经费占GDP比重", "title": BEIJING, "answer": "6%左右"},
        {"id": "q002", "query": "世界旅游城市联合会有多少会员", "answer": "223个会员"},
        {"id": "q003", "query": "特斯拉股价", "title": None, "answer": None},
        *extra,
    ]
    return write(tmp_path, "# sample questions", *(json.dumps(r, ensure_ascii=False) for r in records))


def test_eval_cli_on_the_sample(run, tmp_path):
    questions = sample_questions(tmp_path)
    db = tmp_path / "empty.db"
    Store.open(db).close()  # an existing empty store: eval uses the sample, with a note
    trec = tmp_path / "run.trec"
    result = run("eval", questions, "--json", "--run", trec, "--db", db, "--min-recall", 1, "--min-mrr", 1, "--min-no-answer-precision", 1)
    assert result.exit_code == 0, result.stderr
    assert "bundled sample" in result.stderr
    data = json.loads(result.stdout)
    m = data["metrics"]
    assert m["recall@1"] == m["recall@3"] == m["recall@10"] == m["mrr@10"] == m["ndcg@10"] == 1.0
    assert m["no_answer_recall"] == 1.0 and m["no_answer_precision"] == 1.0 and m["false_refusals"] == 0.0
    assert m["latency_ms_p50"] > 0 and m["latency_ms_p99"] >= m["latency_ms_p50"]
    assert [r["rank"] for r in data["results"]] == [1, 1, None]
    assert data["results"][0]["top"]["title"] == BEIJING
    lines = [line.split() for line in trec.read_text(encoding="utf-8").splitlines()]
    assert lines and all(len(parts) == 6 and parts[1] == "Q0" and parts[5] == "articlebot" for parts in lines)
    assert {parts[0] for parts in lines} == {"q001", "q002"}  # 特斯拉股价 gets no hits, so no lines
    q001 = [parts for parts in lines if parts[0] == "q001"]
    assert [int(parts[3]) for parts in q001] == list(range(1, len(q001) + 1))
    assert q001[0][2] == data["results"][0]["hits"][0] and q001[0][2].split(":")[1].isdigit()
    scores = [float(parts[4]) for parts in q001]
    assert scores == sorted(scores, reverse=True)

    failed = run("eval", questions, "--db", db, "--min-mrr", 1.1)
    assert failed.exit_code == 1
    assert failed.stderr.strip().splitlines()[-1] == "Below threshold: mrr@10 1.000 < 1.1"


def test_eval_cli_text_output_and_misses(run, tmp_path):
    questions = sample_questions(
        tmp_path,
        {"id": "q004", "query": "世界旅游城市联合会有多少会员", "title": "不存在的标题", "answer": "223个会员"},
        {"id": "q005", "query": "研发经费占GDP比重", "title": None, "answer": None},
    )
    Store.open(tmp_path / "e.db").close()  # empty: the sample answers
    result = run("eval", questions, "--db", tmp_path / "e.db", "-k", 3, "--min-recall", 0.9, "--min-no-answer-precision", 0.5)
    assert result.exit_code == 1
    out = result.stdout
    assert "questions            5 (3 answerable, 2 no-answer)" in out
    assert "recall@1             0.667" in out and "recall@3             0.667" in out
    assert "no_answer_recall     0.500" in out and "no_answer_precision  1.000" in out
    assert "latency p50" in out and " ms" in out
    misses = out.split("Misses (2):\n")[1].splitlines()
    assert misses[0].startswith("q004  世界旅游城市联合会有多少会员  -> expected: 不存在的标题 / 223个会员  | got: " + BEIJING + ": ")
    assert misses[0].endswith("(right not in top 10)")
    assert misses[1].startswith("q005  研发经费占GDP比重  -> expected no answer  | got: " + BEIJING + ": 北京是全球")
    assert "Warning: no article has the title of q004." in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Below threshold: recall@3 0.667 < 0.9"


def test_eval_cli_bad_question_files(run, tmp_path):
    missing = run("eval", tmp_path / "absent.jsonl", "--db", tmp_path / "e.db")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: {tmp_path / 'absent.jsonl'}: no such file"
    bad = write(tmp_path, '{"query": "a", "answer": "b"}', '{"query": "a", "answer": 3}')
    result = run("eval", bad, "--db", tmp_path / "e.db")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f'Error: {bad}, line 2: "answer" must be a string or null, not a number']
    assert result.stdout == ""


def test_snippet_at_k_counts_answers_shown_in_snippets():
    """snippet@k: the answer must lie inside a shown snippet, not merely in the paragraph."""
    import dataclasses

    question = Question("q", "how many members?", "T", ("223 members",))
    inside = dataclasses.replace(hit("T", "It has 223 members. Other news."), snippet="It has 223 members.")
    outside = dataclasses.replace(hit("T", "Other news. It has 223 members.", index=1), snippet="Other news.")
    wrong_title = dataclasses.replace(hit("U", "It has 223 members.", index=2), snippet="It has 223 members.")
    result = QueryResult.judge(question, [outside, wrong_title, inside], 1.0, 10)
    assert result.recall(1) == 1.0  # the paragraph holds the answer...
    assert result.snippet_at(1) == 0.0  # ...but its snippet does not show it
    assert result.snippet_at(2) == 0.0  # a snippet of another article does not count
    assert result.snippet_at(3) == 1.0
    report = EvalReport(k=10, per_article=None, results=[result])
    assert report.metrics["snippet@1"] == 0.0 and report.metrics["snippet@3"] == 1.0
    assert QueryResult.judge(Question("n", "x"), [], 1.0, 10).snippet_at(3) is None
