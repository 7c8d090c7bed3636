"""An immutable inverted-index segment: term -> postings (document, term frequency).

Terms are identified by a 64-bit BLAKE2b hash of their UTF-8 form, kept sorted, so a
segment is nothing but flat numpy arrays: it is saved as .npy files and opened with
memory mapping, without building any Python object per term (that is what makes a
large index open in milliseconds). A collision between two of the index's terms is
detected when a segment is built; a query token colliding with an indexed term it is
not has a probability of about 1e-13 at a million terms.

Only the `deleted` mask changes after a segment is built (removing articles).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

_malloc_trim: Callable[[int], int] | None
try:  # glibc's malloc_trim, to hand freed heap memory back to the OS (Linux)
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def release_free_memory() -> None:
    """Return the memory freed by a build's or a merge's temporary arrays to the OS.

    glibc keeps freed heap memory for reuse, and after large arrays are freed it raises
    its mmap threshold, so later arrays up to 32 MB come from the heap too: building a
    million documents then held about 400 MB more than the index itself at its peak.
    Elsewhere (other C libraries, other systems) this does nothing."""
    if _malloc_trim is not None:
        _malloc_trim(0)


ARRAYS = ("term_hash", "post_ptr", "post_doc", "post_tf", "doc_pid", "doc_len", "term_max_tf", "term_min_dl")


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def hash_terms(terms: Iterable[str]) -> np.ndarray:
    return np.fromiter((term_hash(t) for t in terms), dtype=np.uint64)


def term_stats(post_ptr: np.ndarray, post_doc: np.ndarray, post_tf: np.ndarray, doc_len: np.ndarray) -> dict:
    """term_max_tf and term_min_dl of a segment's postings (every term has at least one)."""
    if len(post_ptr) <= 1:
        return {"term_max_tf": np.zeros(0, np.int32), "term_min_dl": np.zeros(0, np.int32)}
    starts = post_ptr[:-1]
    return {
        "term_max_tf": np.maximum.reduceat(post_tf, starts).astype(np.int32),
        "term_min_dl": np.minimum.reduceat(doc_len[post_doc], starts).astype(np.int32),
    }


def tf_array(tf: np.ndarray) -> np.ndarray:
    """Term frequencies in 2 bytes each (a paragraph repeats a word far fewer than 65535
    times), in 4 when some frequency does not fit: postings are 6 bytes, not 8."""
    if not len(tf) or int(tf.max()) <= np.iinfo(np.uint16).max:
        return tf.astype(np.uint16)
    return np.minimum(tf, np.iinfo(np.int32).max).astype(np.int32)


class HashCollision(RuntimeError):
    pass


