"""The scoring inner loop, compiled with numba when it is installed.

One pass over the query terms' postings accumulates BM25 contributions in a dense
per-segment accumulator (zero at rest), records which documents were touched, then
reads them back, resets the accumulator and keeps the k best by (score descending,
document ascending) with a small insertion list. The arithmetic is the same,
operation for operation, as retrieval/bm25.py, so scores are identical to the numpy
path and to rank_bm25 (tests run both paths).

numba compiles the function on first use and caches the machine code on disk
(numba's own cache: __pycache__ beside this file, else the user cache directory), so
later processes load it in milliseconds.
"""

from __future__ import annotations

import numpy as np

import importlib.util

# The compiled path is used when numba is installed and the index is large enough for it
# to pay: below MIN_DOCS the numpy path is well under a millisecond and a process (a
# one-off `articlebot search`) does not pay numba's import and first-call cost.
ENABLED = importlib.util.find_spec("numba") is not None
MIN_DOCS = 200_000
_compiled = None  # the jitted _top_k_segment, built on first use


def _top_k_segment(post_ptr, post_doc, post_tf, norm, term_idx, weights, k1p1, deleted, acc, seen, touched, k, top_doc, top_score):
    """Score one segment; fill top_doc/top_score (length k); return (matched, kept)."""
    n_touched = 0
    for j in range(len(term_idx)):
        t = term_idx[j]
        w = weights[j]
        for i in range(post_ptr[t], post_ptr[t + 1]):
            d = post_doc[i]
            tf = np.float64(post_tf[i])
            acc[d] += w * (tf * k1p1 / (tf + norm[d]))
            if not seen[d]:
                seen[d] = True
                touched[n_touched] = d
                n_touched += 1
    matched = 0
    kept = 0
    for i in range(n_touched):
        d = touched[i]
        s = acc[d]
        acc[d] = 0.0
        seen[d] = False
        if deleted[d]:
            continue
        matched += 1
        if kept == k:
            last_s = top_score[k - 1]
            if s < last_s or (s == last_s and d > top_doc[k - 1]):
                continue
            pos = k - 1
        else:
            pos = kept
            kept += 1
        # insertion into the sorted list (best first)
        while pos > 0 and (s > top_score[pos - 1] or (s == top_score[pos - 1] and d < top_doc[pos - 1])):
            top_score[pos] = top_score[pos - 1]
            top_doc[pos] = top_doc[pos - 1]
            pos -= 1
        top_score[pos] = s
        top_doc[pos] = d
    return matched, kept


def _kernel():
    global _compiled
    if _compiled is None:
        import numba

        _compiled = numba.njit(cache=True, nogil=True)(_top_k_segment)
    return _compiled


def top_k_segment(segment, norm, term_idx, weights, k1, scratch, k):
    """(local docs, scores, number of matched live documents) of one segment's best k."""
    acc, seen, touched = scratch
    top_doc = np.empty(k, dtype=np.int64)
    top_score = np.empty(k, dtype=np.float64)
    matched, kept = _kernel()(
        segment.post_ptr, segment.post_doc, segment.post_tf, norm, term_idx, weights,
        k1 + 1.0, segment.deleted, acc, seen, touched, k, top_doc, top_score,
    )
    return top_doc[:kept], top_score[:kept], matched
