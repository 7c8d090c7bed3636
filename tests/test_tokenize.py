"""The tokenizer shared by indexing and querying (retrieval/tokenize.py) and `articlebot tokenize`.

jieba's dictionary takes about a second to load, so tokenizers are module-scoped and share
one temporary cache directory; nothing is written to the user's cache.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import jieba
import platformdirs
import pytest
from click.testing import CliRunner

import articlebot.retrieval.tokenize as tokenize_module
from articlebot.cli import cli
from articlebot.corpus.errors import ArticlebotError
from articlebot.corpus.parse import parse_file
from articlebot.retrieval.tokenize import (
    Token,
    Tokenizer,
    TokenizerConfig,
    TokenizerError,
    load_stopwords,
    load_user_dict,
    normalize,
)

PRC = "中华人民共和国成立了"
UNKNOWN_NAME = "他来到了网易杭研大厦"  # 杭研 is in no dictionary: only the HMM finds it
# Full-width letters and digits, a ligature (ﬁ -> fi), a squared word (㍿ -> 株式会社),
# a combining accent (e + U+0301 -> é), Hangul, Greek with a final sigma, punctuation.
ODD_TEXTS = [
    "ＷＩＮＤＯＷＳ　１１发布，价格为１２９９元。",
    "ﬁle ﬁnance 和 ﬁ",
    "㍿の決算は好調",
    "cafe\u0301 e\u0301te ﬁ，“引号”",
    "한국어 뉴스 ΟΔΟΣ Windows",
    "涨幅达2.87%，“创新”｜ ★ 《报告》……\t— C++ & %",
    "",
    "   \n\t",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tokenizer-cache")


@pytest.fixture(scope="module")
def search(cache_dir) -> Tokenizer:
    return Tokenizer(TokenizerConfig(hmm=True), cache_dir=cache_dir)


@pytest.fixture(scope="module")
def precise(cache_dir) -> Tokenizer:
    return Tokenizer(TokenizerConfig(mode="precise", hmm=True), cache_dir=cache_dir)


@pytest.fixture(scope="module")
def precise_raw(cache_dir) -> Tokenizer:
    """Precise mode without HMM and without stop words."""
    return Tokenizer(TokenizerConfig(mode="precise", hmm=False, stopwords=False), cache_dir=cache_dir, engine="jieba")


@pytest.fixture()
def use_cache_dir(cache_dir, monkeypatch) -> None:
    """Tokenizers built without cache_dir (the CLI's) use the test cache, not the user's."""
    monkeypatch.setattr(tokenize_module, "default_cache_dir", lambda: str(cache_dir))


def assert_spans_consistent(tokenizer: Tokenizer, text: str) -> list[Token]:
    spans = tokenizer.spans(text)
    for t in spans:
        assert 0 <= t.start < t.end <= len(text), (text, t)
        assert normalize(text[t.start : t.end]) == t.term, (text, t)
    assert tokenizer.tokens(text) == [t.term for t in spans]
    return spans


# --- modes, HMM, normalisation, filtering -------------------------------------------------


def test_search_mode_yields_sub_words_and_the_long_word(search):
    tokens = search.tokens(PRC)
    assert tokens == ["中华", "华人", "人民", "共和", "共和国", "中华人民共和国", "成立"]


def test_precise_mode_yields_only_the_long_word(precise):
    assert precise.tokens(PRC) == ["中华人民共和国", "成立"]


def test_search_mode_sub_words_point_inside_the_long_word(search):
    spans = {t.term: (t.start, t.end) for t in search.spans(PRC)}
    assert spans["中华人民共和国"] == (0, 7)
    assert spans["人民"] == (2, 4)
    assert spans["共和国"] == (4, 7)


def test_hmm_joins_an_unknown_name(precise, cache_dir):
    no_hmm = Tokenizer(TokenizerConfig(mode="precise", hmm=False), cache_dir=cache_dir)
    assert "杭研" in precise.tokens(UNKNOWN_NAME)
    without = no_hmm.tokens(UNKNOWN_NAME)
    assert "杭研" not in without
    assert "杭" in without and "研" in without


def test_full_width_and_case_are_normalised_but_offsets_are_original(search):
    text = "ＷＩＮＤＯＷＳ　１１"
    assert search.spans(text) == [Token("windows", 0, 7), Token("11", 8, 10)]
    assert search.tokens("Windows 11") == ["windows", "11"]
    assert text == "ＷＩＮＤＯＷＳ　１１"  # the input is never changed


def test_normalize():
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("Windows") == "windows"
    assert normalize("ﬁ") == "fi"


def test_mixed_case_dictionary_words_survive_lowercasing(precise):
    # jieba's dictionary has T恤 and U盘 in upper case only; the text reaches jieba lowercased.
    assert precise.tokens("Ｔ恤和U盘") == ["t恤", "u盘"]
    assert precise.tokens("t恤和u盘") == ["t恤", "u盘"]


def test_punctuation_whitespace_and_symbols_are_dropped(precise_raw):
    text = "涨幅达2.87%，“创新”｜ ★ 《报告》……\t— C++ & %"
    tokens = precise_raw.tokens(text)
    raw = [w for w, _, _ in precise_raw._segmenter.tokenize(text)]  # what jieba itself yields
    assert {",", "“", "|", "★", " ", "%", "&", "..."} <= {normalize(w) for w in raw}
    assert tokens == ["涨幅", "达", "2", "87", "创新", "报告", "c++"]


def test_tokens_with_a_letter_or_digit_are_kept(precise):
    assert precise.tokens("涨幅达2.87%，C++") == ["涨幅", "达", "2.87%", "c++"]


def test_stop_words_are_dropped_unless_turned_off(precise, cache_dir):
    question = "请问什么是人工智能的发展方向？"
    assert precise.tokens(question) == ["人工智能", "发展", "方向"]
    keep = Tokenizer(TokenizerConfig(mode="precise", stopwords=False), cache_dir=cache_dir)
    assert keep.tokens(question) == ["请问", "什么", "是", "人工智能", "的", "发展", "方向"]
    assert keep.stopwords == frozenset()


def test_english_stop_words_are_dropped(precise):
    assert precise.tokens("What is the price of the iPhone") == ["price", "iphone"]


def test_empty_and_blank_text_give_no_tokens(search):
    assert search.tokens("") == []
    assert search.spans("") == []
    assert search.tokens("   \n\t　") == []


def test_unknown_mode_is_refused():
    with pytest.raises(TokenizerError, match="mode"):
        Tokenizer(TokenizerConfig(mode="fast"))


# --- spans ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_spans_point_into_the_original_text(search, precise, precise_raw, text):
    for tokenizer in (search, precise, precise_raw):
        assert_spans_consistent(tokenizer, text)


def test_a_character_that_expands_is_one_token(search, precise):
    # ㍿ normalises to four characters; a token never covers only part of it.
    # (search mode's sub-word 会社 widens to the same character and is not repeated)
    assert search.spans("㍿の決算") == [Token("株式会社", 0, 1), Token("の", 1, 2), Token("決算", 2, 4)]
    assert precise.spans("ﬁle ﬁ") == [Token("file", 0, 3), Token("fi", 4, 5)]


def test_expansion_and_composition_in_one_text(precise):
    # ﬁ grows by one and e + U+0301 shrinks by one: equal lengths, shifted offsets.
    text = "ﬁ 决算 e\u0301"
    assert len(normalize(text)) == len(text)
    spans = assert_spans_consistent(precise, text)
    assert Token("决算", 2, 4) in spans


def test_same_text_same_tokens(search, cache_dir):
    text = "国家统计局今天发布数据，ＣＰＩ同比上涨2.1%。"
    first = search.tokens(text)
    assert search.tokens(text) == first
    assert Tokenizer(TokenizerConfig(hmm=True), cache_dir=cache_dir).tokens(text) == first


# --- user dictionary --------------------------------------------------------------------


def test_user_dictionary_with_bom_crlf_and_no_frequency(tmp_path, precise, cache_dir):
    text = "王小明去了丝路会客厅，谈数字丝路和新质生产力"
    assert "丝路会客厅" not in precise.tokens(text)
    user_dict = tmp_path / "user.txt"
    user_dict.write_bytes("\ufeff# words of our articles\r\n丝路会客厅\r\n\r\n数字丝路 20 n\r\n新质生产力 nz\r\n".encode("utf-8"))
    tokenizer = Tokenizer(TokenizerConfig(mode="precise", user_dict=str(user_dict)), cache_dir=cache_dir)
    tokens = tokenizer.tokens(text)
    assert {"丝路会客厅", "数字丝路", "新质生产力"} <= set(tokens)
    assert "会客厅" not in tokens
    assert load_user_dict(user_dict) == [("丝路会客厅", None), ("数字丝路", 20), ("新质生产力", None)]


def test_missing_user_dictionary_names_the_file(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(TokenizerError, match="nope.txt") as info:
        Tokenizer(TokenizerConfig(user_dict=str(missing)))
    assert isinstance(info.value, ArticlebotError)


@pytest.mark.parametrize("bad", ["丝路会客厅 12x", "丝路会客厅 3.5 n", "丝路会客厅 0", "丝路会客厅 5 n extra"])
def test_bad_frequency_names_the_file_and_line(tmp_path, bad):
    user_dict = tmp_path / "user.txt"
    user_dict.write_text(f"# comment\n数字丝路 20\n{bad}\n", encoding="utf-8")
    with pytest.raises(TokenizerError) as info:
        Tokenizer(TokenizerConfig(user_dict=str(user_dict)))
    assert str(user_dict) in str(info.value)
    assert "line 3" in str(info.value)


# --- fingerprint, cache, stop-word file ------------------------------------------------


def test_fingerprint_changes_with_every_setting(tmp_path):
    configs = [
        TokenizerConfig(),
        TokenizerConfig(mode="precise"),
        TokenizerConfig(hmm=True),
        TokenizerConfig(stopwords=False),
    ]
    prints = [Tokenizer(c, cache_dir=tmp_path).fingerprint() for c in configs]
    assert len(set(prints)) == len(prints)
    for fp in prints:
        assert len(fp) == 16 and int(fp, 16) >= 0


def test_fingerprint_is_stable_for_equal_settings(tmp_path):
    a = Tokenizer(TokenizerConfig(mode="precise"), cache_dir=tmp_path / "a")
    b = Tokenizer(TokenizerConfig(mode="precise"), cache_dir=tmp_path / "b")
    assert a.fingerprint() == b.fingerprint() == a.fingerprint()


def test_fingerprint_follows_user_dictionary_content(tmp_path):
    one, same, other = tmp_path / "one.txt", tmp_path / "same.txt", tmp_path / "other.txt"
    one.write_text("丝路会客厅\n", encoding="utf-8")
    same.write_text("\ufeff丝路会客厅\r\n", encoding="utf-8")
    other.write_text("丝路会客厅 5\n", encoding="utf-8")
    fp = {p.name: Tokenizer(TokenizerConfig(user_dict=str(p)), cache_dir=tmp_path).fingerprint() for p in (one, same, other)}
    assert fp["one.txt"] == fp["same.txt"]
    assert fp["one.txt"] != fp["other.txt"]
    assert fp["one.txt"] != Tokenizer(TokenizerConfig(), cache_dir=tmp_path).fingerprint()


def test_fingerprint_follows_stop_word_list(tmp_path, monkeypatch):
    before = Tokenizer(TokenizerConfig(), cache_dir=tmp_path).fingerprint()
    monkeypatch.setattr(tokenize_module, "load_stopwords", lambda: frozenset({"的"}))
    assert Tokenizer(TokenizerConfig(), cache_dir=tmp_path).fingerprint() != before


def test_jieba_cache_is_written_in_the_cache_dir(search, cache_dir):
    search.tokens(PRC)
    assert search.cache_file.parent == cache_dir
    assert search.cache_file.is_file()
    assert search.cache_file.name == f"jieba-{jieba.__version__}.cache"


def test_default_cache_dir_is_the_user_cache_dir():
    assert Tokenizer().cache_dir == Path(platformdirs.user_cache_dir("articlebot"))


def test_first_use_from_many_threads_builds_jieba_once(cache_dir, monkeypatch):
    built = []

    class CountingTokenizer(jieba.Tokenizer):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(jieba, "Tokenizer", CountingTokenizer)
    tokenizer = Tokenizer(TokenizerConfig(mode="precise", hmm=True), cache_dir=cache_dir)
    barrier = threading.Barrier(4)
    results = []

    def work():
        barrier.wait()
        results.append(tokenizer.tokens(PRC))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1
    assert results == [["中华人民共和国", "成立"]] * 4


def test_shipped_stop_word_list():
    words = load_stopwords()
    assert 150 <= len(words) <= 300
    for w in ["的", "了", "是", "什么", "如何", "哪些", "请问", "为什么", "有没有", "the", "what", "does"]:
        assert w in words
    assert all(w == normalize(w) and w.strip() == w for w in words)
    # English words that are also names in tech news are kept: IT之家, US
    assert "it" not in words and "us" not in words


# --- the command line -------------------------------------------------------------------


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["tokenize", *args], input=input)


def test_cli_text(use_cache_dir):
    result = run(PRC)
    assert result.exit_code == 0, result.output
    assert result.stdout == "中华 / 华人 / 人民 / 共和 / 共和国 / 中华人民共和国 / 成立\n"


def test_cli_text_json_and_options(use_cache_dir):
    result = run(UNKNOWN_NAME, "--json", "--mode", "precise", "--no-hmm", "--no-stopwords")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record == {
        "text": UNKNOWN_NAME,
        "tokens": ["他", "来到", "了", "网易", "杭", "研", "大厦"],
        "spans": [[0, 1], [1, 3], [3, 4], [4, 6], [6, 7], [7, 8], [8, 10]],
    }


def test_cli_file_gives_json_lines(use_cache_dir, tmp_path):
    source = tmp_path / "lines.txt"
    source.write_bytes("\ufeff中华人民共和国成立了\r\n\r\nＷＩＮＤＯＷＳ　１１\r\n".encode("utf-8"))
    result = run("--file", str(source), "--json", "--mode", "precise")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == ["中华人民共和国成立了", "", "ＷＩＮＤＯＷＳ　１１"]
    assert [r["tokens"] for r in records] == [["中华人民共和国", "成立"], [], ["windows", "11"]]
    assert records[2]["spans"] == [[0, 7], [8, 10]]


def test_cli_file_from_stdin_human(use_cache_dir):
    result = run("--file", "-", "--mode", "precise", input="\ufeff中华人民共和国成立了\r\n\r\nWindows 11\r\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "中华人民共和国 / 成立\n\nwindows / 11\n"


def test_cli_needs_text_or_file():
    result = run()
    assert result.exit_code == 2
    assert "TEXT or --file" in result.stderr
    assert run("abc", "--file", "-").exit_code == 2


def test_cli_missing_file_is_one_line_error(tmp_path):
    missing = tmp_path / "missing.txt"
    result = run("--file", str(missing))
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot read {missing}: No such file or directory\n"
    assert result.stdout == ""


def test_cli_bad_user_dict_is_one_line_error(tmp_path):
    user_dict = tmp_path / "user.txt"
    user_dict.write_text("丝路会客厅 lots of\n", encoding="utf-8")
    result = run("abc", "--user-dict", str(user_dict))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "line 1" in result.stderr and str(user_dict) in result.stderr


# --- the real articles ------------------------------------------------------------------


def test_every_paragraph_of_the_shared_corpus_tokenizes_cleanly(shared_corpus_dir, search):
    files = sorted(shared_corpus_dir.glob("*.md"))
    assert len(files) == 52
    total = 0
    for path in files:
        article = parse_file(path)
        for text in [article.title, *(p.text for p in article.paragraphs)]:
            spans = assert_spans_consistent(search, text)
            assert spans or not any(c.isalnum() for c in text), (path.name, text[:60])
            for t in spans:
                assert t.term not in search.stopwords, (path.name, t)
                assert any(c.isalnum() for c in t.term), (path.name, t)
            total += len(spans)
    assert total > 10_000


# --- the accelerated segmenter gives jieba's tokens exactly ---------------------------


def _texts_of(files):
    from articlebot.corpus.parse import parse_file

    texts = []
    for f in files:
        article = parse_file(f)
        texts.append(article.title)
        texts += [p.text for p in article.paragraphs]
        texts += [p.section for p in article.paragraphs if p.section]
    return texts


def _assert_same_tokens(texts, tmp_path_factory):
    assert tokenize_module.rjieba is not None, "rjieba, a declared dependency, is not installed"
    from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig

    cache = tmp_path_factory.mktemp("jieba-cache")
    for mode in ("search", "precise"):
        config = TokenizerConfig(mode=mode, hmm=False)
        fast = Tokenizer(config, cache_dir=cache, engine="rjieba")
        reference = Tokenizer(config, cache_dir=cache, engine="jieba")
        differing = [t for t in texts if fast.spans(t) != reference.spans(t)]
        assert differing == [], (mode, differing[:3])


def test_rjieba_matches_jieba_on_the_sample_and_questions(tmp_path_factory):
    import json

    from articlebot.corpus.sample import sample_files

    questions = Path(__file__).resolve().parents[1] / "eval" / "questions.jsonl"
    queries = [json.loads(line)["query"] for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    _assert_same_tokens(_texts_of(sample_files()) + queries + ["ＷＩＮＤＯＷＳ　１１ T恤 U盘 IP地址"], tmp_path_factory)


def test_rjieba_matches_jieba_on_the_shared_corpus(shared_corpus_dir, tmp_path_factory):
    _assert_same_tokens(_texts_of(sorted(shared_corpus_dir.glob("*.md"))), tmp_path_factory)


def test_engine_choice():
    from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig, TokenizerError, rjieba

    assert Tokenizer(TokenizerConfig(hmm=True)).engine == "jieba"  # rjieba's HMM differs from jieba's
    if rjieba is not None:
        assert Tokenizer(TokenizerConfig(hmm=False)).engine == "rjieba"
        assert Tokenizer(TokenizerConfig(hmm=False), engine="jieba").fingerprint() != Tokenizer(TokenizerConfig(hmm=False)).fingerprint()
    with pytest.raises(TokenizerError):
        Tokenizer(TokenizerConfig(hmm=True), engine="rjieba")


def test_cli_shows_the_tokens_the_index_uses(use_cache_dir):
    """`tokenize` with no options shows exactly what indexing and questions use: no HMM
    guess (the index has 乡, not a guessed 乡有); --hmm shows the guess on request."""
    text = "复习乡有巴蜀"
    result = run(text, "--json")
    assert json.loads(result.stdout)["tokens"] == Tokenizer().tokens(text)
    assert "乡有" not in json.loads(result.stdout)["tokens"]
    assert "乡有" in json.loads(run(text, "--json", "--hmm").stdout)["tokens"]
