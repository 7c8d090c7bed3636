"""Crash safety of `articlebot add`: SIGKILL at random points never damages the store or the index.

Each run starts the real program (`python -m articlebot.cli add DIR`) on a directory of
generated Hexo-style articles, kills it with SIGKILL at a seeded random point, and checks:

- the store opens and passes `PRAGMA integrity_check`;
- every stored article is complete (its paragraph rows are exactly what parse_file gives
  for its file), no paragraph without its article, no article without paragraphs, and
  the stored articles are exactly the first ones of the add's file order (one
  transaction per article, in order);
- the saved index is absent or loads and is self-consistent (or, if damaged, the
  Searcher rebuilds it and says why), and a Searcher opened on the store (saved index +
  sync) equals a Searcher built from scratch: same paragraphs, same global statistics,
  same (pid, score) lists;
- re-running the add without a kill finishes the job: exit code 0, every file stored
  once, the index equal to a fresh build.

Kills are spread over the phases of an add: at a random time, in the middle of storing
(after a random number of stored articles), during the index update after storing, and
the moment the index's new files start to appear (while it is saved); half of the runs
start from a store that already holds part of the files with its index, so the kill
hits an incremental update.

ARTICLEBOT_CRASH_RUNS raises the number of kills (default 6); ARTICLEBOT_CRASH_SEED
changes the seed, ARTICLEBOT_CRASH_FILES the number of generated articles (default 400).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from articles import article_text  # tests/articles.py
from program import program_env  # tests/program.py

from articlebot.corpus.ingest import AddReport, iter_article_files
from articlebot.corpus.parse import parse_file
from articlebot.corpus.store import Store
from articlebot.retrieval.index import Index, IndexFormatError
from articlebot.retrieval.search import Searcher

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

RUNS = int(os.environ.get("ARTICLEBOT_CRASH_RUNS", "6"))
SEED = int(os.environ.get("ARTICLEBOT_CRASH_SEED", "20240611"))
N_FILES = int(os.environ.get("ARTICLEBOT_CRASH_FILES", "400"))

QUERIES = [
    "数字经济发展规划 投资规模",
    "北京市 新一代人工智能芯片",
    "编号17号稿件",
    "量子通信实验网络 新增就业岗位",
    "乡村振兴重点项目 业内人士",
    "碳达峰实施方案 同比增长",
]


# --- generated articles ------------------------------------------------------------------


@dataclass
class Corpus:
    root: Path
    part1: Path
    order: list[str]  # resolved source paths, in the order `add` reads them
    expected: dict[str, list[tuple]]  # source path -> [(idx, section, text)] as parse_file gives
    ids: dict[str, str]  # source path -> article id

    @property
    def total(self) -> int:
        return len(self.order)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("crash-articles")
    rng = random.Random(SEED)
    half = N_FILES // 2
    for number in range(N_FILES):
        part = root / ("part1" if number < half else "part2")
        part.mkdir(exist_ok=True)
        text = article_text(rng, f"第{number}期", lead=f"编号{number}号稿件：", paragraphs=(2, 6), sentences=(1, 4))
        (part / f"{number:04d}.md").write_text(text, encoding="utf-8")
    order = [str(p.resolve()) for p in iter_article_files([root], AddReport())]
    expected, ids = {}, {}
    for source in order:
        article = parse_file(source)
        assert article.source_path == source and article.paragraphs
        expected[source] = [(p.index, p.section, p.text) for p in article.paragraphs]
        ids[source] = article.id
    assert len(order) == N_FILES and len(set(ids.values())) == N_FILES
    return Corpus(root=root, part1=root / "part1", order=order, expected=expected, ids=ids)


# --- running the program -----------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return program_env(tmp_path_factory.mktemp("crash-home"))


class AddProcess:
    """`articlebot add PATH --db DB --json` running in a subprocess. Its output goes to files,
    not pipes: a writer never blocks on a full pipe, and output cut by a kill is readable."""

    def __init__(self, db: Path, path: Path, env: dict):
        # no `with`: the files outlive __init__ and are closed by finish()
        self.out = tempfile.TemporaryFile()  # noqa: SIM115
        self.err = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "articlebot.cli", "add", str(path), "--db", str(db), "--json"],
            stdout=self.out,
            stderr=self.err,
            env=env,
            cwd=db.parent,
        )
        self.pid = self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        self.proc.kill()

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        texts = []
        for stream in (self.out, self.err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", errors="replace"))
            stream.close()
        return code, texts[0], texts[1]


def start_add(db: Path, path: Path, env: dict) -> AddProcess:
    return AddProcess(db, path, env)


def run_add(db: Path, path: Path, env: dict) -> tuple[int, dict | None, str]:
    code, out, err = start_add(db, path, env).finish()
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return code, report, err


def stored_count(db: Path) -> int:
    """Articles committed so far (0 while the store is being created); never blocks the writer."""
    if not db.exists() or not Path(f"{db}-wal").exists():  # not yet in WAL mode: leave it alone
        return 0
    try:
        conn = sqlite3.connect(db, timeout=0.05)
        try:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wait_until(proc: AddProcess, condition, timeout: float = 120, interval: float = 0.004) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not condition():
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the add never reached the point where the test kills it")
        if interval:
            time.sleep(interval)


@dataclass
class Timing:
    stored: float  # seconds from start until every article is committed
    end: float  # seconds from start until the process exits

    @property
    def index(self) -> float:
        return max(self.end - self.stored, 0.05)


@pytest.fixture(scope="module")
def timing(corpus, env, tmp_path_factory) -> Timing:
    """One uninterrupted add, to learn how long the phases take on this machine."""
    db = tmp_path_factory.mktemp("calibration") / "store.db"
    start = time.monotonic()
    proc = start_add(db, corpus.root, env)
    wait_until(proc, lambda: stored_count(db) >= corpus.total)
    stored = time.monotonic() - start
    code, out, err = proc.finish()
    end = time.monotonic() - start
    assert code == 0, err
    assert json.loads(out)["added"] == corpus.total
    return Timing(stored=stored, end=end)


@dataclass
class Kill:
    run: int
    mode: str
    prefilled: int
    delay: float | None = None  # seconds after start, for "random"
    target: int | None = None  # articles stored before the kill, for "store"
    running: bool = True  # the process was still running when killed
    stored: int = 0  # articles in the store after the kill
    saved_index: str = ""

    def __str__(self) -> str:
        if self.mode == "random":
            how = f"after {self.delay:.2f}s"
        elif self.mode == "store":
            how = f"at >= {self.target} stored"
        elif self.mode == "save":
            how = "when the index's new files appear"
        else:
            how = f"{self.delay:.2f}s after all stored"
        return (
            f"run {self.run}: kill {how} (prefilled {self.prefilled}, running={self.running}): "
            f"{self.stored} stored, saved index {self.saved_index}"
        )


def kill_add(db: Path, corpus: Corpus, env: dict, timing: Timing, kill: Kill, rng: random.Random) -> None:
    proc = start_add(db, corpus.root, env)
    start = time.monotonic()
    try:
        if kill.mode == "random":
            kill.delay = rng.uniform(0.1, timing.end)
            wait_until(proc, lambda: time.monotonic() - start >= kill.delay)
        elif kill.mode == "store":
            kill.target = rng.randint(kill.prefilled + 1, corpus.total - 1)
            wait_until(proc, lambda: stored_count(db) >= kill.target)
        elif kill.mode == "save":  # as soon as a new file of the index appears (a save takes milliseconds)
            index_dir = Path(f"{db}.index")
            before = set(os.listdir(index_dir)) if index_dir.is_dir() else set()
            wait_until(proc, lambda: stored_count(db) >= corpus.total)
            wait_until(proc, lambda: index_dir.is_dir() and bool(set(os.listdir(index_dir)) - before - {".lock"}), interval=0)
        else:  # "index": during the index update that follows the storing
            kill.delay = timing.index * rng.uniform(0.2, 1.0)
            wait_until(proc, lambda: stored_count(db) >= corpus.total)
            stored_at = time.monotonic()
            wait_until(proc, lambda: time.monotonic() - stored_at >= kill.delay)
        kill.running = proc.poll() is None
        if kill.running:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        code, out, err = proc.finish(timeout=60)
    if kill.running:
        assert code == -signal.SIGKILL
    else:  # it finished before the kill: then it must have succeeded
        assert code == 0, err


# --- checks ------------------------------------------------------------------------------


def check_store(db: Path, corpus: Corpus) -> list[int]:
    """Integrity and completeness of the store; returns its paragraph ids."""
    with Store.open(db) as store:  # opens (recovering the WAL of the killed writer)
        assert store.stats().schema_version == 1
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute("SELECT count(*) FROM paragraphs WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
        assert orphans == 0, f"{orphans} paragraphs without their article"
        empty = conn.execute(
            "SELECT id, source_path FROM articles a WHERE NOT EXISTS (SELECT 1 FROM paragraphs p WHERE p.article_id = a.id)"
        ).fetchall()
        assert empty == [], f"articles without paragraphs: {empty}"
        articles = conn.execute("SELECT id, source_path FROM articles").fetchall()
        for article_id, source in articles:
            assert source in corpus.expected, f"unknown article {article_id} from {source}"
            assert article_id == corpus.ids[source]
            rows = conn.execute("SELECT idx, section, text FROM paragraphs WHERE article_id = ? ORDER BY idx", (article_id,)).fetchall()
            assert rows == corpus.expected[source], f"article {article_id} ({source}) is incomplete or differs"
        pids = [row[0] for row in conn.execute("SELECT pid FROM paragraphs ORDER BY pid")]
    finally:
        conn.close()
    # one transaction per article, in the order the files are read: what is stored is
    # exactly a prefix of that order (nothing skipped, nothing of a later file)
    sources = [source for _, source in articles]
    assert len(set(sources)) == len(sources)
    assert set(sources) == set(corpus.order[: len(sources)])
    assert len(pids) == sum(len(corpus.expected[s]) for s in sources)
    return pids


def assert_self_consistent(index: Index) -> None:
    """The saved global statistics are those of its segments' live documents."""
    live = [~s.deleted for s in index.segments]
    assert index.n_docs == sum(int(m.sum()) for m in live)
    assert index.total_length == sum(int(s.doc_len[m].sum()) for s, m in zip(index.segments, live))
    if index.segments:
        parts = [s.live_df() for s in index.segments]
        hashes = np.concatenate([h for h, _ in parts]).astype(np.uint64)
        dfs = np.concatenate([d for _, d in parts]).astype(np.int64)
        vocab, inverse = np.unique(hashes, return_inverse=True)
        df = np.bincount(inverse, weights=dfs, minlength=len(vocab)).astype(np.int64)
    else:
        vocab, df = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    assert np.array_equal(index.vocab_hash, vocab)
    assert np.array_equal(index.vocab_df, df)


