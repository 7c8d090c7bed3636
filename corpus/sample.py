"""The sample corpus shipped with articlebot (see sample-articles/README.md for its sources)."""

from __future__ import annotations

from pathlib import Path

from articlebot.corpus.ingest import add_paths
from articlebot.corpus.store import Store

SAMPLE_DIR = Path(__file__).parent / "sample-articles"


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLE_DIR.glob("*.md") if p.name != "README.md")


def open_sample_store() -> Store:
    """An in-memory store holding the bundled sample, for commands run on an empty store."""
    store = Store.memory()
    report = add_paths(store, sample_files())
    if report.failed:  # the sample is ours: a failure here is a bug, not a user error
        raise RuntimeError(f"bundled sample failed to parse: {report.failed}")
    return store


class SampleFallback:
    """The one "sample when the store is empty" policy, for every way of asking (the CLI's
    commands, the terminal chat, the bot): while the store holds no article, questions are
    answered from the bundled sample (in memory); as soon as it holds one, from the store.
    Checked on every call, so a long-running process follows other processes' adds."""

    def __init__(self, store: Store):
        self.store = store
        self._sample: Store | None = None
        self._size = 0  # kept: the bot asks from another thread than the store's

    def corpus(self) -> Store:
        """The store to answer from now: the store, or the sample while the store is empty."""
        if not self.store.is_empty():
            self.close()
            return self.store
        if self._sample is None:
            self._sample = open_sample_store()
            self._size = len(self._sample)
        return self._sample

    @property
    def sample_size(self) -> int | None:
        """How many sample articles answer questions; None while the store does."""
        return self._size if self._sample is not None else None

    def close(self) -> None:
        """Free the sample (the store is the caller's to close)."""
        if self._sample is not None:
            self._sample.close()
            self._sample = None
