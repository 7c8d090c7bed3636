"""`articlebot search`, and the index updates done by `add` and `remove`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import SEED

from articlebot.cli import cli
from articlebot.corpus.store import Store


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, input=None):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    return invoke


def empty_store(path: Path) -> str:
    Store.open(path).close()
    return str(path)


def test_search_on_empty_store_uses_sample_and_says_so(run, tmp_path):
    result = run("search", "研发经费占GDP比重", "--db", empty_store(tmp_path / "e.db"))
    assert result.exit_code == 0
    assert "bundled sample" in result.stderr
    first = result.stdout.split("\n\n")[0]
    assert "北京：打造共建“一带一路”高标准建设的试验示范" in first
    assert "6%左右" in first


def test_search_json_and_no_answer(run, tmp_path):
    db = str(tmp_path / "j.db")
    assert run("add", str(SEED), "--db", db).exit_code == 0
    data = json.loads(run("search", "世界旅游城市联合会有多少会员", "--json", "-k", "2", "--db", db).stdout)
    assert data["query"] == "世界旅游城市联合会有多少会员"
    assert len(data["hits"]) == 2 and "223个会员" in data["hits"][0]["text"]
    assert set(data["hits"][0]) >= {
        "article_id",
        "title",
        "paragraph_index",
        "section",
        "text",
        "score",
        "published",
        "author",
        "url",
        "highlights",
    }
    assert "source" not in data["hits"][0]  # it was the author under a wrong name
    assert data["hits"][0]["author"] == "新浪财经"
    empty = run("search", "理财券", "--db", db)
    assert empty.exit_code == 0 and "No relevant paragraph" in empty.stdout


def test_search_json_hits_carry_the_article_author_and_url(run, tmp_path):
    db = str(tmp_path / "u.db")
    article = tmp_path / "linked.md"
    article.write_text(
        "---\ntitle: 城市更新新政策\nauthor: 新京报\nurl: https://example.com/news/42\n---\n\n"
        "上海市今天发布了关于城市更新的新政策，涉及老旧小区改造和公共空间提升。\n",
        encoding="utf-8",
    )
    assert run("add", str(article), "--db", db).exit_code == 0
    hit = json.loads(run("search", "城市更新新政策", "--json", "--db", db).stdout)["hits"][0]
    assert (hit["author"], hit["url"]) == ("新京报", "https://example.com/news/42")
    line = json.loads(run("search", "--queries", "-", "--json", "--db", db, input="老旧小区改造\n").stdout)
    assert line["hits"][0]["url"] == "https://example.com/news/42"


def test_search_queries_file_json_lines(run, tmp_path):
    db = str(tmp_path / "q.db")
    run("add", str(SEED), "--db", db)
    queries = tmp_path / "q.txt"
    queries.write_text("研发经费占GDP比重\n理财券\n\n世界旅游城市联合会有多少会员\n", encoding="utf-8")
    result = run("search", "--queries", str(queries), "--json", "-k", "1", "--db", db)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["研发经费占GDP比重", "理财券", "", "世界旅游城市联合会有多少会员"]
    assert "6%左右" in lines[0]["hits"][0]["text"]
    assert lines[1]["hits"] == [] and lines[2]["hits"] == []
    assert "223个会员" in lines[3]["hits"][0]["text"]


def test_search_needs_query_or_file(run):
    assert run("search").exit_code == 2
    assert run("search", "x", "--queries", "y").exit_code == 2


def test_add_and_remove_keep_the_index_current(run, tmp_path):
    db = tmp_path / "i.db"
    run("add", str(SEED), "--db", str(db))
    assert (Path(str(db) + ".index") / "manifest.json").exists()
    hit = json.loads(run("search", "世界旅游城市联合会", "--json", "--db", str(db)).stdout)["hits"][0]
    assert run("remove", hit["article_id"], "--db", str(db)).exit_code == 0
    run("add", str(Path(__file__).parent.parent / "corpus" / "sample-articles" / "0011.md"), "--db", str(db))
    after = json.loads(run("search", "世界旅游城市联合会", "--json", "--db", str(db)).stdout)
    assert all(h["article_id"] != hit["article_id"] for h in after["hits"])


def test_search_queries_file_with_invalid_utf8_answers_every_line(run, tmp_path):
    queries = tmp_path / "bad.txt"
    queries.write_bytes(
        b"\xff\xfe \xe7\x90\x86\xe8\xb4\xa2\n\xe4\xb8\x96\xe7\x95\x8c\xe6\x97\x85\xe6\xb8\xb8\xe5\x9f\x8e\xe5\xb8\x82\xe8\x81\x94\xe5\x90\x88\xe4\xbc\x9a\n"
    )
    result = run("search", "--queries", str(queries), "--json", "-k", "1", "--db", empty_store(tmp_path / "q.db"))
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and "223个会员" in lines[1]["hits"][0]["text"]


def test_search_json_hits_carry_a_snippet_with_its_own_highlights(tmp_path):
    """The answering sentence first: each hit has a snippet (<= 200 characters, a
    contiguous excerpt of its text) whose highlight offsets point into the snippet."""
    Store.open(tmp_path / "empty.db").close()  # an empty store: the sample answers
    result = CliRunner().invoke(cli, ["search", "世界旅游城市联合会有多少会员", "--json", "--db", str(tmp_path / "empty.db")])
    hits = json.loads(result.stdout)["hits"]
    assert hits
    for h in hits:
        assert h["snippet"] and h["snippet"] in h["text"] and len(h["snippet"]) <= 200
        marked = [h["snippet"][s:e] for s, e in h["snippet_highlights"]]
        assert all(marked) and all(m in h["text"] for m in marked)
    best = hits[0]
    assert "223个会员" in best["snippet"] and best["snippet"].startswith("世界旅游城市联合会")
