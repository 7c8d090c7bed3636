"""BM25 Okapi scoring, exactly as rank_bm25 0.2.2's `BM25Okapi` computes it.

One small function per piece of the formula (in the manner of bm25s/scoring.py), so the
index, the tests and a future backend share one definition:

    idf(t)   = ln(N - df + 0.5) - ln(df + 0.5)
               (a negative idf is replaced by epsilon * the mean idf over the vocabulary,
                the mean taken before the replacement, as rank_bm25 does)
    score(d) = sum over query tokens q (repeats counted) of
               idf(q) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

Query tokens absent from the vocabulary contribute 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"BM25 parameters out of range: k1={self.k1} (>= 0), b={self.b} (0..1)")


def okapi_idf(df: np.ndarray | int, n_docs: int) -> np.ndarray:
    """Raw Okapi idf for document frequencies df in a corpus of n_docs documents."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(n_docs - df + 0.5) - np.log(df + 0.5)


def idf_floor(vocab_df: np.ndarray, n_docs: int, epsilon: float) -> float:
    """The value rank_bm25 puts in place of a negative idf: epsilon * mean raw idf."""
    if len(vocab_df) == 0:
        return 0.0
    return float(epsilon * okapi_idf(vocab_df, n_docs).mean())


def floored_idf(df: np.ndarray | int, n_docs: int, floor: float) -> np.ndarray:
    idf = okapi_idf(df, n_docs)
    return np.where(idf < 0, floor, idf)


def length_norm(doc_len: np.ndarray, avgdl: float, params: BM25Params) -> np.ndarray:
    """k1 * (1 - b + b * dl / avgdl) per document (the denominator's length part)."""
    return params.k1 * (1 - params.b + params.b * np.asarray(doc_len, dtype=np.float64) / avgdl)


def term_weight(tf: np.ndarray, norm: np.ndarray, params: BM25Params) -> np.ndarray:
    """tf * (k1 + 1) / (tf + norm): the saturated term frequency of one term per document."""
    tf = np.asarray(tf, dtype=np.float64)
    return tf * (params.k1 + 1) / (tf + norm)
