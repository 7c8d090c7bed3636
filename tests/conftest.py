"""Shared fixtures. Tests never touch the network; the shared corpus is optional."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import pytest
from paths import SHARED_CORPORA

# The Telegram bot's fixtures (db_path, bot) and harness, shared by test_bot_e2e and
# test_security: a plugin module, so no test module imports fixtures from another.
pytest_plugins = ["bot_harness"]


def _missing_test_requirements() -> list[str]:
    """The requirements of articlebot's [test] extra (and of the extras it names, [fast])
    that are not installed."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    missing, extras, seen = [], ["test"], {"test"}
    while extras:
        extra = extras.pop()
        for req in map(Requirement, requires("articlebot") or []):
            if req.marker is None or not req.marker.evaluate({"extra": extra}):
                continue
            if req.name == "articlebot":
                extras += sorted(req.extras - seen)
                seen |= req.extras
                continue
            try:
                version(req.name)
            except PackageNotFoundError:
                missing.append(f"{req.name}{req.specifier}")
    return missing


def pytest_configure(config):
    # The test dependencies are required, not optional: without one, tests would skip (the
    # compiled-kernel tests without numba) or run without a time limit (pytest-timeout).
    missing = _missing_test_requirements()
    if missing:
        raise pytest.UsageError(f"test dependencies missing: {', '.join(missing)}; install them with pip install -e '.[test]'")
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
