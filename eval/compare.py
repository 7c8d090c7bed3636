"""Compare tokenizer and ranking choices on the question set; prints a markdown table.

    python eval/compare.py [eval/questions.jsonl]

Each row changes one setting from the defaults (retrieval.search.SearchConfig) and
reports the metrics of `articlebot eval` on the bundled sample. The README's "Choices"
table is this script's output.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from articlebot.corpus.sample import open_sample_store  # noqa: E402
from articlebot.retrieval.bm25 import BM25Params  # noqa: E402
from articlebot.retrieval.evaluate import evaluate, load_questions  # noqa: E402
from articlebot.retrieval.search import SearchConfig, Searcher  # noqa: E402
from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig  # noqa: E402

DEFAULT = SearchConfig()
VARIANTS = [
    ("defaults", DEFAULT),
    ("jieba precise mode", dataclasses.replace(DEFAULT, tokenizer=TokenizerConfig(mode="precise"))),
    ("HMM on", dataclasses.replace(DEFAULT, tokenizer=TokenizerConfig(hmm=True))),
    ("stop words off", dataclasses.replace(DEFAULT, tokenizer=TokenizerConfig(stopwords=False))),
    ("k1=1.5 b=0.75 (rank_bm25)", dataclasses.replace(DEFAULT, bm25=BM25Params())),
    ("k1=1.2 b=0.75", dataclasses.replace(DEFAULT, bm25=BM25Params(k1=1.2, b=0.75))),
    ("k1=0.9 b=0.75", dataclasses.replace(DEFAULT, bm25=BM25Params(k1=0.9, b=0.75))),
    ("k1=1.2 b=0.4", dataclasses.replace(DEFAULT, bm25=BM25Params(k1=1.2, b=0.4))),
    ("text only (no title, section)", dataclasses.replace(DEFAULT, fields=("text",))),
    ("text + section", dataclasses.replace(DEFAULT, fields=("section", "text"))),
    ("per article <= 1", dataclasses.replace(DEFAULT, per_article=1)),
    ("per article <= 2", dataclasses.replace(DEFAULT, per_article=2)),
    ("no-answer rule off", dataclasses.replace(DEFAULT, min_coverage=0.0)),
    ("coverage >= 0.2", dataclasses.replace(DEFAULT, min_coverage=0.2)),
    ("coverage >= 0.4", dataclasses.replace(DEFAULT, min_coverage=0.4)),
]
COLUMNS = ["recall@1", "recall@3", "recall@10", "mrr@10", "ndcg@10", "no_answer_recall", "no_answer_precision", "false_refusals"]


def main() -> None:
    questions = load_questions(sys.argv[1] if len(sys.argv) > 1 else "eval/questions.jsonl")
    store = open_sample_store()
    tokenizers: dict[TokenizerConfig, Tokenizer] = {}
    print("| setting | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, config in VARIANTS:
        tokenizer = tokenizers.setdefault(config.tokenizer, Tokenizer(config.tokenizer))
        searcher = Searcher(store, config, index_dir=None, tokenizer=tokenizer)
        metrics = evaluate(searcher, questions, k=10).metrics
        print(f"| {name} | " + " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS) + " |", flush=True)


if __name__ == "__main__":
    main()