def check_saved_index(db: Path, store_pids: list[int]) -> str:
    """What is on disk: absent, or an index that loads and is self-consistent."""
    index_dir = Path(f"{db}.index")
    if not (index_dir / "manifest.json").exists():
        return "absent"
    try:
        saved = Index.load(index_dir)
    except IndexFormatError as exc:
        return f"damaged ({exc})"
    assert_self_consistent(saved)
    # built from committed paragraphs only: never a paragraph the store lacks
    assert set(saved.pids().tolist()) <= set(store_pids)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    named = {"manifest.json", ".lock", f"vocab_hash-{saved.generation:06d}.npy", f"vocab_df-{saved.generation:06d}.npy"}
    named |= {e["name"] for e in manifest["segments"]} | {e["deleted"] for e in manifest["segments"] if e["deleted"]}
    partial = sorted(set(os.listdir(index_dir)) - named)  # files of a save the kill interrupted
    return f"loads ({saved.n_docs} of {len(store_pids)} paragraphs" + (f"; unfinished save: {partial})" if partial else ")")


def hits(searcher: Searcher, query: str) -> list[tuple[int, float]]:
    return [(h.pid, h.score) for h in searcher.search(query, k=20, per_article=None)]


def assert_same_index(searcher: Searcher, fresh: Searcher, store_pids: list[int], queries: list[str]) -> None:
    a, b = searcher.index, fresh.index
    assert a.pids().tolist() == store_pids
    assert b.pids().tolist() == store_pids
    assert (a.n_docs, a.total_length) == (b.n_docs, b.total_length)
    assert np.array_equal(a.vocab_hash, b.vocab_hash)
    assert np.array_equal(a.vocab_df, b.vocab_df)
    for query in queries:
        got, want = hits(searcher, query), hits(fresh, query)
        assert [pid for pid, _ in got] == [pid for pid, _ in want], query
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9, abs=1e-12), query


