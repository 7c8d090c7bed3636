"""The distribution: one installed namespace, `articlebot`, with its data files.

The folders corpus/, retrieval/ and bot/ sit at the top of the repository but must
install as articlebot.corpus, articlebot.retrieval and articlebot.bot: top-level
packages with such common names would clash with other distributions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from program import PROJECT

SOURCES = ("pyproject.toml", "README.md", "articlebot", "corpus", "retrieval", "bot")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the build leaves nothing in the checkout);
    no build isolation, so nothing is downloaded: the test environment's setuptools builds it."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = PROJECT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("articlebot-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"articlebot"}
    for package in ("articlebot/corpus", "articlebot/retrieval", "articlebot/bot"):
        assert f"{package}/__init__.py" in names
    assert "articlebot/retrieval/stopwords.txt" in names
    assert sum(n.startswith("articlebot/corpus/sample-articles/") and n.endswith(".md") for n in names) >= 30


def test_the_installed_wheel_serves_its_sample(wheel, tmp_path):
    """Installed from the wheel (not from the checkout), the package finds its data files."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    script = (
        "import articlebot.corpus.sample as s, articlebot.retrieval.tokenize as t;"
        "print(s.__file__); print(len(s.sample_files())); print(len(t.Tokenizer().tokens('上海的研发经费')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        text=True,
    )
    where, samples, tokens = result.stdout.split()
    assert Path(where).is_relative_to(target)
    assert int(samples) >= 30
    assert int(tokens) > 0
