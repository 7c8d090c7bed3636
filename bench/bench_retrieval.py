"""Retrieval benchmark: our BM25 index against rank_bm25, bm25s and tantivy on one corpus.

    python bench/bench_retrieval.py [--docs 100000] [--queries 1000]
        [--engines ours,rank_bm25,bm25s,tantivy] [--seed 0] [--out results.json]

Run from the repository root. The parent process generates the synthetic corpus once
(bench/synthetic.py: documents are already lists of tokens, so every engine indexes the
very same tokens) and writes it to a temporary directory, one document per line, words
separated by a space (jieba dictionary words never contain whitespace). Each engine is
then measured in two subprocesses of this script, so that one engine's memory does not
inflate another's peak RSS:

    build worker   reads the corpus, builds the index from the tokens, saves it to disk
                   -> build s, save s, index size on disk, RSS after reading the corpus,
                      peak RSS (corpus included)
    serve worker   pinned to one CPU, reads only the queries, opens the saved index (a
                   fresh process, so nothing is left over from the build), runs 20 warm-up
                   queries, then times top-10 of every query one by one
                   -> open s, p50 / p99 ms per query, peak RSS while serving

Peak RSS is the worker's VmHWM (/proc/self/status), not getrusage's ru_maxrss, which
Linux carries over from the parent across fork + exec (see peak_rss_mb). Both workers
run with OPENBLAS/OMP/MKL/NUMBA threads set to 1. Every engine returns the
top-10 as (pid, score) inside the timed call (pids are 1..N in corpus order).

Exactness: for every query rank_bm25 was measured on, our top-10 (pids and scores,
relative 1e-9) must equal rank_bm25's top-10 ordered by (-score, pid) among the documents
holding at least one query term (rank_bm25 gives the others 0; we never return them).
bm25s and tantivy are compared with ours by overlap of the top-10 pid sets (they score
with float32, tantivy also with other BM25 parameters, so they are not expected to match).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402

K = 10
WARMUP = 20
TANTIVY_HEAP = 500_000_000
RANK_BM25_MAX_DOCS = 200_000
ONE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
MB = 1024 * 1024

# ------------------------------------------------------------------------------------
# engines: build (from token lists; `path` is where the index will be saved) / save /
# open (from disk, in a fresh process) / query. Every query returns [(pid, score), ...],
# best first, at most k of them. `modules` are imported before anything is timed.
# ------------------------------------------------------------------------------------


class Ours:
    """retrieval.index.Index: exact BM25 Okapi over memory-mapped numpy segments."""

    modules = ("articlebot.retrieval.index",)
    streams = True  # builds from an iterator of token lists: the corpus is never all in memory

    @staticmethod
    def build(pids, docs, path: Path):
        from itertools import islice

        from articlebot.retrieval.index import SEGMENT_DOCS, Index

        ix = Index()
        pairs = zip(pids, docs)
        while chunk := list(islice(pairs, SEGMENT_DOCS)):  # as articlebot adds from its store:
            ix.add([pid for pid, _ in chunk], [doc for _, doc in chunk], merge=False)
        ix.merge_tail(0)  # one merge at the end of the load
        return ix

    @staticmethod
    def save(ix, path: Path):
        ix.save(path)

    @staticmethod
    def open(path: Path):
        from articlebot.retrieval.index import Index

        return Index.load(path)

    @staticmethod
    def query(ix, tokens, k):
        return ix.top(tokens, k)

    @staticmethod
    def notes(handle) -> dict:
        try:
            from articlebot.retrieval import kernels

            # the compiled path runs when numba is installed and, in newer versions, only
            # for indexes of at least kernels.MIN_DOCS documents
            compiled = kernels.ENABLED and handle.n_docs >= getattr(kernels, "MIN_DOCS", 0)
            kernel = "numba" if compiled else "numpy"
        except ImportError:
            kernel = "numpy"
        from articlebot.retrieval.bm25 import BM25Params

        p = BM25Params()  # what top(q, k) uses
        return {"segments": len(handle.segments), "kernel": kernel, "params": f"k1 {p.k1} b {p.b} eps {p.epsilon}"}


class RankBM25:
    """rank_bm25.BM25Okapi, persisted with pickle (the usual way); top-k = argsort of get_scores."""

    modules = ("rank_bm25", "pickle")

    @staticmethod
    def build(pids, docs, path: Path):
        from rank_bm25 import BM25Okapi

        return BM25Okapi(docs)

    @staticmethod
    def save(bm, path: Path):
        import pickle

        path.mkdir(parents=True, exist_ok=True)
        with open(path / "bm25okapi.pkl", "wb") as f:
            pickle.dump(bm, f, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def open(path: Path):
        import pickle

        with open(path / "bm25okapi.pkl", "rb") as f:
            return pickle.load(f)

    @staticmethod
    def query(bm, tokens, k):
        scores = bm.get_scores(tokens)
        best = np.argsort(scores)[::-1][:k]  # as rank_bm25's own get_top_n does
        return [(int(i) + 1, float(scores[i])) for i in best]

    @staticmethod
    def exact_top(bm, tokens, k):
        """Reference top-k for the exactness check (not timed): by (-score, pid) among the
        documents holding at least one query term."""
        scores = bm.get_scores(tokens)
        terms = set(tokens)
        held = np.fromiter((not terms.isdisjoint(d) for d in bm.doc_freqs), dtype=bool, count=len(bm.doc_freqs))
        docs = np.flatnonzero(held)
        order = np.lexsort((docs, -scores[docs]))[:k]
        return [(int(docs[i]) + 1, float(scores[docs[i]])) for i in order]

    @staticmethod
    def notes(bm) -> dict:
        return {"params": f"k1 {bm.k1} b {bm.b} eps {bm.epsilon}"}


class BM25S:
    """bm25s with pre-tokenized input (Tokenized ids + our vocab), numba backend if installed.

    method="atire" with idf_method="robertson" is rank_bm25's BM25Okapi formula:
    tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) times ln((N - df + .5) / (df + .5)).
    (bm25s "robertson" has the same ranking but leaves out the (k1 + 1) factor; the only
    difference left is for terms in more than half the documents: bm25s clamps their idf
    to 0, rank_bm25 uses epsilon * mean idf. Scores are float32.)
    """

    modules = ("bm25s", "bm25s.tokenization")

    @staticmethod
    def backend() -> str:
        try:
            import numba  # noqa: F401

            return "numba"
        except ImportError:
            return "numpy"

    @staticmethod
    def build(pids, docs, path: Path):
        import bm25s
        from bm25s.tokenization import Tokenized

        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in docs]
        retriever = bm25s.BM25(k1=1.5, b=0.75, method="atire", idf_method="robertson", backend=BM25S.backend())
        retriever.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
        return retriever

    @staticmethod
    def save(retriever, path: Path):
        retriever.save(str(path), show_progress=False)

    @staticmethod
    def open(path: Path):
        import bm25s

        return bm25s.BM25.load(str(path), mmap=True, show_progress=False)

    @staticmethod
    def query(retriever, tokens, k):
        res = retriever.retrieve([tokens], k=k, n_threads=1, show_progress=False)
        # bm25s always returns k documents; those scoring 0 hold no query term
        return [(int(d) + 1, float(s)) for d, s in zip(res.documents[0], res.scores[0]) if s > 0]

    @staticmethod
    def notes(handle) -> dict:
        return {"backend": handle.backend, "method": f"{handle.method}/{handle.idf_method}", "params": f"k1 {handle.k1} b {handle.b}"}


class Tantivy:
    """tantivy-py: one text field with the built-in whitespace tokenizer (no re-segmenting),
    frequencies but no positions; a u64 fast field for the pid. Queries are a boolean
    should of one TermQuery per query token (no query parser)."""

    modules = ("tantivy",)
    streams = True  # documents are added one at a time

    @staticmethod
    def schema():
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("text", stored=False, tokenizer_name="whitespace", index_option="freq")
        sb.add_unsigned_field("pid", stored=False, indexed=False, fast=True)
        return sb.build()

    @staticmethod
    def build(pids, docs, path: Path):
        # an on-disk index: building writes it to `path`, so "save" has nothing left to do
        import tantivy

        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(Tantivy.schema(), path=str(path))
        writer = index.writer(heap_size=TANTIVY_HEAP, num_threads=1)
        for pid, doc in zip(pids, docs):
            d = tantivy.Document()
            d.add_unsigned("pid", pid)
            d.add_text("text", " ".join(doc))
            writer.add_document(d)
        writer.commit()
        writer.wait_merging_threads()
        return index

    @staticmethod
    def save(index, path: Path):
        pass

    @staticmethod
    def open(path: Path):
        import tantivy

        index = tantivy.Index.open(str(path))
        return index.searcher(), index.schema

    @staticmethod
    def query(handle, tokens, k):
        import tantivy

        searcher, schema = handle
        q = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", t, index_option="freq")) for t in tokens]
        )
        # count=False: no total hit count, which lets tantivy prune with block-max WAND
        hits = searcher.search(q, k, count=False).hits
        pids = searcher.fast_field_values("pid", [addr for _, addr in hits])
        return [(int(p), float(s)) for p, (s, _) in zip(pids, hits)]

    @staticmethod
    def notes(handle) -> dict:
        searcher, _ = handle
        return {"segments": searcher.num_segments, "params": "k1 1.2 b 0.75, Lucene idf (fixed in tantivy)"}


ENGINES = {"ours": Ours, "rank_bm25": RankBM25, "bm25s": BM25S, "tantivy": Tantivy}
PACKAGES = {"rank_bm25": "rank-bm25", "bm25s": "bm25s", "tantivy": "tantivy"}

# ------------------------------------------------------------------------------------
# corpus files
# ------------------------------------------------------------------------------------


def write_lines(path: Path, token_lists) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for tokens in token_lists:
            f.write(" ".join(tokens))
            f.write("\n")


def read_lines(path: Path) -> list[list[str]]:
    """Token lists back from a corpus file; each distinct word is one shared str object
    (as in the generator's output), so the corpus costs about the same memory as there."""
    words: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="\n") as f:
        return [[words.setdefault(w, w) for w in line.rstrip("\n").split(" ")] for line in f]


