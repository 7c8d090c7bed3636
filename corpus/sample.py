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
