"""The BM25 index: segments plus exact global statistics, saved in a versioned format.

Adding paragraphs writes a new small segment; removing marks documents deleted. The
global statistics (N, total length, document frequency of every term) are kept exact
on every change, so scores always equal those of a full rebuild (tests assert that).
Small segments merge like a binary counter, up to MAX_MERGED_DOCS documents each; when
too many documents are deleted, segments are rewritten without them. Merging works on
the postings (no re-tokenising).

On disk (format version FORMAT_VERSION), a directory:
    manifest.json               format, version, tokenizer fingerprint, segments, counts
    vocab_hash.npy vocab_df.npy  global document frequencies (sorted by term hash)
    seg-NNNNNN/*.npy            one directory per segment (see segment.py)
    seg-NNNNNN.deleted-G.npy    the deleted mask of a segment, as of generation G
The manifest is replaced atomically last, so a reader sees either the old or the new
index, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from articlebot.retrieval import bm25, kernels
from articlebot.retrieval.bm25 import BM25Params
from articlebot.retrieval.segment import Segment, hash_terms, merge, release_free_memory

FORMAT_NAME = "articlebot-bm25-index"
FORMAT_VERSION = 3  # 2: term frequencies in 2 bytes; 3: per-term largest tf and shortest document
SEGMENT_DOCS = 50_000  # documents inverted at a time (bounds memory while building)
# Segments stop growing at this size: a merge holds its input and its output in memory
# (about 0.5 GB each at this size), and a few segments cost a query little more.
MAX_MERGED_DOCS = 1_048_576
MAX_SEGMENTS = 16  # merge small ones when more (the tail policy keeps far fewer)
MAX_DELETED_FRACTION = 0.2  # merge everything when more of the documents are deleted
RELEASE_MIN_DOCS = 10_000  # after inverting this many documents, give freed memory back


class IndexFormatError(Exception):
    """The files on disk are not an index this version can read (older format, damage)."""


@dataclass(eq=False)  # numpy fields: == would raise; an index equals only itself
class Index:
    fingerprint: str = ""  # of the tokenizer that produced the terms
    segments: list[Segment] = field(default_factory=list)
    vocab_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    vocab_df: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_docs: int = 0
    total_length: int = 0
    generation: int = 0  # bumped on every change; names the files of a save
    _floor_cache: dict = field(default_factory=dict, repr=False)
    _norm_cache: dict = field(default_factory=dict, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    # --- statistics -----------------------------------------------------------------

    @property
    def avgdl(self) -> float:
        return self.total_length / self.n_docs if self.n_docs else 0.0

    def df(self, hashes: np.ndarray) -> np.ndarray:
        """Document frequency of each term hash (0 for terms not in the index)."""
        if not len(self.vocab_hash):
            return np.zeros(len(hashes), np.int64)
        i = np.searchsorted(self.vocab_hash, hashes)
        i[i == len(self.vocab_hash)] = 0
        return np.where(self.vocab_hash[i] == hashes, self.vocab_df[i], 0)

    def idf_floor(self, epsilon: float) -> float:
        key = (self.generation, epsilon)
        if key not in self._floor_cache:
            self._floor_cache.clear()
            self._floor_cache[key] = bm25.idf_floor(self.vocab_df, self.n_docs, epsilon)
        return self._floor_cache[key]

    def pids(self) -> np.ndarray:
        """Paragraph ids of every live document, ascending."""
        parts = [s.doc_pid[~s.deleted] for s in self.segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def max_pid(self) -> int:
        return max((int(s.doc_pid.max()) for s in self.segments if s.n_docs), default=0)

    # --- changes --------------------------------------------------------------------

    def add(self, pids: Sequence[int], token_lists: Sequence[Sequence[str]], merge: bool = True) -> None:
        """Index new documents. Their pids must be above every pid already indexed (the
        store's pids only grow), which keeps segments in pid order for merging.

        merge=False leaves the new segments unmerged: a caller adding many batches
        (a bulk load) calls merge_tail() once at the end, so every posting is copied
        once instead of once per batch."""
        if not len(pids):
            return
        if int(min(pids)) <= self.max_pid():
            raise ValueError("new paragraph ids must be above those already indexed")
        first_new = len(self.segments)
        for start in range(0, len(pids), SEGMENT_DOCS):
            segment = Segment.build(pids[start : start + SEGMENT_DOCS], token_lists[start : start + SEGMENT_DOCS])
            self.segments.append(segment)
            hashes, df = segment.live_df()
            self._update_df(hashes, df)
            self.n_docs += segment.n_docs
            self.total_length += int(segment.doc_len.sum(dtype=np.int64))
            if segment.n_docs >= RELEASE_MIN_DOCS:
                release_free_memory()
        self._changed()
        if merge:
            self.merge_tail(first_new)

    def merge_tail(self, first_new: int) -> None:
        """Merge the segments from segments[first_new] on (the ones just added) in one
        pass, with the older segments before them that are at most twice the size of
        what is merged so far: a binary counter that takes many new segments at once.
        Segment sizes stay roughly geometric, so every document is merged O(log N) times
        and there are O(log N) segments; a bulk load into an empty index ends as one."""
        start = min(max(first_new, 0), len(self.segments))
        size = sum(s.n_docs for s in self.segments[start:])
        if not size:
            return
        while start > 0 and self.segments[start - 1].n_docs <= 2 * size and size + self.segments[start - 1].n_docs <= MAX_MERGED_DOCS:
            start -= 1
            size += self.segments[start].n_docs
        groups: list[list[Segment]] = []
        for segment in self.segments[start:]:  # at most MAX_MERGED_DOCS in one
            if groups and sum(s.n_docs for s in groups[-1]) + segment.n_docs <= MAX_MERGED_DOCS:
                groups[-1].append(segment)
            else:
                groups.append([segment])
        if all(len(group) == 1 for group in groups):
            return
        self.segments[start:] = [merge(group) if len(group) > 1 else group[0] for group in groups]
        groups = segment = None  # type: ignore[assignment]  # the last references to the old segments: their memory is free now
        release_free_memory()
        self._changed()  # new segment objects: nothing cached for the old ones may match them

    def delete(self, pids: Sequence[int] | np.ndarray) -> int:
        """Mark the documents of these paragraph ids deleted; return how many were live."""
        pids = np.asarray(pids, dtype=np.int64)
        removed = 0
        for segment in self.segments:
            local = np.flatnonzero(np.isin(segment.doc_pid, pids) & ~segment.deleted)
            if not len(local):
                continue
            hashes, counts = np.unique(segment.terms_of(local), return_counts=True)
            self._update_df(hashes, -counts)
            segment.deleted = segment.deleted.copy()
            segment.deleted[local] = True
            self.n_docs -= len(local)
            self.total_length -= int(segment.doc_len[local].sum(dtype=np.int64))
            removed += len(local)
        if removed:
            self._changed()
        return removed

    def needs_merge(self) -> bool:
        total = sum(s.n_docs for s in self.segments)
        deleted = total - self.n_docs
        return len(self.segments) > MAX_SEGMENTS or bool(total and deleted / total > MAX_DELETED_FRACTION)

    def merge(self) -> None:
        """Rewrite the segments without their deleted documents, folding adjacent ones
        together up to MAX_MERGED_DOCS live documents (global statistics do not change)."""
        groups: list[list[Segment]] = []
        size = 0
        for segment in self.segments:
            live = segment.live_count()
            if groups and size + live <= MAX_MERGED_DOCS:
                groups[-1].append(segment)
                size += live
            else:
                groups.append([segment])
                size = live
        self.segments = [merge(group) for group in groups if sum(s.live_count() for s in group)]
        groups = segment = None  # type: ignore[assignment]  # the last references to the old segments: their memory is free now
        release_free_memory()
        self._changed()

    def _update_df(self, hashes: np.ndarray, delta: np.ndarray) -> None:
        all_hashes = np.concatenate([self.vocab_hash, hashes.astype(np.uint64)])
        all_df = np.concatenate([self.vocab_df, np.asarray(delta, dtype=np.int64)])
        merged, inverse = np.unique(all_hashes, return_inverse=True)
        df = np.bincount(inverse, weights=all_df, minlength=len(merged)).astype(np.int64)
        keep = df > 0
        self.vocab_hash, self.vocab_df = merged[keep], df[keep]

    def _changed(self) -> None:
        self.generation += 1
        self._floor_cache.clear()
        self._norm_cache.clear()

    # --- scoring --------------------------------------------------------------------

    def score(self, query_terms: Sequence[str], params: BM25Params = BM25Params()) -> tuple[np.ndarray, np.ndarray]:
        """(pids, scores) of every live document holding at least one query term.

        Query terms are counted with repeats, as rank_bm25 counts them. Only the
        postings of the query's terms are touched: the per-segment accumulator is kept
        between queries (zero at rest, per thread), so a query costs O(its postings),
        not O(documents).
        """
        if not self.n_docs or not query_terms:
            return np.zeros(0, np.int64), np.zeros(0)
        hashes, weights, _ = self._query_weights(query_terms, params)
        all_pids, all_scores = [], []
        for segment in self.segments:
            postings = [(w, p) for w, p in ((w, segment.postings(int(h))) for h, w in zip(hashes, weights)) if p]
            if not postings:
                continue
            norm = self._norms(segment, params)
            if len(postings) == 1:
                weight, (docs, tfs) = postings[0]
                scores = weight * bm25.term_weight(tfs, norm[docs], params)
            else:
                docs, scores = self._accumulate(segment, postings, norm, params)
            if segment.deleted.any():
                alive = ~segment.deleted[docs]
                docs, scores = docs[alive], scores[alive]
            all_pids.append(segment.doc_pid[docs])
            all_scores.append(scores)
        if not all_pids:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(all_pids), np.concatenate(all_scores)

    def _query_weights(self, query_terms: Sequence[str], params: BM25Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hashes of the distinct query terms the index holds (in term order), idf x repeat
        count of each, and their document frequencies."""
        repeats: dict[str, int] = {}
        for term in query_terms:
            repeats[term] = repeats.get(term, 0) + 1
        terms = sorted(repeats)
        hashes = hash_terms(terms)
        df = self.df(hashes)
        present = df > 0
        counts = np.fromiter((repeats[t] for t in terms), dtype=np.int64, count=len(terms))
        weights = bm25.floored_idf(df[present], self.n_docs, self.idf_floor(params.epsilon)) * counts[present]
        return hashes[present], weights, df[present]

    def _accumulate(self, segment: Segment, postings, norm: np.ndarray, params: BM25Params):
        """Sum the terms' contributions per document with a reusable dense accumulator."""
        acc, seen, _ = self._scratch(segment)
        touched = []
        for weight, (docs, tfs) in postings:
            acc[docs] += weight * bm25.term_weight(tfs, norm[docs], params)
            fresh = docs[seen[docs] == 0]
            seen[fresh] = 1
            touched.append(fresh)
        docs = np.concatenate(touched)
        scores = acc[docs]
        acc[docs] = 0.0  # back to rest for the next query
        seen[docs] = 0
        return docs, scores

    def _scratch(self, segment: Segment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's accumulator, per-document state (both zero at rest: the numpy path
        marks seen documents 1, the kernel uses kernels.PARTIAL/COMPLETE) and touched list
        for the segment."""
        store = self._local.__dict__.setdefault("buffers", {})
        entry = store.get(id(segment))
        if entry is None or entry[0] is not segment:
            if len(store) > 2 * MAX_SEGMENTS:  # segments replaced by merges
                store.clear()
            n = segment.n_docs
            entry = store[id(segment)] = (segment, np.zeros(n), np.zeros(n, dtype=np.uint8), np.empty(n, dtype=np.int32))
        return entry[1], entry[2], entry[3]

    def _norms(self, segment: Segment, params: BM25Params) -> np.ndarray:
        """k1 * (1 - b + b * dl / avgdl) for every document of the segment, cached until
        the index changes (avgdl changes with every add or remove)."""
        key = (id(segment), self.generation, params)
        cached = self._norm_cache.get(key)
        if cached is None:
            if len(self._norm_cache) > 4 * MAX_SEGMENTS:
                self._norm_cache.clear()
            cached = bm25.length_norm(segment.doc_len, self.avgdl, params)
            self._norm_cache[key] = cached
        return cached

    def _ratio_bound(self, segment: Segment, terms: np.ndarray, params: BM25Params) -> np.ndarray:
        """For the segment's terms `terms`, an upper bound of tf * (k1 + 1) / (tf + norm)
        over their postings: its value at the term's largest tf and shortest document
        (it grows with tf and shrinks with the length)."""
        max_tf = segment.term_max_tf[terms].astype(np.float64)
        shortest = bm25.length_norm(segment.term_min_dl[terms], self.avgdl, params)
        return max_tf * (params.k1 + 1) / (max_tf + shortest)

    def _ratio_max(self, segment: Segment, params: BM25Params) -> np.ndarray:
        """Per term of the segment, the largest tf * (k1 + 1) / (tf + norm) over its
        postings (-1 until a query has read them all; the compiled kernel fills it in),
        valid as long as the norms are: a tighter bound than _ratio_bound."""
        key = ("ratio_max", id(segment), self.generation, params)
        cached = self._norm_cache.get(key)
        if cached is None:
            if len(self._norm_cache) > 4 * MAX_SEGMENTS:
                self._norm_cache.clear()
            cached = self._norm_cache[key] = np.full(len(segment.term_hash), -1.0)
        return cached

    def _rarity(self, hashes: np.ndarray) -> np.ndarray:
        """Raw Okapi idf floored at 0, with the df = 0 idf (the rarest possible) for terms
        the index lacks: a question word the corpus has never seen weighs the most."""
        df = self.df(hashes)
        return np.where(df == 0, bm25.okapi_idf(0, self.n_docs), np.maximum(bm25.okapi_idf(df, self.n_docs), 0))

    def coverage(self, query_terms: Sequence[str], pid: int) -> float:
        """How much of the question the document holds: the idf-weighted share of the
        distinct query terms found in it (0..1). A term absent from the index weighs
        as much as the rarest possible term; negative idfs count as 0. Used by the
        no-answer rule."""
        terms = sorted(set(query_terms))
        if not terms or not self.n_docs:
            return 0.0
        hashes = hash_terms(terms)
        weight = self._rarity(hashes)
        held = np.zeros(len(terms), dtype=bool)
        for segment in self.segments:
            local = int(np.searchsorted(segment.doc_pid, pid))
            if local == segment.n_docs or segment.doc_pid[local] != pid:
                continue
            for i, h in enumerate(hashes):
                found = segment.postings(int(h))
                if found is not None:
                    docs = found[0]
                    j = int(np.searchsorted(docs, local))  # documents ascend within a term
                    held[i] = j < len(docs) and docs[j] == local
        total = float(weight.sum())
        if total == 0.0:
            return 1.0 if held.any() else 0.0
        return float(weight[held].sum()) / total

    def term_weights(self, query_terms: Sequence[str]) -> dict[str, float]:
        """The weight of each distinct query term as coverage() weighs it: its idf, floored
        at 0, the rarest possible for a term the index lacks (snippets use it)."""
        terms = sorted(set(query_terms))
        return dict(zip(terms, self._rarity(hash_terms(terms)).tolist())) if terms else {}

    def top(self, query_terms: Sequence[str], k: int, params: BM25Params = BM25Params()) -> list[tuple[int, float]]:
        """The k best (pid, score), by score descending, ties broken by smaller pid."""
        return self.search(query_terms, k, params)[0]

    def search(self, query_terms: Sequence[str], k: int, params: BM25Params = BM25Params()) -> tuple[list[tuple[int, float]], int]:
        """(the k best (pid, score), number of live documents matching any query term).

        The compiled path may skip postings that cannot change the top k; the number is
        then an upper bound, greater than k (enough for a caller deciding whether asking
        for more could return more)."""
        if k <= 0 or not self.n_docs or not query_terms:
            return [], 0
        if not kernels.ENABLED or self.n_docs < kernels.MIN_DOCS:
            pids, scores = self.score(query_terms, params)
            return top_k(pids, scores, k), len(pids)
        hashes, weights, df = self._query_weights(query_terms, params)
        if not len(hashes):
            return [], 0
        # Rarest terms first, in one order for every segment: the kernel's pruning works
        # best that way, and equal scores are summed in the same order everywhere.
        order = np.lexsort((hashes, df))
        hashes, weights = hashes[order], weights[order]
        best_pids, best_scores, matched = [], [], 0
        floor = -np.inf
        for segment in self.segments:
            place = np.searchsorted(segment.term_hash, hashes)
            place[place == len(segment.term_hash)] = 0
            held = segment.term_hash[place] == hashes if len(segment.term_hash) else np.zeros(len(hashes), bool)
            if not held.any():
                continue
            terms = place[held]
            docs, scores, n = kernels.top_k_segment(
                segment,
                float(params.k1),
                float(params.b),
                self.avgdl,
                self._ratio_bound(segment, terms, params),
                self._ratio_max(segment, params),
                terms,
                weights[held],
                self._scratch(segment),
                k,
                floor,
            )
            best_pids.append(segment.doc_pid[docs])
            best_scores.append(scores)
            matched += n
            if len(scores) == k:  # what the next segments' documents must reach
                floor = max(floor, float(scores[-1]))
        if not best_pids:
            return [], 0
        pids, scores = np.concatenate(best_pids), np.concatenate(best_scores)
        if len(pids) <= 64:  # the usual case: a few per segment, cheaper sorted in Python
            ranked = sorted(zip(scores.tolist(), pids.tolist()), key=lambda e: (-e[0], e[1]))[:k]
            return [(pid, score) for score, pid in ranked], matched
        return top_k(pids, scores, k), matched

    def warm_up(self) -> None:
        """Load the compiled scorer now (compiling it on the very first run, a few
        seconds), so that a long-lived process's first question does not wait for it."""
        if not kernels.ENABLED or self.n_docs < kernels.MIN_DOCS:
            return
        for segment in self.segments[:1]:  # an empty question, with the real array types
            kernels.top_k_segment(
                segment,
                1.0,
                0.5,
                max(self.avgdl, 1.0),
                np.zeros(0),
                self._ratio_max(segment, BM25Params()),
                np.zeros(0, dtype=np.int64),
                np.zeros(0),
                self._scratch(segment),
                1,
            )

    # --- persistence ----------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the index; unchanged segments are not rewritten. Callers hold a lock."""
        directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for i, segment in enumerate(self.segments):
            if segment.name is None or not (directory / segment.name).is_dir():
                segment.name = f"seg-{self.generation:06d}-{i:03d}"
                segment.save(directory / segment.name)
            deleted = None
            if segment.deleted.any():
                deleted = f"{segment.name}.deleted-{self.generation:06d}.npy"
                segment.save_deleted(directory / deleted)
            entries.append({"name": segment.name, "deleted": deleted, "docs": segment.n_docs})
        np.save(directory / f"vocab_hash-{self.generation:06d}.npy", self.vocab_hash, allow_pickle=False)
        np.save(directory / f"vocab_df-{self.generation:06d}.npy", self.vocab_df, allow_pickle=False)
        new_manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "generation": self.generation,
            "n_docs": self.n_docs,
            "total_length": self.total_length,
            "segments": entries,
        }
        tmp = directory / "manifest.json.tmp"
        tmp.write_text(json.dumps(new_manifest, indent=1))
        os.replace(tmp, directory / "manifest.json")
        _remove_unreferenced(directory, new_manifest)

    @classmethod
    def load(cls, directory: Path) -> Index:
        manifest = _read_manifest(directory)
        gen = manifest["generation"]
        try:
            segments = [
                Segment.load(directory / e["name"], directory / e["deleted"] if e["deleted"] else None) for e in manifest["segments"]
            ]
            index = cls(
                fingerprint=manifest["fingerprint"],
                segments=segments,
                vocab_hash=np.load(directory / f"vocab_hash-{gen:06d}.npy", allow_pickle=False),
                vocab_df=np.load(directory / f"vocab_df-{gen:06d}.npy", allow_pickle=False),
                n_docs=manifest["n_docs"],
                total_length=manifest["total_length"],
                generation=gen,
            )
        except (OSError, ValueError, KeyError) as exc:
            raise IndexFormatError(f"index at {directory} is damaged ({exc})") from None
        return index