@dataclass
class Segment:
    term_hash: np.ndarray  # uint64[V], sorted
    post_ptr: np.ndarray  # int64[V+1]: postings of term i are [post_ptr[i], post_ptr[i+1])
    post_doc: np.ndarray  # int32[P]: local document number, ascending within a term
    post_tf: np.ndarray  # uint16[P], or int32[P] when a frequency exceeds 65535 (tf_array)
    doc_pid: np.ndarray  # int64[D]: paragraph id of each local document
    doc_len: np.ndarray  # int32[D]: number of tokens
    # Per term, the largest frequency and the shortest document among its postings: with
    # them, the most a term can add to a score is known before reading its postings.
    term_max_tf: np.ndarray  # int32[V]
    term_min_dl: np.ndarray  # int32[V]
    deleted: np.ndarray  # bool[D]
    name: str | None = None  # directory name once saved

    @classmethod
    def build(cls, pids: Sequence[int], token_lists: Sequence[Sequence[str]]) -> Segment:
        """Invert a batch of tokenized documents (vectorised: one dictionary lookup per
        token in Python, the grouping and counting in numpy)."""
        doc_len = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        flat = list(chain.from_iterable(token_lists))
        vocab = {term: i for i, term in enumerate(dict.fromkeys(flat))}  # C loops, not Python ones
        term_ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int32, count=len(flat))
        del flat
        hashes = hash_terms(vocab)
        order = np.argsort(hashes)
        sorted_hashes = hashes[order]
        if len(sorted_hashes) > 1 and (sorted_hashes[1:] == sorted_hashes[:-1]).any():
            raise HashCollision("two distinct terms share a 64-bit hash")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        n_docs = len(token_lists)
        # one key per token: (term rank, document); sorting groups a term's postings with
        # documents ascending, and runs of equal keys are the term frequencies. (Operations
        # in place, arrays freed early: this is the peak of a build's memory.)
        keys = rank[term_ids]
        del term_ids
        keys *= max(n_docs, 1)
        keys += np.repeat(np.arange(n_docs, dtype=np.int64), doc_len)
        keys.sort()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
        tf = np.diff(starts, append=len(keys))
        unique_keys = keys[starts]
        del keys, starts
        post_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(unique_keys // max(n_docs, 1), minlength=len(vocab)), out=post_ptr[1:])
        unique_keys %= max(n_docs, 1)
        post_doc = unique_keys.astype(np.int32)
        del unique_keys
        doc_len = doc_len.astype(np.int32)
        return cls(
            term_hash=sorted_hashes,
            post_ptr=post_ptr,
            post_doc=post_doc,
            post_tf=tf_array(tf),
            doc_pid=np.asarray(pids, dtype=np.int64),
            doc_len=doc_len,
            **term_stats(post_ptr, post_doc, tf, doc_len),
            deleted=np.zeros(n_docs, dtype=bool),
        )

    @property
    def n_docs(self) -> int:
        return len(self.doc_pid)

    def live_count(self) -> int:
        return int(self.n_docs - self.deleted.sum())

    def postings(self, h: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(local docs, tfs) of the term with hash h, deleted documents included."""
        i = int(np.searchsorted(self.term_hash, np.uint64(h)))
        if i == len(self.term_hash) or self.term_hash[i] != h:
            return None
        lo, hi = self.post_ptr[i], self.post_ptr[i + 1]
        return self.post_doc[lo:hi], self.post_tf[lo:hi]

    def live_df(self) -> tuple[np.ndarray, np.ndarray]:
        """(term hashes, number of live documents holding each term), terms with df 0 left out."""
        df = np.diff(self.post_ptr)
        if self.deleted.any():
            dead = self.deleted[self.post_doc]
            term_of_posting = np.repeat(np.arange(len(self.term_hash)), df)
            df = df - np.bincount(term_of_posting[dead], minlength=len(self.term_hash))
        keep = df > 0
        return self.term_hash[keep], df[keep]

    def terms_of(self, local_docs: np.ndarray) -> np.ndarray:
        """Hashes of the terms of the given documents, one entry per (document, term)."""
        hit = np.isin(self.post_doc, local_docs)
        term_of_posting = np.repeat(np.arange(len(self.term_hash)), np.diff(self.post_ptr))
        return self.term_hash[term_of_posting[hit]]

    # --- persistence ---------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the arrays into a fresh directory, renamed into place when complete:
        files another process has memory-mapped are never written over."""
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name), allow_pickle=False)
        if directory.exists():  # a leftover of a crashed save, which no manifest names
            shutil.rmtree(directory)
        tmp.rename(directory)

    def save_deleted(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, self.deleted, allow_pickle=False)
        tmp.replace(path)

    @classmethod
    def load(cls, directory: Path, deleted_file: Path | None) -> Segment:
        # Memory-mapped, then viewed as plain ndarrays: numpy.memmap's slicing goes through
        # Python-level hooks that cost more than the postings work on small queries.
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray) for name in ARRAYS}
        n_docs = len(arrays["doc_pid"])
        if deleted_file is not None:
            deleted = np.array(np.load(deleted_file, allow_pickle=False), dtype=bool)
        else:
            deleted = np.zeros(n_docs, dtype=bool)
        n_terms = len(arrays["term_hash"])
        if (
            len(deleted) != n_docs
            or len(arrays["post_ptr"]) != n_terms + 1
            or len(arrays["term_max_tf"]) != n_terms
            or len(arrays["term_min_dl"]) != n_terms
            or arrays["post_tf"].dtype not in (np.uint16, np.int32)
        ):
            raise ValueError(f"inconsistent segment files in {directory}")
        return cls(deleted=deleted, name=directory.name, **arrays)


