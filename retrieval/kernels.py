"""The scoring inner loop, compiled with numba when it is installed.

Max-score pruning over one segment. The query's terms come rarest first, in the same
order for every segment (so equal scores are summed in the same order and stay
bit-identical everywhere). The most term j can add to a score is its weight x an upper
bound of its saturated tf, tf * (k1 + 1) / (tf + norm): the caller's `ratio_bound` (from
the term's largest frequency and shortest document), or the exact maximum `ratio_max`
once a walk of its postings has recorded it. rest[j] sums these for terms j.., and the
k-th best score found so far (or the earlier segments' k-th best, `floor`) is theta.

1. Rare terms: a document met for the first time gets its complete score at once, the
   later terms being found by galloping search in their postings, unless its first
   contribution plus rest[j + 1] stays below theta.
2. Common terms (when lookups would cost more than walking): partial scores are
   accumulated in a dense per-segment accumulator.
3. As soon as theta exceeds rest[j], no document not met yet can enter the top k: the
   remaining postings are not walked; the remaining terms are added only to the partial
   documents that can still reach theta (by lookups when they are few).
4. The partial documents are read back into the insertion list of the k best, ordered
   by (score descending, document ascending), and the accumulator reset.

A document left out provably scores below k others, so the result is the exhaustive
one. The arithmetic per posting is the same, operation for operation, as
retrieval/bm25.py, so scores equal the numpy path's and rank_bm25's to rounding
(tests run both paths, and the kernel against exhaustive scoring).

numba compiles the function on first use and caches the machine code on disk (numba's
own cache: __pycache__ beside this file, else the user cache directory), so later
processes load it in milliseconds.
"""

from __future__ import annotations

import importlib.util

import numpy as np

# The compiled path is used when numba is installed and the index is large enough for it
# to pay: below MIN_DOCS the numpy path answers in about 0.1 ms, and a one-off process
# (`articlebot search` over a small store) does not pay numba's import (about 0.25 s).
ENABLED = importlib.util.find_spec("numba") is not None
MIN_DOCS = 20_000
# Bounds are compared with this relative margin, far above the rounding of a sum of
# a few thousand float64 terms, so pruning decisions are safe from rounding.
SLACK = 1.0 + 1e-9
# A galloping lookup costs about this many postings walked (measured: 4-8); rare terms
# complete their documents by lookups, common ones are accumulated.
LOOKUP_COST = 6
_compiled = None  # the jitted _top_k_segment, built on first use


def _kth_best(acc, docs, n, deleted, k, buf):
    """The k-th best of acc[docs[:n]] over live documents; -inf if there are fewer."""
    kept = 0
    for i in range(n):
        d = docs[i]
        if deleted[d]:
            continue
        s = acc[d]
        if kept == k:
            if s <= buf[k - 1]:
                continue
            pos = k - 1
        else:
            pos = kept
            kept += 1
        while pos > 0 and s > buf[pos - 1]:
            buf[pos] = buf[pos - 1]
            pos -= 1
        buf[pos] = s
    return buf[k - 1] if kept == k else -np.inf


