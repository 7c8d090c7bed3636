"""Shared fixtures. Tests never touch the network; the shared corpus is optional."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "000_fa353077ad210b37.txt"
# The archive of real articles lives beside the project in CI and on developer machines.
SHARED_CORPORA = Path(os.environ.get("ARTICLEBOT_SHARED", Path(__file__).parents[2] / "shared")) / "corpora"


def pytest_configure(config):
    # Nothing a test runs may write to the real user data or cache directories (the
    # default store, jieba's dictionary cache): point platformdirs at a throw-away home.
    home = Path(tempfile.mkdtemp(prefix="articlebot-tests-"))
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ.pop("ARTICLEBOT_DB", None)


@pytest.fixture(scope="session")
def tokenizer():
    """One tokenizer for the whole run: loading jieba's dictionary takes about a second."""
    from articlebot.retrieval.tokenize import Tokenizer

    return Tokenizer()


@pytest.fixture(scope="session")
def shared_corpus_dir(tmp_path_factory) -> Path:
    """The unpacked hexo-news archive from ../shared/corpora; skips when it is absent."""
    archive = SHARED_CORPORA / "hexo-news.tar.gz"
    if not archive.is_file():
        pytest.skip(f"shared corpus not present at {archive}")
    target = tmp_path_factory.mktemp("corpora")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "hexo-news"