def merge(segments: Sequence[Segment]) -> Segment:
    """One segment holding the live documents of `segments`, which must be given in
    pid order with pid ranges that do not interleave (as Index keeps them).

    A k-way merge by concatenation: the merged vocabulary is the union of the sorted
    term hashes, and each segment's postings of a term are copied after those of the
    segments before it, so documents stay ascending within every term. No sort of the
    postings is needed. Big merges run compiled, with no memory beyond the output.
    """
    from articlebot.retrieval import kernels

    if kernels.ENABLED and sum(len(s.post_doc) for s in segments) >= kernels.MERGE_MIN_POSTINGS:
        return _merge_compiled(segments)
    vocab = np.unique(np.concatenate([s.term_hash for s in segments])) if segments else np.zeros(0, np.uint64)
    live_docs = [np.flatnonzero(~s.deleted) for s in segments]
    doc_offset = np.cumsum([0] + [len(d) for d in live_docs])
    plans = []
    counts = np.zeros(len(vocab), dtype=np.int64)
    for segment in segments:
        position = np.searchsorted(vocab, segment.term_hash)  # each term's place in the union
        new_local = np.cumsum(~segment.deleted) - 1  # local doc number among live docs
        alive = ~segment.deleted[segment.post_doc]
        term_of_posting = np.repeat(np.arange(len(segment.term_hash)), np.diff(segment.post_ptr))
        live_terms = position[term_of_posting[alive]]
        plans.append((segment, alive, live_terms, new_local))
        counts += np.bincount(live_terms, minlength=len(vocab))
    post_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(counts, out=post_ptr[1:])
    written = np.zeros(len(vocab), dtype=np.int64)
    post_doc = np.empty(post_ptr[-1], dtype=np.int32)
    post_tf = np.empty(post_ptr[-1], dtype=np.result_type(np.uint16, *[s.post_tf.dtype for s in segments]))
    for i, (segment, alive, live_terms, new_local) in enumerate(plans):
        if len(live_terms):
            # rank of each posting within its term's run (postings are grouped by term)
            run_start = np.flatnonzero(np.r_[True, live_terms[1:] != live_terms[:-1]])
            run_len = np.diff(np.r_[run_start, len(live_terms)])
            within = np.arange(len(live_terms)) - np.repeat(run_start, run_len)
            dest = post_ptr[live_terms] + written[live_terms] + within
            post_doc[dest] = new_local[segment.post_doc[alive]] + doc_offset[i]
            post_tf[dest] = segment.post_tf[alive]
            written[live_terms[run_start]] += run_len
    keep = counts > 0
    if not keep.all():  # terms whose documents were all deleted
        post_ptr = np.r_[0, np.cumsum(counts[keep])].astype(np.int64)
        vocab = vocab[keep]
    doc_len = (np.concatenate([s.doc_len[d] for s, d in zip(segments, live_docs)]).astype(np.int32)
               if segments else np.zeros(0, np.int32))  # fmt: skip
    return Segment(
        term_hash=vocab.astype(np.uint64),
        post_ptr=post_ptr,
        post_doc=post_doc,
        post_tf=post_tf,
        doc_pid=np.concatenate([s.doc_pid[d] for s, d in zip(segments, live_docs)]).astype(np.int64) if segments else np.zeros(0, np.int64),
        doc_len=doc_len,
        **term_stats(post_ptr, post_doc, post_tf, doc_len),
        deleted=np.zeros(int(doc_offset[-1]), dtype=bool),
    )


def _merge_compiled(segments: Sequence[Segment]) -> Segment:
    """merge() with the postings copied by compiled loops (two passes: count, copy)."""
    from articlebot.retrieval.kernels import merge_kernels

    count_live, copy_live = merge_kernels()
    vocab = np.unique(np.concatenate([s.term_hash for s in segments]))
    positions = [np.searchsorted(vocab, s.term_hash) for s in segments]
    counts = np.zeros(len(vocab), dtype=np.int64)
    for segment, position in zip(segments, positions):
        count_live(segment.post_ptr, segment.post_doc, segment.deleted, position, bool(segment.deleted.any()), counts)
    keep = counts > 0  # terms whose documents were all deleted go
    vocab, counts = vocab[keep], counts[keep]
    new_position = np.cumsum(keep) - 1
    post_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(counts, out=post_ptr[1:])
    del counts
    post_doc = np.empty(post_ptr[-1], dtype=np.int32)
    post_tf = np.empty(post_ptr[-1], dtype=np.result_type(np.uint16, *[s.post_tf.dtype for s in segments]))
    written = np.zeros(len(vocab), dtype=np.int64)
    term_max_tf = np.zeros(len(vocab), dtype=np.int32)
    term_min_dl = np.full(len(vocab), np.iinfo(np.int32).max, dtype=np.int32)
    offset = 0
    for segment, position in zip(segments, positions):
        live = ~segment.deleted
        new_doc = (np.cumsum(live, dtype=np.int64) - 1 + offset).astype(np.int32)
        copy_live(segment.post_ptr, segment.post_doc, segment.post_tf, segment.doc_len, segment.deleted,
                  new_position[position], new_doc, post_ptr, written, post_doc, post_tf, term_max_tf, term_min_dl)  # fmt: skip
        offset += int(live.sum())
    return Segment(
        term_hash=vocab.astype(np.uint64),
        post_ptr=post_ptr,
        post_doc=post_doc,
        post_tf=post_tf,
        doc_pid=np.concatenate([s.doc_pid[~s.deleted] for s in segments]).astype(np.int64),
        doc_len=np.concatenate([s.doc_len[~s.deleted] for s in segments]).astype(np.int32),
        term_max_tf=term_max_tf,
        term_min_dl=term_min_dl,
        deleted=np.zeros(offset, dtype=bool),
    )
