"""Scale: ingest a large generated corpus through `articlebot add` and measure it.

    python bench/bench_scale.py [--paragraphs 1000000] [--per-article 10] [--dir DIR] [--keep]

Writes N paragraphs as Hexo-style article files (front matter + <p> paragraphs of
synthetic Chinese text from bench/synthetic.py), then runs, as a user would:
  * `articlebot add DIR --db DB` in a subprocess: wall time, peak RSS of the add process
    and of its largest worker (both cores parse and tokenize);
  * store and index size on disk;
  * query latency p50/p99 over 500 questions in one process (Searcher, as the bot uses it);
  * cold start: wall time of `articlebot search QUESTION --db DB` (process start to answer);
  * adding one more article to the big store: wall time of `articlebot add FILE`.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import generate  # noqa: E402

ARTICLEBOT = [sys.executable, "-m", "articlebot.cli"]


def write_corpus(directory: Path, n_paragraphs: int, per_article: int, seed: int = 0) -> list[str]:
    """Article files under directory/NNN/; returns the questions (joined query words)."""
    docs, queries = generate(n_paragraphs, n_queries=500, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    for a, start in enumerate(range(0, len(docs), per_article)):
        paragraphs = ["".join(words) for words in docs[start : start + per_article]]
        title = "".join(docs[start][:4])
        body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
        sub = directory / f"{a // 1000:04d}"
        sub.mkdir(exist_ok=True)
        (sub / f"{a:07d}.md").write_text(
            f"---\ntitle: '{title}'\ndate: 2022-01-01T00:00:00Z\ncategories:\n - bench\n---\n<div>\n{body}\n</div>\n",
            encoding="utf-8",
        )
    return ["".join(q) for q in queries]


def run(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(ARTICLEBOT + args, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def query_latency(db: Path, questions: list[str]) -> dict:
    code = (
        "import json,sys,time\n"
        "from corpus.store import Store\nfrom retrieval.search import Searcher\n"
        f"s=Searcher(Store.open({str(db)!r}))\n"
        "qs=json.load(sys.stdin); lat=[]; hits=0\n"
        "for q in qs[:20]: s.search(q, k=10)\n"
        "for q in qs:\n t=time.perf_counter(); h=s.search(q, k=10); lat.append((time.perf_counter()-t)*1000); hits+=bool(h)\n"
        "print(json.dumps({'lat': lat, 'answered': hits}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(questions), capture_output=True, text=True, cwd=ROOT)
    data = json.loads(out.stdout)
    lat = np.array(data["lat"])
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "answered": data["answered"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paragraphs", type=int, default=1_000_000)
    ap.add_argument("--per-article", type=int, default=10)
    ap.add_argument("--dir", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and store")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="articlebot-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CACHE_HOME": str(work / "cache"), "PYTHONPATH": str(ROOT)}
    corpus, db = work / "articles", work / "store.db"

    t = time.perf_counter()
    questions = write_corpus(corpus, args.paragraphs, args.per_article)
    generated = time.perf_counter() - t
    corpus_mb = size_mb(corpus)
    print(f"generated {args.paragraphs} paragraphs in {generated:.0f} s ({corpus_mb:.0f} MB of files)", flush=True)

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    add_s, done = run(["add", str(corpus), "--db", str(db), "--json"], env)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(done.stdout)
    assert done.returncode == 0 and not report["failed"], done.stderr[-2000:]
    print(f"add: {add_s:.0f} s, {report['added']} articles", flush=True)

    latency = query_latency(db, questions)
    cold = min(run(["search", questions[0], "--db", str(db), "-k", "3"], env)[0] for _ in range(3))
    one = corpus / "extra.md"
    one.write_text("---\ntitle: 新增文章\n---\n<p>一篇新增的文章，用来测量在大文章库里追加一篇的时间。</p>\n", encoding="utf-8")
    add_one_s, done_one = run(["add", str(one), "--db", str(db)], env)
    assert done_one.returncode == 0, done_one.stderr

    rows = {
        "paragraphs": f"{args.paragraphs:,}",
        "articles": f"{report['added']:,}",
        "article files": f"{corpus_mb:.0f} MB",
        "`articlebot add` (parse + store + index, 2 cores)": f"{add_s:.0f} s ({args.paragraphs / add_s:,.0f} paragraphs/s)",
        "peak RSS of the largest process": f"{max(peak_kb, before) / 1024:.0f} MB",
        "store size": f"{size_mb(db) + size_mb(Path(str(db) + '-wal')):.0f} MB",
        "index size": f"{size_mb(Path(str(db) + '.index')):.0f} MB",
        "query top-10 p50 / p99 (in process)": f"{latency['p50']:.2f} / {latency['p99']:.2f} ms",
        "questions answered (not refused)": f"{latency['answered']} / {len(questions)}",
        "cold start `articlebot search` (best of 3)": f"{cold:.2f} s",
        "`articlebot add` of one more article": f"{add_one_s:.2f} s",
    }
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows.items():
        print(f"| {name} | {value} |")
    if not args.keep and not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