def check_index(db: Path, store_pids: list[int], saved_state: str, tokenizer, queries: list[str]) -> None:
    """A Searcher opened on the store (saved index + sync) equals a build from scratch."""
    with Store.open(db) as store:
        searcher = Searcher(store, tokenizer=tokenizer)
        report = searcher.refresh()
        if saved_state.startswith("damaged"):
            assert report.rebuilt and report.reason, "a damaged index must be rebuilt, saying why"
        else:
            assert not report.rebuilt, f"the saved index was rebuilt for no reason: {report.reason}"
        fresh = Searcher(store, index_dir=None, tokenizer=tokenizer)
        fresh.refresh()
        assert_same_index(searcher, fresh, store_pids, queries)
        # and what is saved now is the synced index, complete (an empty store may have none)
        if store_pids or (searcher.writer.index_dir / "manifest.json").exists():
            saved = Index.load(searcher.writer.index_dir)
            assert_self_consistent(saved)
            assert saved.pids().tolist() == store_pids


def copy_store(db: Path, target: Path) -> Path:
    """A copy of the store and its index, so checking (which syncs and saves the index)
    leaves the crashed state as it is for the re-run."""
    target.mkdir()
    copy = target / db.name
    for suffix in ("", "-wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy2(f"{db}{suffix}", f"{copy}{suffix}")
    if Path(f"{db}.index").is_dir():
        shutil.copytree(f"{db}.index", f"{copy}.index")
    return copy


def queries_for(corpus: Corpus) -> list[str]:
    titles = [parse_file(corpus.order[i]).title for i in (3, corpus.total // 2 + 1, corpus.total - 2)]
    return QUERIES + titles


# --- the tests ---------------------------------------------------------------------------

# run r: PLAN[r % len(PLAN)] = (where the kill aims, whether part1 is added first, so that
# an index exists and the kill hits an incremental update)
PLAN = [("random", False), ("store", False), ("index", False), ("save", True), ("store", True), ("index", True)]


def test_sigkill_during_add_leaves_store_and_index_consistent(corpus, env, timing, tokenizer, tmp_path):
    queries = queries_for(corpus)
    kills: list[Kill] = []
    for run in range(RUNS):
        rng = random.Random(SEED * 1000 + run)
        work = tmp_path / f"run{run}"
        work.mkdir()
        db = work / "store.db"
        prefilled = 0
        mode, prefill = PLAN[run % len(PLAN)]
        if prefill:
            code, report, err = run_add(db, corpus.part1, env)
            assert code == 0, err
            prefilled = report["added"]
        kill = Kill(run=run, mode=mode, prefilled=prefilled)
        kill_add(db, corpus, env, timing, kill, rng)

        store_pids = check_store(db, corpus)
        with Store.open(db) as store:
            kill.stored = len(store)
        assert kill.stored >= prefilled
        kill.saved_index = check_saved_index(db, store_pids)
        kills.append(kill)
        print(kill)
        check_index(copy_store(db, work / "copy"), store_pids, kill.saved_index, tokenizer, queries)

        # re-running the add finishes the job
        code, report, err = run_add(db, corpus.root, env)
        assert code == 0, f"{kill}\n{err}"
        assert "locked" not in err
        assert report["failed"] == [] and report["replaced"] == 0
        assert (report["added"], report["unchanged"]) == (corpus.total - kill.stored, kill.stored), str(kill)
        final_pids = check_store(db, corpus)
        with Store.open(db) as store:
            assert len(store) == corpus.total
        check_saved_index(db, final_pids)
        check_index(db, final_pids, "", tokenizer, queries)

    # the kills did land in the phases they aimed at
    if RUNS >= 3:
        assert any(k.running and 0 < k.stored < corpus.total for k in kills), "no kill in the middle of storing"
        assert any(k.running and k.stored == corpus.total for k in kills), "no kill during the index update"


def test_rerun_after_kill_during_index_update_brings_saved_index_up_to_date(corpus, env, tmp_path):
    db = tmp_path / "store.db"
    index_dir = Path(f"{db}.index")
    for _ in range(3):  # the kill must land before the index is saved
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
        shutil.rmtree(index_dir, ignore_errors=True)
        proc = start_add(db, corpus.root, env)
        wait_until(proc, lambda: stored_count(db) >= corpus.total)
        wait_until(proc, lambda: (index_dir / ".lock").exists())  # the index update has begun
        running = proc.poll() is None
        if running:
            os.kill(proc.pid, signal.SIGKILL)
        proc.finish(timeout=60)
        if running and not (index_dir / "manifest.json").exists():
            break
    else:
        pytest.skip("could not kill the add during its index update")

    code, report, err = run_add(db, corpus.root, env)
    assert code == 0, err
    assert report["unchanged"] == corpus.total
    store_pids = check_store(db, corpus)
    try:
        saved = Index.load(index_dir)
    except IndexFormatError as exc:
        pytest.fail(f"after the re-run the saved index is unusable: {exc}")
    assert saved.pids().tolist() == store_pids
