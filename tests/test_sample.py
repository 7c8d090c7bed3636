"""The one "sample while the store is empty" policy (corpus.sample.SampleFallback), which
the CLI's commands, the terminal chat and the bot all follow."""

from __future__ import annotations

from pathlib import Path

from articlebot.corpus.ingest import add_paths
from articlebot.corpus.sample import SampleFallback, sample_files
from articlebot.corpus.store import Store

SEED = Path(__file__).parent / "fixtures" / "000_fa353077ad210b37.txt"


def test_the_sample_answers_while_the_store_is_empty_and_the_store_once_it_is_not(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        fallback = SampleFallback(store)
        sample = fallback.corpus()
        assert sample is not store and len(sample) == len(sample_files())
        assert fallback.sample_size == len(sample_files())
        assert fallback.corpus() is sample  # loaded once

        report = add_paths(store, [SEED])
        assert fallback.corpus() is store and fallback.sample_size is None

        store.remove(report.articles[0]["id"])  # empty again: the sample is back
        assert fallback.corpus() is not store and fallback.sample_size == len(sample_files())
        fallback.close()
        assert fallback.sample_size is None
