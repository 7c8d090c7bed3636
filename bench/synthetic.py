"""A deterministic synthetic corpus for retrieval benchmarks.

Words are drawn from jieba's own dictionary with a Zipf distribution over the words'
frequency ranks (so a few words are in most paragraphs and most words are rare, as in
news); each paragraph is 40-300 characters long. Documents come out already tokenized
(the list of words drawn), so every engine indexes exactly the same tokens.

    from bench.synthetic import generate
    docs, queries = generate(100_000, n_queries=1000, seed=0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCABULARY = 200_000  # most frequent dictionary words used
ZIPF_S = 1.07


def dictionary_words(limit: int = VOCABULARY) -> list[str]:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                entries.append((int(parts[1]), parts[0]))
    entries.sort(key=lambda e: (-e[0], e[1]))
    return [w for _, w in entries[:limit]]


def generate(n_docs: int, n_queries: int = 1000, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    rng = np.random.default_rng(seed)
    words = np.array(dictionary_words(), dtype=object)
    lengths = np.array([len(w) for w in words])
    ranks = np.arange(1, len(words) + 1)
    p = 1.0 / ranks**ZIPF_S
    p /= p.sum()
    target_chars = rng.integers(40, 301, size=n_docs)
    # draw in bulk: average word length is about 2 characters
    draws = rng.choice(len(words), size=int(target_chars.sum() // 1.8) + 1000, p=p)
    docs: list[list[str]] = []
    pos = 0
    for target in target_chars:
        doc: list[str] = []
        chars = 0
        while chars < target:
            if pos == len(draws):
                draws = rng.choice(len(words), size=100_000, p=p)
                pos = 0
            w = draws[pos]
            pos += 1
            doc.append(words[w])
            chars += lengths[w]
        docs.append(doc)
    # queries: 2-6 words, from the same distribution but without the 100 commonest words
    # (those are what a stop-word list and a real user's question leave out)
    q_p = p.copy()
    q_p[:100] = 0
    q_p /= q_p.sum()
    queries = [list(words[rng.choice(len(words), size=rng.integers(2, 7), p=q_p)]) for _ in range(n_queries)]
    return docs, queries
