"""Scale: ingest a large generated corpus through `articlebot add` and measure it.

    python bench/bench_scale.py [--paragraphs 1000000] [--per-article 10] [--dir DIR] [--keep]
        [--out results.json]

Writes N paragraphs as Hexo-style article files (front matter + <p> paragraphs of
synthetic Chinese text from bench/synthetic.py), in a subprocess so that this process
never holds the corpus, then runs, as a user would:
  * `articlebot add DIR --db DB` in a subprocess: wall time, and its memory (below);
  * store and index size on disk;
  * query latency p50/p99 over 500 questions in one process (Searcher, as the bot uses it);
  * cold start: wall time of `articlebot search QUESTION --db DB` (process start to answer);
  * adding one more article to the big store: wall time of `articlebot add FILE`.
Prints a markdown table; --out also writes the figures as JSON.

Memory of the add: a thread reads /proc every 50 ms while it runs and finds the add
process and all its descendants (the forkserver of its process pools, the pool workers
that parse files and tokenize paragraphs, the resource tracker) by their parent pids.
Per process it keeps the largest VmHWM read (the kernel's high-water mark of the
process's resident set); for the whole tree, the largest sum of VmRSS in one sample
(what the add needs at once; shared pages, such as those a worker shares with the
forkserver it was forked from, count once per process). Not getrusage's ru_maxrss:
Linux keeps that across fork/vfork + exec, so the add would report at least the peak of
the process that started it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
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


def generate_corpus(directory: Path, n_paragraphs: int, per_article: int) -> list[str]:
    """write_corpus in a subprocess: the generated documents (1.6 GB at a million
    paragraphs) never live in this process, so nothing started from it inherits them."""
    code = (
        "import json\nfrom pathlib import Path\nfrom bench.bench_scale import write_corpus\n"
        f"print(json.dumps(write_corpus(Path({str(directory)!r}), {n_paragraphs}, {per_article})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def run(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(ARTICLEBOT + args, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


# --- memory of a process tree, from /proc ------------------------------------------------

PF_FORKNOEXEC = 0x40  # /proc/PID/stat flags: forked, has not called exec yet


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, start time, flags) of every process, from /proc/PID/stat."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()  # after "pid (comm)": comm may hold anything
        except OSError:  # gone meanwhile
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[19]), int(fields[6]))
    return table


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmHWM, VmRSS) of a process in KiB; None when it is gone or a zombie (no memory left)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"VmHWM:", b"VmRSS:")):
                    values[line[:5]] = int(line.split()[1])
    except OSError:
        return None
    return (values[b"VmHWM"], values[b"VmRSS"]) if len(values) == 2 else None


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


class TreeMemory:
    """Peak memory of a running process and its descendants, sampled from /proc.

    Per process (pid + start time, so a reused pid is another process): the largest
    VmHWM read. VmHWM is the kernel's exact high-water mark, so a peak is missed only
    when a process grows in its last interval before it ends. For the tree: the largest
    sum of the processes' VmRSS in one sample. A child of the root that has not called
    exec yet is skipped: between fork (or vfork) and exec it holds a copy of the root's
    memory (or the root's own), not memory of its own. (The add's pools use forkserver:
    its workers are forked from the forkserver, not from the root.)
    """

    def __init__(self, root: int, interval: float = 0.05):
        self.root = root
        self.interval = interval
        self.processes: dict[tuple[int, int], dict] = {}
        self.sum_rss_peak_kb = 0
        self.most_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        table = proc_table()
        children = defaultdict(list)
        for pid, (ppid, _, _) in table.items():
            children[ppid].append(pid)
        tree, todo = [], [self.root] if self.root in table else []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children[pid])
        total = counted = 0
        for pid in tree:
            ppid, started, flags = table[pid]
            if ppid == self.root and flags & PF_FORKNOEXEC:
                continue
            memory = memory_kb(pid)
            if memory is None:
                continue
            hwm, rss = memory
            seen = self.processes.get((pid, started))
            if seen is None:
                seen = self.processes[(pid, started)] = {
                    "pid": pid, "parent": ppid, "role": self._role(pid, ppid), "peak_kb": 0, "command": command_line(pid)
                }  # fmt: skip
            seen["peak_kb"] = max(seen["peak_kb"], hwm)
            total += rss
            counted += 1
        self.samples += 1
        self.sum_rss_peak_kb = max(self.sum_rss_peak_kb, total)
        self.most_processes = max(self.most_processes, counted)

    def _role(self, pid: int, ppid: int) -> str:
        if pid == self.root:
            return "add"
        command = command_line(pid)
        if ppid == self.root and "multiprocessing.forkserver" in command:
            return "forkserver"
        if "multiprocessing.resource_tracker" in command:
            return "resource tracker"
        return "worker"  # forked by the forkserver (it shows the forkserver's command line)

    def peak_kb(self, role: str) -> int | None:
        peaks = [p["peak_kb"] for p in self.processes.values() if p["role"] == role]
        return max(peaks) if peaks else None


def own_peak_kb() -> int:
    """VmHWM of this process."""
    return memory_kb(os.getpid())[0]


def run_measured(args: list[str], env: dict, work: Path) -> tuple[float, int, str, str, TreeMemory, int]:
    """Run articlebot with its process tree's memory sampled: (seconds, exit code, stdout,
    stderr, the samples, ru_maxrss in KiB that wait4 gives for the process)."""
    with open(work / "add.out", "w+", encoding="utf-8") as out, open(work / "add.err", "w+", encoding="utf-8") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(ARTICLEBOT + args, env=env, stdout=out, stderr=err, text=True)
        with TreeMemory(proc.pid) as memory:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return seconds, proc.returncode, out.read(), err.read(), memory, usage.ru_maxrss


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def query_latency(db: Path, questions: list[str]) -> dict:
    code = (
        "import json,sys,time\n"
        "from articlebot.corpus.store import Store\nfrom articlebot.retrieval.search import Searcher\n"
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


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)  # KiB -> MiB, the "MB" of the RSS figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paragraphs", type=int, default=1_000_000)
    ap.add_argument("--per-article", type=int, default=10)
    ap.add_argument("--dir", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and store")
    ap.add_argument("--out", help="also write the figures as JSON to this file")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="articlebot-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CACHE_HOME": str(work / "cache"), "PYTHONPATH": str(ROOT)}
    corpus, db = work / "articles", work / "store.db"

    t = time.perf_counter()
    questions = generate_corpus(corpus, args.paragraphs, args.per_article)
    generated = time.perf_counter() - t
    corpus_mb = size_mb(corpus)
    print(f"generated {args.paragraphs} paragraphs in {generated:.0f} s ({corpus_mb:.0f} MB of files)", flush=True)

    bench_peak_kb = own_peak_kb()
    add_s, code, out, err, memory, add_maxrss_kb = run_measured(["add", str(corpus), "--db", str(db), "--json"], env, work)
    assert code == 0, err[-2000:]
    report = json.loads(out)
    assert not report["failed"], report["failed"][:5]
    add_kb, worker_kb = memory.peak_kb("add"), memory.peak_kb("worker")
    workers = sum(p["role"] == "worker" for p in memory.processes.values())
    print(f"add: {add_s:.0f} s, {report['added']} articles; {memory.samples} memory samples, {workers} workers, "
          f"at most {memory.most_processes} processes at once", flush=True)  # fmt: skip
    # A check of the sampling: wait4's ru_maxrss is the add's own peak (the forkserver, which
    # reaps the workers, ends after the add, so the add reaps none of them), unless this
    # process's peak when it started the add, which the add inherits, is larger.
    print(f"check: wait4 ru_maxrss of the add {mb(add_maxrss_kb)} MB (meaningful above this process's "
          f"VmHWM {mb(bench_peak_kb)} MB); sampled VmHWM of the add {mb(add_kb)} MB", flush=True)  # fmt: skip

    latency = query_latency(db, questions)
    cold = min(run(["search", questions[0], "--db", str(db), "-k", "3"], env)[0] for _ in range(3))
    one = corpus / "extra.md"
    one.write_text("---\ntitle: 新增文章\n---\n<p>一篇新增的文章，用来测量在大文章库里追加一篇的时间。</p>\n", encoding="utf-8")
    add_one_s, done_one = run(["add", str(one), "--db", str(db)], env)
    assert done_one.returncode == 0, done_one.stderr

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "paragraphs": args.paragraphs,
        "articles": report["added"],
        "article_files_mb": round(corpus_mb, 1),
        "generate_s": round(generated, 2),
        "add_s": round(add_s, 2),
        "add_memory": {
            "add_process_peak_rss_mb": mb(add_kb),
            "largest_worker_peak_rss_mb": mb(worker_kb),
            "sum_of_concurrent_rss_peak_mb": mb(memory.sum_rss_peak_kb),
            "most_processes_at_once": memory.most_processes,
            "samples": memory.samples,
            "interval_s": memory.interval,
            "wait4_ru_maxrss_of_add_mb": mb(add_maxrss_kb),
            "benchmark_process_peak_rss_mb": mb(bench_peak_kb),
            "processes": sorted(
                ({**{k: v for k, v in p.items() if k != "peak_kb"}, "peak_rss_mb": mb(p["peak_kb"])} for p in memory.processes.values()),
                key=lambda p: -p["peak_rss_mb"],
            ),
        },
        "store_mb": round(size_mb(db) + size_mb(Path(str(db) + "-wal")), 1),
        "index_mb": round(size_mb(Path(str(db) + ".index")), 1),
        "query_ms": {"p50": round(latency["p50"], 3), "p99": round(latency["p99"], 3)},
        "questions": len(questions),
        "answered": latency["answered"],
        "cold_search_s": round(cold, 3),
        "add_one_s": round(add_one_s, 3),
    }
    memory_figures = results["add_memory"]

    def rss(key: str) -> str:
        return "not sampled" if memory_figures[key] is None else f"{memory_figures[key]:.0f} MB"

    rows = {
        "paragraphs": f"{args.paragraphs:,}",
        "articles": f"{report['added']:,}",
        "article files": f"{corpus_mb:.0f} MB",
        "`articlebot add` (parse + store + index, 2 cores)": f"{add_s:.0f} s ({args.paragraphs / add_s:,.0f} paragraphs/s)",
        "`articlebot add`: add process peak RSS (VmHWM)": rss("add_process_peak_rss_mb"),
        "`articlebot add`: largest worker peak RSS (VmHWM)": rss("largest_worker_peak_rss_mb"),
        "`articlebot add`: sum of concurrent RSS, peak (all its processes)": rss("sum_of_concurrent_rss_peak_mb"),
        "store size": f"{results['store_mb']:.0f} MB",
        "index size": f"{results['index_mb']:.0f} MB",
        "query top-10 p50 / p99 (in process)": f"{latency['p50']:.2f} / {latency['p99']:.2f} ms",
        "questions answered (not refused)": f"{latency['answered']} / {len(questions)}",
        "cold start `articlebot search` (best of 3)": f"{cold:.2f} s",
        "`articlebot add` of one more article": f"{add_one_s:.2f} s",
    }
    print(f"\n{results['date']}, {results['machine']['processor']}, {os.cpu_count()} cores\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows.items():
        print(f"| {name} | {value} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.out}")
    if not args.keep and not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
