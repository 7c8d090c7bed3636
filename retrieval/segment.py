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

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ARRAYS = ("term_hash", "post_ptr", "post_doc", "post_tf", "doc_pid", "doc_len")


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def hash_terms(terms: Iterable[str]) -> np.ndarray:
    return np.fromiter((term_hash(t) for t in terms), dtype=np.uint64)


class HashCollision(RuntimeError):
    pass


@dataclass
class Segment:
    term_hash: np.ndarray  # uint64[V], sorted
    post_ptr: np.ndarray  # int64[V+1]: postings of term i are [post_ptr[i], post_ptr[i+1])
    post_doc: np.ndarray  # int32[P]: local document number, ascending within a term
    post_tf: np.ndarray  # int32[P]
    doc_pid: np.ndarray  # int64[D]: paragraph id of each local document
    doc_len: np.ndarray  # int32[D]: number of tokens
    deleted: np.ndarray  # bool[D]
    name: str | None = None  # directory name once saved

    @classmethod
    def build(cls, pids: Sequence[int], token_lists: Sequence[Sequence[str]]) -> "Segment":
        vocab: dict[str, int] = {}
        doc_of: list[int] = []
        term_of: list[int] = []
        tf_of: list[int] = []
        for doc, tokens in enumerate(token_lists):
            for term, tf in Counter(tokens).items():
                term_of.append(vocab.setdefault(term, len(vocab)))
                doc_of.append(doc)
                tf_of.append(tf)
        hashes = hash_terms(vocab)
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        if len(sorted_hashes) > 1 and (sorted_hashes[1:] == sorted_hashes[:-1]).any():
            raise HashCollision("two distinct terms share a 64-bit hash")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        term_rank = rank[np.asarray(term_of, dtype=np.int64)] if term_of else np.zeros(0, np.int64)
        by_term = np.argsort(term_rank, kind="stable")  # documents stay ascending within a term
        counts = np.bincount(term_rank, minlength=len(vocab))
        post_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(counts, out=post_ptr[1:])
        return cls(
            term_hash=sorted_hashes,
            post_ptr=post_ptr,
            post_doc=np.asarray(doc_of, dtype=np.int32)[by_term],
            post_tf=np.asarray(tf_of, dtype=np.int32)[by_term],
            doc_pid=np.asarray(pids, dtype=np.int64),
            doc_len=np.fromiter((len(t) for t in token_lists), dtype=np.int32, count=len(token_lists)),
            deleted=np.zeros(len(token_lists), dtype=bool),
        )

    @property
    def n_docs(self) -> int:
        return len(self.doc_pid)

    def live_count(self) -> int:
        return int(self.n_docs - self.deleted.sum())

    def live_length(self) -> int:
        return int(self.doc_len[~self.deleted].sum(dtype=np.int64))

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

    def live_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term hash, pid, tf) of every posting of a live document, for merging segments."""
        term_of_posting = np.repeat(np.arange(len(self.term_hash)), np.diff(self.post_ptr))
        alive = ~self.deleted[self.post_doc]
        return (
            self.term_hash[term_of_posting[alive]],
            self.doc_pid[self.post_doc[alive]],
            self.post_tf[alive],
        )

    # --- persistence ---------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)

    def save_deleted(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, self.deleted, allow_pickle=False)
        tmp.replace(path)

    @classmethod
    def load(cls, directory: Path, deleted_file: Path | None) -> "Segment":
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
        n_docs = len(arrays["doc_pid"])
        if deleted_file is not None:
            deleted = np.array(np.load(deleted_file, allow_pickle=False), dtype=bool)
        else:
            deleted = np.zeros(n_docs, dtype=bool)
        if len(deleted) != n_docs or len(arrays["post_ptr"]) != len(arrays["term_hash"]) + 1:
            raise ValueError(f"inconsistent segment files in {directory}")
        return cls(deleted=deleted, name=directory.name, **arrays)


def merge(segments: Sequence[Segment]) -> Segment:
    """One segment holding the live documents of all `segments`, in pid order."""
    parts = [s.live_postings() for s in segments]
    hashes = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    pids = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    tfs = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int32)
    live = [(s.doc_pid[~s.deleted], s.doc_len[~s.deleted]) for s in segments]
    doc_pid = np.concatenate([p for p, _ in live]) if live else np.zeros(0, np.int64)
    doc_len = np.concatenate([n for _, n in live]) if live else np.zeros(0, np.int32)
    doc_order = np.argsort(doc_pid, kind="stable")
    doc_pid, doc_len = doc_pid[doc_order], doc_len[doc_order]
    local = np.searchsorted(doc_pid, pids)
    order = np.lexsort((local, hashes))
    hashes, local, tfs = hashes[order], local[order], tfs[order]
    term_hash, first = np.unique(hashes, return_index=True)
    post_ptr = np.append(first, len(hashes)).astype(np.int64)
    return Segment(
        term_hash=term_hash.astype(np.uint64),
        post_ptr=post_ptr,
        post_doc=local.astype(np.int32),
        post_tf=tfs.astype(np.int32),
        doc_pid=doc_pid.astype(np.int64),
        doc_len=doc_len.astype(np.int32),
        deleted=np.zeros(len(doc_pid), dtype=bool),
    )