def top_k(pids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k by score descending, then pid ascending, without sorting every score."""
    if k <= 0 or not len(pids):
        return []
    if len(pids) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth  # all ties with the k-th score, so the pid tie-break is exact
        pids, scores = pids[keep], scores[keep]
    order = np.lexsort((pids, -scores))[:k]
    return [(int(pids[i]), float(scores[i])) for i in order]


def highest_generation(directory: Path) -> int:
    """The highest generation any file in the index directory is named after (0 if none)."""
    highest = 0
    if directory.is_dir():
        for path in directory.iterdir():
            for match in re.finditer(r"(?:seg-|-|deleted-)(\d{6})", path.name):
                highest = max(highest, int(match.group(1)))
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # no manifest, or a damaged one
            highest = max(highest, int(json.loads((directory / "manifest.json").read_text())["generation"]))
    return highest


def _read_manifest(directory: Path) -> dict:
    try:
        data = json.loads((directory / "manifest.json").read_text())
    except OSError as exc:
        raise IndexFormatError(f"no index at {directory} ({exc.strerror})") from None
    except ValueError:
        raise IndexFormatError(f"index manifest at {directory} is not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise IndexFormatError(f"{directory} does not hold an articlebot index")
    if data.get("version") != FORMAT_VERSION:
        raise IndexFormatError(f"index at {directory} has format version {data.get('version')}, this articlebot reads {FORMAT_VERSION}")
    return data


def _remove_unreferenced(directory: Path, manifest: dict) -> None:
    """Delete files of older generations that the new manifest no longer names."""
    gen = manifest["generation"]
    keep = {"manifest.json", f"vocab_hash-{gen:06d}.npy", f"vocab_df-{gen:06d}.npy"}
    for entry in manifest["segments"]:
        keep.add(entry["name"])
        if entry["deleted"]:
            keep.add(entry["deleted"])
    for path in directory.iterdir():
        if path.name not in keep and path.name != ".lock":
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
