"""Ingest throughput, and the HTML parser choice (lxml vs html.parser) measured on real pages.

    python bench/bench_ingest.py [DIR] [--repeat N]

DIR defaults to ../shared/corpora/hexo-news.tar.gz unpacked to a temp dir, else the
bundled sample. Prints articles/s and MB/s for parsing alone and for `add` into a fresh
store, per parser, plus how many paragraphs differ between the two parsers.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
from pathlib import Path

from articlebot.corpus import clean
from articlebot.corpus.ingest import add_paths
from articlebot.corpus.parse import parse_file
from articlebot.corpus.sample import SAMPLE_DIR
from articlebot.corpus.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "hexo-news.tar.gz"


def corpus_files(arg: str | None, tmp: Path) -> list[Path]:
    if arg:
        return sorted(p for p in Path(arg).rglob("*") if p.is_file())
    if SHARED.is_file():
        with tarfile.open(SHARED) as tar:
            tar.extractall(tmp, filter="data")
        return sorted((tmp / "hexo-news").glob("*.md"))
    return sorted(SAMPLE_DIR.glob("*.md"))


def time_parse(files: list[Path], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for f in files:
            parse_file(f)
    return time.perf_counter() - start


def time_add(files: list[Path], tmp: Path, repeat: int) -> float:
    total = 0.0
    for i in range(repeat):
        with Store.open(tmp / f"bench-{clean.HTML_PARSER}-{i}.db") as store:
            start = time.perf_counter()
            report = add_paths(store, files)
            total += time.perf_counter() - start
            assert not report.failed, report.failed
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = corpus_files(args.dir, tmp)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} files, {megabytes:.2f} MB, repeat {args.repeat}")
        outputs = {}
        for parser in ("lxml", "html.parser"):
            clean.HTML_PARSER = parser
            parse_s = time_parse(files, args.repeat)
            add_s = time_add(files, tmp, args.repeat)
            n = len(files) * args.repeat
            print(
                f"{parser:12s} parse: {n / parse_s:7.1f} articles/s {megabytes * args.repeat / parse_s:6.2f} MB/s | "
                f"add: {n / add_s:7.1f} articles/s {megabytes * args.repeat / add_s:6.2f} MB/s"
            )
            outputs[parser] = {f.name: [(p.section, p.text) for p in parse_file(f).paragraphs] for f in files}
        differing = [name for name in outputs["lxml"] if outputs["lxml"][name] != outputs["html.parser"][name]]
        print(f"articles whose paragraphs differ between parsers: {len(differing)} {differing[:10]}")


if __name__ == "__main__":
    main()