# ------------------------------------------------------------------------------------
# worker (one engine, one phase, in its own process)
# ------------------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    """Peak RSS of this process: VmHWM, the high-water mark of its own address space.

    Not getrusage(RUSAGE_SELF).ru_maxrss: Linux carries that over from the parent into
    a child started with fork/vfork + exec (it is kept across execve), so every worker
    would report at least the parent's peak, i.e. the memory of generating the corpus."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def preemptions() -> int:
    """Involuntary context switches so far: another process took our CPU."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / MB


class StreamedLines:
    """Token lists one at a time from a corpus file (for engines that build from a
    stream), timing itself: the time spent reading is not build time."""

    def __init__(self, path: Path):
        self.path = path
        self.read_s = 0.0
        self.read_cpu_s = 0.0

    def __iter__(self):
        words: dict[str, str] = {}
        with open(self.path, encoding="utf-8", newline="\n") as f:
            while True:
                start, cpu = time.perf_counter(), cpu_s()
                line = f.readline()
                tokens = [words.setdefault(w, w) for w in line.rstrip("\n").split(" ")] if line else None
                self.read_s += time.perf_counter() - start
                self.read_cpu_s += cpu_s() - cpu
                if tokens is None:
                    return
                yield tokens


def build_worker(engine, data: Path, index_dir: Path) -> dict:
    streaming = getattr(engine, "streams", False)
    if streaming:  # read while building (the build time includes reading the file)
        with open(data / "docs.txt", "rb") as f:
            n_docs = sum(1 for _ in f)
        docs = StreamedLines(data / "docs.txt")
    else:
        docs = read_lines(data / "docs.txt")
        n_docs = len(docs)
    pids = range(1, n_docs + 1)
    gc.collect()
    out = {"docs": n_docs, "streamed": streaming, "corpus_rss_mb": rss_mb(), "corpus_peak_rss_mb": peak_rss_mb()}
    cpu, start = cpu_s(), time.perf_counter()
    handle = engine.build(pids, docs, index_dir)
    out["build_s"] = time.perf_counter() - start
    out["build_cpu_s"] = cpu_s() - cpu  # all threads; wall time suffers on a shared machine
    if streaming:  # reading the file is not building: take it out (and say how long it took)
        out["read_s"], out["read_cpu_s"] = docs.read_s, docs.read_cpu_s
        out["build_s"] -= docs.read_s
        out["build_cpu_s"] -= docs.read_cpu_s
    start = time.perf_counter()
    engine.save(handle, index_dir)
    out["save_s"] = time.perf_counter() - start
    out["index_mb"] = dir_size_mb(index_dir)
    out["peak_rss_mb"] = peak_rss_mb()
    out["ru_maxrss_mb"] = ru_maxrss_mb()
    return out


def serve_worker(engine, data: Path, index_dir: Path, n_queries: int, top_file: Path) -> dict:
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # one core
    queries = read_lines(data / "queries.txt")[:n_queries]
    out = {"cpu": cpu, "queries": len(queries), "start_rss_mb": rss_mb()}
    start = time.perf_counter()
    handle = engine.open(index_dir)
    out["open_s"] = time.perf_counter() - start
    out["open_rss_mb"] = rss_mb()
    for q in queries[:WARMUP]:
        engine.query(handle, q, K)
    latencies, preempted, tops = [], [], []
    for q in queries:
        switches = preemptions()
        start = time.perf_counter()
        top = engine.query(handle, q, K)
        latencies.append(time.perf_counter() - start)
        preempted.append(preemptions() - switches)
        tops.append(top)
    # On a shared machine another process sometimes takes our CPU in the middle of a
    # query (a few ms of scheduler time slice); those queries make p99. The p99 of the
    # queries that were not preempted is the engine's own tail.
    lat_ms = np.array(latencies) * 1000
    alone = lat_ms[np.array(preempted) == 0]
    out.update(
        p50_ms=float(np.percentile(lat_ms, 50)),
        p99_ms=float(np.percentile(lat_ms, 99)),
        p99_not_preempted_ms=float(np.percentile(alone, 99)) if len(alone) else None,
        mean_ms=float(lat_ms.mean()),
        latencies_ms=lat_ms.tolist(),
        preempted_per_query=preempted,
        peak_rss_mb=peak_rss_mb(),
        ru_maxrss_mb=ru_maxrss_mb(),
        preempted=int(sum(1 for n in preempted if n)),
        notes=engine.notes(handle),
    )
    if hasattr(engine, "exact_top"):  # the reference lists, computed after timing
        tops = [engine.exact_top(handle, q, K) for q in queries]
    top_file.write_text(json.dumps(tops))
    return out


def worker_main(args) -> None:
    engine = ENGINES[args.worker]
    for module in engine.modules:  # imported before any timing
        importlib.import_module(module)
    data, index_dir = Path(args.data), Path(args.index)
    if args.phase == "build":
        result = build_worker(engine, data, index_dir)
    else:
        result = serve_worker(engine, data, index_dir, args.n_queries, Path(args.top_file))
    result["retrieval_sha"] = retrieval_digest()  # of the engine modules this worker ran
    Path(args.result).write_text(json.dumps(result))


# ------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------


def run_worker(name: str, phase: str, tmp: Path, n_queries: int) -> dict:
    index_dir = tmp / f"index-{name}"
    result = tmp / f"{name}.{phase}.json"
    env = {**os.environ, **ONE_THREAD_ENV}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--phase", phase,
           "--data", str(tmp), "--index", str(index_dir), "--result", str(result),
           "--n-queries", str(n_queries), "--top-file", str(tmp / f"{name}.top.json")]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    out = json.loads(result.read_text())
    print(f"  {name} {phase}: done in {time.perf_counter() - start:.1f} s", flush=True)
    return out


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def compare_exact(ours: list, ref: list) -> tuple[int, int, list]:
    """(identical, identical up to near-ties, examples of differences).

    'Up to near-ties': same scores position by position (rel 1e-9) and the pids differ
    only inside runs of scores equal within 1e-9, where the last-bit rounding of a sum
    may order two equal scores either way."""
    identical = tied = 0
    bad = []
    for i, (a, b) in enumerate(zip(ours, ref)):
        same_scores = len(a) == len(b) and all(close(x[1], y[1]) for x, y in zip(a, b))
        if same_scores and [x[0] for x in a] == [y[0] for y in b]:
            identical += 1
        elif same_scores and _differ_only_in_ties(a, b):
            tied += 1
        elif len(bad) < 5:
            bad.append({"query": i, "ours": a, "rank_bm25": b})
    return identical, tied, bad


def _differ_only_in_ties(a: list, b: list) -> bool:
    for j, (x, y) in enumerate(zip(a, b)):
        if x[0] != y[0]:
            neighbours = [a[m][1] for m in (j - 1, j + 1) if 0 <= m < len(a)]
            if not any(close(x[1], s) for s in neighbours):
                return False
    return True


def overlap(ours: list, other: list) -> float:
    """Mean |top-10 pids ∩ our top-10 pids| / |our top-10| over the queries."""
    fractions = [len({p for p, _ in o} & {p for p, _ in t}) / len(o) for o, t in zip(ours, other) if o]
    return float(np.mean(fractions)) if fractions else float("nan")


def machine_info() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {"python": platform.python_version()}
    for pkg in ("numpy", "jieba", "rank-bm25", "bm25s", "numba", "tantivy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "retrieval"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        versions["ours"] = commit + (" + uncommitted changes in retrieval/" if dirty else "")
    except OSError:
        versions["ours"] = None
    return {
        "date": subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def retrieval_digest() -> str:
    """Short sha256 of the retrieval/ modules loaded in this process, i.e. the engine's
    source as measured (other people may be changing retrieval/ while the bench runs)."""
    files = sorted(
        Path(m.__file__).name
        for name, m in list(sys.modules.items())
        if (name == "retrieval" or name.startswith("retrieval.")) and getattr(m, "__file__", None)
    )
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode() + b"\0" + (ROOT / "retrieval" / name).read_bytes())
    return f"{h.hexdigest()[:12]} ({', '.join(files)})" if files else "-"


def fmt(x, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def report(results: dict, info: dict, args, gen_s: float) -> str:
    lines = [
        f"{args.docs:,} documents, {args.queries:,} queries, seed {args.seed} "
        f"(corpus generated in {gen_s:.0f} s; {results.get('_tokens', 0) / max(args.docs, 1):.1f} tokens per document)",
        "",
        "| engine | build s | index MB | open s | p50 ms | p99 ms | p99 ms not preempted | peak RSS MB "
        "| corpus RSS MB | serve peak RSS MB | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in args.engines:
        r = results[name]
        b, s = r["build"], r["serve"]
        notes = [f"corpus streamed from its file during the build (reading it, {b['read_s']:.1f} s, not counted)"
                 if b.get("streamed") else "corpus read into memory first",
                 f"build CPU {b['build_cpu_s']:.1f} s", f"save {b['save_s']:.2f} s",
                 f"{s['queries']} queries, {s['preempted']} preempted"]  # fmt: skip
        notes += [f"{k} {v}" for k, v in s["notes"].items()]
        if "overlap_with_ours" in r:
            notes.append(f"top-10 overlap with ours {r['overlap_with_ours']:.1%}")
        lines.append(
            f"| {name} | {fmt(b['build_s'], 2)} | {fmt(b['index_mb'], 1)} | {fmt(s['open_s'], 3)} "
            f"| {fmt(s['p50_ms'], 3)} | {fmt(s['p99_ms'], 3)} | {fmt(s['p99_not_preempted_ms'], 3)} | {fmt(b['peak_rss_mb'], 0)} "
            f"| {fmt(b['corpus_rss_mb'], 0)} | {fmt(s['peak_rss_mb'], 0)} | {'; '.join(notes)} |"
        )
    lines.append("")
    lines.append(
        "peak RSS = peak RSS (VmHWM) of the build worker, corpus included; corpus RSS = RSS of that "
        "worker right after reading the corpus (engines whose API takes a stream of documents read "
        "it during the build instead, so theirs is the bare worker), so peak − corpus ≈ the engine's "
        "share while building; "
        "serve peak RSS = peak of the worker that only opens the saved index and queries it (one CPU). "
        "p99 not preempted = p99 over the queries during which no other process took the CPU "
        "(involuntary context switches = 0); 'N preempted' in the notes counts the others."
    )
    if "ours" in results:
        lines.append("")
        for name, r in results.items():
            if name.startswith("_") or name == "ours":
                continue
            x = r["speedup_p50"]
            verdict = f"ours {x:.1f}x faster" if x >= 1 else f"ours {1 / x:.1f}x slower"
            lines.append(f"- speed-up of ours vs {name} (p50 ratio): {x:.2f} = {verdict} "
                         f"(p50 {r['serve']['p50_ms']:.3f} ms vs ours {r['ours_p50_same_queries']:.3f} ms "
                         f"on the same {r['serve']['queries']} queries)")  # fmt: skip
    if "_exact" in results:
        e = results["_exact"]
        lines.append("")
        lines.append(f"top-10 identical to rank_bm25 on {e['identical']}/{e['n']} queries"
                     + (f" ({e['tied']} more equal up to near-tied scores)" if e["tied"] else ""))  # fmt: skip
    v = info["versions"]
    lines += [
        "",
        f"date: {info['date']}; CPU: {info['cpu']}, {info['cores']} cores, {info['mem_gb']} GB RAM; "
        f"load average at start {' '.join(map(str, info['loadavg_at_start']))}, "
        f"at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
    ]
    return "\n".join(lines)


def parent_main(args) -> None:
    from bench.synthetic import generate

    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        sys.exit(f"unknown engine(s): {', '.join(unknown)} (choose from {', '.join(ENGINES)})")
    if "rank_bm25" in args.engines and args.docs > RANK_BM25_MAX_DOCS and not args.force_rank_bm25:
        print(f"skipping rank_bm25 above {RANK_BM25_MAX_DOCS:,} documents (--force-rank-bm25 to run it)")
        args.engines = [e for e in args.engines if e != "rank_bm25"]
    info = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="bench-retrieval-", dir=args.tmp))
    try:
        print(f"generating {args.docs:,} documents and {args.queries:,} queries (seed {args.seed})...", flush=True)
        start = time.perf_counter()
        docs, queries = generate(args.docs, n_queries=args.queries, seed=args.seed)
        gen_s = time.perf_counter() - start
        n_tokens = sum(map(len, docs))
        write_lines(tmp / "docs.txt", docs)
        write_lines(tmp / "queries.txt", queries)
        del docs, queries
        gc.collect()
        results: dict = {"_tokens": n_tokens}
        for name in args.engines:
            n_queries = min(args.queries, args.rank_bm25_queries) if name == "rank_bm25" else args.queries
            print(f"{name}:", flush=True)
            results[name] = {
                "build": run_worker(name, "build", tmp, n_queries),
                "serve": run_worker(name, "serve", tmp, n_queries),
            }
            if not args.keep:
                shutil.rmtree(tmp / f"index-{name}", ignore_errors=True)
        tops = {name: json.loads((tmp / f"{name}.top.json").read_text()) for name in args.engines}
        if "ours" in results:
            ours_lat = np.array(results["ours"]["serve"]["latencies_ms"])
            for name in args.engines:
                if name == "ours":
                    continue
                r = results[name]
                n = r["serve"]["queries"]
                r["ours_p50_same_queries"] = float(np.percentile(ours_lat[:n], 50))
                r["speedup_p50"] = r["serve"]["p50_ms"] / r["ours_p50_same_queries"]
                r["overlap_with_ours"] = overlap(tops["ours"][:n], tops[name])
        if "ours" in results and "rank_bm25" in results:
            n = results["rank_bm25"]["serve"]["queries"]
            identical, tied, bad = compare_exact(tops["ours"][:n], tops["rank_bm25"])
            results["_exact"] = {"n": n, "identical": identical, "tied": tied, "differences": bad}
            for d in bad:
                print("DIFFERENCE:", json.dumps(d, ensure_ascii=False))
        if "ours" in results:  # the source our workers actually ran
            ran = [results["ours"][phase]["retrieval_sha"] for phase in ("build", "serve")]
            info["versions"]["ours: sha256 of retrieval/"] = " then ".join(dict.fromkeys(ran))
            if len(set(ran)) > 1:
                print("WARNING: retrieval/ changed between our build and serve workers")
        text = report(results, info, args, gen_s)
        print()
        print(text)
        if args.out:
            raw = {"args": {k: v for k, v in vars(args).items() if k != "worker"}, "machine": info,
                   "generation_s": gen_s, "results": results}  # fmt: skip
            Path(args.out).write_text(json.dumps(raw, indent=1, ensure_ascii=False))
            print(f"\nraw numbers written to {args.out}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--engines", type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
                    default=list(ENGINES))  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the raw numbers (per-query latencies included) as JSON")
    ap.add_argument("--rank-bm25-queries", type=int, default=200, help="rank_bm25 is timed on at most this many queries")
    ap.add_argument("--force-rank-bm25", action="store_true", help=f"run rank_bm25 above {RANK_BM25_MAX_DOCS:,} documents")
    ap.add_argument("--tmp", help="directory for the corpus and index files (default: the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and index files")
    # worker mode (internal)
    ap.add_argument("--worker", choices=list(ENGINES), help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=["build", "serve"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--index", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--n-queries", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--top-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
