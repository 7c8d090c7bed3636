"""`articlebot eval FILE --reference`: the engine checked against rank_bm25 from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from articlebot.cli import cli
from articlebot.retrieval.index import Index
from articlebot.retrieval.reference import same_ranking

QUESTIONS = Path(__file__).resolve().parents[1] / "eval" / "questions.jsonl"


def run_reference_check(tmp_path):
    result = CliRunner().invoke(cli, ["eval", str(QUESTIONS), "--reference", "--json", "--sample"])
    return result, json.loads(result.stdout)["reference"]


def test_the_engine_agrees_with_rank_bm25_on_the_question_set(tmp_path):
    result, checked = run_reference_check(tmp_path)
    assert result.exit_code == 0, result.stderr
    assert checked["engine"] == "rank_bm25.BM25Okapi"
    assert checked["questions"] == len(QUESTIONS.read_text(encoding="utf-8").splitlines())
    assert checked["hits_compared"] > 5 * checked["questions"]
    assert checked["differences"] == []


def test_a_wrong_score_is_reported_and_fails(tmp_path, monkeypatch):
    original = Index.search

    def off_by_a_little(self, terms, k, params):
        ranked, matched = original(self, terms, k, params)
        if "会员" in terms and ranked:
            ranked = [(ranked[0][0], ranked[0][1] * 1.001)] + ranked[1:]
        return ranked, matched

    monkeypatch.setattr(Index, "search", off_by_a_little)
    result, checked = run_reference_check(tmp_path)
    assert result.exit_code == 1
    assert checked["differences"] and all("会员" in d["query"] for d in checked["differences"])
    assert "differs from rank_bm25" in result.stderr


def test_ties_may_come_in_either_order_but_nothing_else_may_differ():
    reference = [(1, 3.0), (2, 2.0), (3, 2.0), (4, 1.0)]
    assert same_ranking([(1, 3.0), (3, 2.0), (2, 2.0)], reference, 3)  # a tie, swapped
    assert same_ranking([(1, 3.0), (3, 2.0)], reference, 2)  # the tie cut at k
    assert not same_ranking([(1, 3.0), (4, 2.0)], reference, 2)  # a document with another score
    assert not same_ranking([(1, 3.0), (2, 2.0)], reference, 3)  # a hit missing
    assert not same_ranking([(1, 3.0), (1, 3.0)], [(1, 3.0), (2, 3.0)], 2)  # a document twice
    assert not same_ranking([(2, 2.0), (1, 3.0)], reference, 2)  # wrong order
    assert same_ranking([], [], 5)