def _find(post_doc, pos, end, d):
    """The first position >= pos in post_doc[:end] holding a document >= d (galloping)."""
    if pos >= end or post_doc[pos] >= d:
        return pos
    prev = pos  # post_doc[prev] < d; the answer lies in (prev, min(cur, end)]
    step = 1
    cur = pos + 1
    while cur < end and post_doc[cur] < d:
        prev = cur
        step *= 2
        cur = prev + step
    lo = prev + 1
    hi = min(cur, end)
    while lo < hi:
        mid = (lo + hi) >> 1
        if post_doc[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _insert(top_doc, top_score, kept, k, d, s):
    """Insert (d, s) into the best-first list of `kept` entries; return the new count."""
    if kept == k:
        if s < top_score[k - 1] or (s == top_score[k - 1] and d > top_doc[k - 1]):
            return kept
        pos = k - 1
    else:
        pos = kept
        kept += 1
    while pos > 0 and (s > top_score[pos - 1] or (s == top_score[pos - 1] and d < top_doc[pos - 1])):
        top_score[pos] = top_score[pos - 1]
        top_doc[pos] = top_doc[pos - 1]
        pos -= 1
    top_score[pos] = s
    top_doc[pos] = d
    return kept


UNSEEN, PARTIAL, COMPLETE, CANDIDATE = 0, 1, 2, 3


def _norm(dl, k1, one_minus_b, b, avgdl):
    """k1 * (1 - b + b * dl / avgdl), operation for operation as bm25.length_norm computes
    it (so bit-identical): computed per posting from the 4-byte document length rather
    than read from an 8-byte-per-document array, it halves the random memory reads."""
    return k1 * (one_minus_b + (b * np.float64(dl)) / avgdl)


def _top_k_segment(
    post_ptr,
    post_doc,
    post_tf,
    doc_len,
    k1,
    b,
    avgdl,
    term_idx,
    weights,
    ratio_bound,
    ratio_max,
    k1p1,
    deleted,
    acc,
    state,
    touched,
    k,
    top_doc,
    top_score,
    buf,
    floor,
):
    """Score one segment; fill top_doc/top_score (length k); return (matched, kept).

    ratio_bound[j]: an upper bound of term j's saturated tf in this segment (from its
    largest frequency and shortest document), tightened by ratio_max once known.
    floor: the k-th best score of the segments searched before (-inf for the first):
    a document scoring below it cannot enter the overall top k, so it prunes too.
    matched is the number of live documents holding a query term, or, when postings
    were skipped, an upper bound on it (then greater than k)."""
    one_minus_b = 1.0 - b
    n_terms = len(term_idx)
    # rest[j]: the most terms j.. can add to a score; rest_postings[j]: their postings
    rest = np.zeros(n_terms + 1)
    rest_postings = np.zeros(n_terms + 1, dtype=np.int64)
    can_prune = True
    for j in range(n_terms - 1, -1, -1):
        t = term_idx[j]
        w = weights[j]
        if w < 0:  # a negative weight: partial scores are no lower bounds
            can_prune = False
        r = ratio_max[t]
        rest[j] = rest[j + 1] + w * (min(r, ratio_bound[j]) if r >= 0 else ratio_bound[j])
        rest_postings[j] = rest_postings[j + 1] + post_ptr[t + 1] - post_ptr[t]
    if not can_prune:
        rest[:] = np.inf
    cursor = np.empty(n_terms, dtype=np.int64)
    n_touched = 0
    matched = 0
    kept = 0
    j = 0
    stop = False

    # 1. Rare terms: a new document is completed at once by looking up the later terms.
    while j < n_terms and can_prune:
        if max(floor, top_score[k - 1] if kept == k else -np.inf) > rest[j] * SLACK:
            stop = True
            break
        t = term_idx[j]
        n_postings = post_ptr[t + 1] - post_ptr[t]
        if n_postings * (n_terms - j - 1) * LOOKUP_COST > rest_postings[j + 1]:
            break  # cheaper to accumulate the rest
        w = weights[j]
        for jj in range(j + 1, n_terms):
            cursor[jj] = post_ptr[term_idx[jj]]
        later = rest[j + 1] * SLACK
        best_ratio = 0.0
        for i in range(post_ptr[t], post_ptr[t + 1]):
            d = post_doc[i]
            tf = np.float64(post_tf[i])
            ratio = tf * k1p1 / (tf + _norm(doc_len[d], k1, one_minus_b, b, avgdl))
            best_ratio = max(best_ratio, ratio)
            if state[d] != UNSEEN:
                continue  # complete already
            state[d] = COMPLETE
            touched[n_touched] = d
            n_touched += 1
            if deleted[d]:
                continue
            matched += 1
            s = w * ratio
            if s + later < max(floor, top_score[k - 1] if kept == k else -np.inf):
                continue  # cannot reach the top k, whatever the later terms hold
            for jj in range(j + 1, n_terms):
                u = term_idx[jj]
                pos = cursor[jj] = _find(post_doc, cursor[jj], post_ptr[u + 1], d)
                if pos < post_ptr[u + 1] and post_doc[pos] == d:
                    tf = np.float64(post_tf[pos])
                    s += weights[jj] * (tf * k1p1 / (tf + _norm(doc_len[d], k1, one_minus_b, b, avgdl)))
            if kept == k and (s < top_score[k - 1] or (s == top_score[k - 1] and d > top_doc[k - 1])):
                continue  # (checked here too: the call below is not inlined)
            kept = _insert(top_doc, top_score, kept, k, d, s)
        ratio_max[t] = best_ratio
        j += 1

    # 2. Common terms: accumulate partial scores of the documents not complete yet.
    n_partial_start = n_touched
    while j < n_terms and not stop:
        if can_prune:
            theta = max(floor, top_score[k - 1] if kept == k else -np.inf)
            if rest_postings[j] > 2 * (n_touched - n_partial_start):
                theta = max(theta, _kth_best(acc, touched[n_partial_start:], n_touched - n_partial_start, deleted, k, buf))
            if theta > rest[j] * SLACK:
                stop = True
                break
        t = term_idx[j]
        w = weights[j]
        best_ratio = 0.0
        for i in range(post_ptr[t], post_ptr[t + 1]):
            d = post_doc[i]
            tf = np.float64(post_tf[i])
            ratio = tf * k1p1 / (tf + _norm(doc_len[d], k1, one_minus_b, b, avgdl))
            best_ratio = max(best_ratio, ratio)
            if state[d] == UNSEEN:
                state[d] = PARTIAL
                touched[n_touched] = d
                n_touched += 1
            elif state[d] == COMPLETE:
                continue
            acc[d] += w * ratio
        ratio_max[t] = best_ratio
        j += 1

    # 3. The terms left: only the partial documents that can still make it get them.
    if stop and j < n_terms and n_touched > n_partial_start:
        theta = max(floor, top_score[k - 1] if kept == k else -np.inf)
        theta = max(theta, _kth_best(acc, touched[n_partial_start:], n_touched - n_partial_start, deleted, k, buf))
        limit = theta - rest[j] * SLACK
        n_cand = 0
        for i in range(n_partial_start, n_touched):
            d = touched[i]
            if not deleted[d] and acc[d] >= limit:
                state[d] = CANDIDATE
                n_cand += 1
        if n_cand * LOOKUP_COST < rest_postings[j]:  # few: look the terms up for each
            cand = np.empty(n_cand, dtype=np.int64)
            n = 0
            for i in range(n_partial_start, n_touched):
                if state[touched[i]] == CANDIDATE:
                    cand[n] = touched[i]
                    n += 1
            cand.sort()
            for jj in range(j, n_terms):
                u = term_idx[jj]
                end = post_ptr[u + 1]
                pos = post_ptr[u]
                for c in cand:
                    pos = _find(post_doc, pos, end, c)
                    if pos < end and post_doc[pos] == c:
                        tf = np.float64(post_tf[pos])
                        acc[c] += weights[jj] * (tf * k1p1 / (tf + _norm(doc_len[c], k1, one_minus_b, b, avgdl)))
        else:  # many: walk the postings, skipping the other documents
            for jj in range(j, n_terms):
                u = term_idx[jj]
                w = weights[jj]
                for i in range(post_ptr[u], post_ptr[u + 1]):
                    d = post_doc[i]
                    if state[d] == CANDIDATE:
                        tf = np.float64(post_tf[i])
                        acc[d] += w * (tf * k1p1 / (tf + _norm(doc_len[d], k1, one_minus_b, b, avgdl)))

    # 4. Read the partial documents back (complete now, or provably out of the top k).
    for i in range(n_touched):
        d = touched[i]
        if state[d] == PARTIAL or state[d] == CANDIDATE:
            s = acc[d]
            acc[d] = 0.0
            if not deleted[d]:
                matched += 1
                if kept == k and (s < top_score[k - 1] or (s == top_score[k - 1] and d > top_doc[k - 1])):
                    state[d] = UNSEEN
                    continue  # (checked here too: the call below is not inlined)
                kept = _insert(top_doc, top_score, kept, k, d, s)
        state[d] = UNSEEN
    skipped = rest_postings[j] if stop else 0
    return matched + skipped, kept


def _kernel():
    global _compiled, _kth_best, _find, _insert, _norm
    if _compiled is None:
        import numba

        def jit(func):  # the helpers stay compiled if the kernel is built again
            return func if hasattr(func, "py_func") else numba.njit(cache=True, nogil=True)(func)

        _kth_best, _find, _insert, _norm = jit(_kth_best), jit(_find), jit(_insert), jit(_norm)
        _compiled = jit(_top_k_segment)
    return _compiled


def top_k_segment(segment, k1, b, avgdl, ratio_bound, ratio_max, term_idx, weights, scratch, k, floor=-np.inf):
    """(local docs, scores, number of matched live documents or an upper bound) of one
    segment's best k. ratio_max is the segment's cache of each term's largest saturated
    tf (negative: not known yet), valid for the current avgdl and parameters; the kernel fills it."""
    acc, state, touched = scratch
    top_doc = np.empty(k, dtype=np.int64)
    top_score = np.empty(k, dtype=np.float64)
    buf = np.empty(k, dtype=np.float64)
    matched, kept = _kernel()(
        segment.post_ptr,
        segment.post_doc,
        segment.post_tf,
        segment.doc_len,
        k1,
        b,
        avgdl,
        term_idx,
        weights,
        ratio_bound,
        ratio_max,
        k1 + 1.0,
        segment.deleted,
        acc,
        state,
        touched,
        k,
        top_doc,
        top_score,
        buf,
        floor,
    )
    return top_doc[:kept], top_score[:kept], matched


# --- merging segments -------------------------------------------------------------------
# A merge of big segments is done by this compiled copy, which needs no memory beyond
# the output (the numpy version in segment.py builds several temporary arrays the size
# of the postings, which at a million documents cost more than the index itself).

MERGE_MIN_POSTINGS = 2_000_000  # below this the numpy merge is fast and needs no compiling
_merge_compiled = None


def _count_live(post_ptr, post_doc, deleted, position, any_deleted, counts):
    """Add each term's number of live postings into counts[position[term]]."""
    for t in range(len(post_ptr) - 1):
        if not any_deleted:
            counts[position[t]] += post_ptr[t + 1] - post_ptr[t]
            continue
        n = 0
        for i in range(post_ptr[t], post_ptr[t + 1]):
            if not deleted[post_doc[i]]:
                n += 1
        counts[position[t]] += n


def _copy_live(post_ptr, post_doc, post_tf, doc_len, deleted, position, new_doc, out_ptr, written, out_doc, out_tf, max_tf, min_dl):
    """Append each term's live postings, renumbered, after those already written for it;
    keep each term's largest frequency and shortest document up to date."""
    for t in range(len(post_ptr) - 1):
        p = position[t]
        dest = out_ptr[p] + written[p]
        for i in range(post_ptr[t], post_ptr[t + 1]):
            d = post_doc[i]
            if deleted[d]:
                continue
            out_doc[dest] = new_doc[d]
            out_tf[dest] = post_tf[i]
            max_tf[p] = max(max_tf[p], post_tf[i])
            min_dl[p] = min(min_dl[p], doc_len[d])
            dest += 1
        written[p] = dest - out_ptr[p]


def merge_kernels():
    """(count_live, copy_live), compiled on first use."""
    global _merge_compiled
    if _merge_compiled is None:
        import numba

        jit = numba.njit(cache=True, nogil=True)
        _merge_compiled = (jit(_count_live), jit(_copy_live))
    return _merge_compiled
