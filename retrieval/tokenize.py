"""The one tokenizer of articlebot: the same terms for indexing paragraphs and for queries.

jieba segments the text; every term is normalised (NFKC + lowercase) so that `Ｗｉｎｄｏｗｓ`
and `windows` match, tokens without a letter or digit are dropped, and so are the words
of the shipped stop-word list (retrieval/stopwords.txt). Offsets always point into
the original, unnormalised text.

An index stores `Tokenizer.fingerprint()` to know when the tokens would change and it
must be rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

try:  # jieba-rs: loads its dictionary in ~0.1 s where jieba takes ~1 s (cold start of a search)
    import rjieba
except ImportError:
    rjieba = None  # type: ignore[assignment]  # optional: every use checks for None first

from articlebot.corpus.errors import ArticlebotError

# Bump when the normalisation or filtering rules below change what tokens() returns.
SCHEME_VERSION = 1
MODES = ("search", "precise")


def _package_dir(name: str) -> Path:
    """An installed package's directory, found without importing the package."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return Path(spec.origin).parent


# jieba itself is imported only when it segments (rjieba usually does): its import alone
# costs a fifth of a second of every search's start-up.
JIEBA_VERSION = importlib.metadata.version("jieba")
JIEBA_DICTIONARY = _package_dir("jieba") / "dict.txt"

# A letter or a digit: Unicode categories L* and N* (`\w` minus the underscore).
# Tokens without one (whitespace, punctuation, symbols, controls, lone marks) are dropped.
_WORD_CHAR = re.compile(r"[^\W_]")
_FREQ = re.compile(r"[0-9]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG = re.compile(r"[a-z]+")


class TokenizerError(ArticlebotError):
    """A tokenizer setting or input is unusable (missing or malformed user dictionary...)."""


@dataclass(frozen=True)
class TokenizerConfig:
    mode: str = "search"  # "search" = jieba cut_for_search-style tokens, "precise" = jieba.cut
    hmm: bool = False  # jieba's HMM for unknown words (off: measured as good, and allows rjieba)
    stopwords: bool = True  # drop words of the shipped stop-word list
    user_dict: str | None = None  # path of a jieba user dictionary


@dataclass(frozen=True)
class Token:
    term: str  # normalised form used for matching
    start: int  # offsets into the ORIGINAL text (text[start:end] is the surface form)
    end: int


def normalize(text: str) -> str:
    """The form used for matching: NFKC (full-width -> ASCII, ligatures split...) + lowercase."""
    return unicodedata.normalize("NFKC", text).lower()


def default_cache_dir() -> str:
    return platformdirs.user_cache_dir("articlebot")


def load_stopwords() -> frozenset[str]:
    """The shipped stop-word list, normalised like the terms it is compared with."""
    text = resources.files("articlebot.retrieval").joinpath("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(normalize(w) for w in _content_lines(text))


def load_user_dict(path: str | os.PathLike) -> list[tuple[str, int | None]]:
    """(word, freq) pairs of a jieba user dictionary: `word [freq] [tag]` per line.

    The tag (part of speech) does not change segmentation and is ignored. A missing
    freq gives None, so that jieba suggests one that makes the word a single token.
    """
    shown = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise TokenizerError(f"cannot read the user dictionary {shown}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TokenizerError(f"user dictionary {shown} is not UTF-8 text") from None
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, *rest = line.split()
        freq = None
        if rest and _FREQ.fullmatch(rest[0]):
            freq = int(rest.pop(0))
            # jieba turns a frequency of 0 into a process-wide "always split" rule.
            if freq == 0:
                raise TokenizerError(f"{shown}, line {lineno}: the frequency must be 1 or more: {line!r}")
        if len(rest) > 1 or (rest and not _TAG.fullmatch(rest[0])):  # jieba's own format allows `word tag`
            raise TokenizerError(f"{shown}, line {lineno}: expected 'word [frequency] [tag]' with a whole-number frequency: {line!r}")
        entries.append((normalize(word), freq))
    return entries


def _content_lines(text: str):
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


class Tokenizer:
    """jieba segmentation + normalisation + filtering. Thread-safe once built."""

    def __init__(
        self,
        config: TokenizerConfig = TokenizerConfig(),
        cache_dir: str | os.PathLike | None = None,
        engine: str | None = None,
    ):
        if config.mode not in MODES:
            raise TokenizerError(f"unknown tokenizer mode {config.mode!r}: use 'search' or 'precise'")
        if engine not in (None, "jieba", "rjieba"):
            raise TokenizerError(f"unknown segmenter {engine!r}: use 'jieba' or 'rjieba'")
        self.config = config
        self.cache_dir = Path(cache_dir if cache_dir is not None else default_cache_dir())
        # Both files are read now: a bad user dictionary fails early, and the fingerprint
        # describes exactly the words in use even if the file changes later.
        self.stopwords = load_stopwords() if config.stopwords else frozenset()
        self.user_words = load_user_dict(config.user_dict) if config.user_dict else []
        self._jieba_mode = "search" if config.mode == "search" else "default"
        # rjieba gives jieba's tokens exactly without HMM and without a user dictionary
        # (tests/test_tokenize.py checks it on the shared corpus); otherwise jieba itself.
        can_use_rjieba = rjieba is not None and not config.hmm and not self.user_words
        if engine == "rjieba" and not can_use_rjieba:
            raise TokenizerError("rjieba is used only without HMM and without a user dictionary")
        self.engine = engine or ("rjieba" if can_use_rjieba else "jieba")
        self._segmenter: Any = None  # jieba.Tokenizer or _RJieba, built on first use
        self._lock = threading.Lock()

    @property
    def cache_file(self) -> Path:
        # Named after the jieba version: jieba trusts a cache of its default dictionary blindly.
        return self.cache_dir / f"jieba-{JIEBA_VERSION}.cache"

    def fingerprint(self) -> str:
        parts = {
            "scheme": SCHEME_VERSION,
            "jieba": JIEBA_VERSION,
            "engine": self.engine,
            "mode": self.config.mode,
            "hmm": self.config.hmm,
            "stopwords": sorted(self.stopwords) if self.config.stopwords else None,
            "user_words": self.user_words,
        }
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]

    def tokens(self, text: str) -> list[str]:
        """The terms of spans(text), without building offsets (the indexing hot path)."""
        normalized, starts, _ = _normalize_with_offsets(text)
        if starts is not None:  # characters changed length: offsets decide the terms
            return [t.term for t in self.spans(text)]
        segmenter = self._segmenter or self._build_segmenter()
        stopwords, has_word_char = self.stopwords, _WORD_CHAR.search
        # one to one: each word jieba returns is the normalised surface of its span
        return [
            word
            for word, _s, _e in segmenter.tokenize(normalized, mode=self._jieba_mode, HMM=self.config.hmm)
            if has_word_char(word) and word not in stopwords
        ]

    def spans(self, text: str) -> list[Token]:
        normalized, starts, ends = _normalize_with_offsets(text)
        segmenter = self._segmenter or self._build_segmenter()
        out: list[Token] = []
        seen: set[tuple[int, int]] = set()
        for _word, s, e in segmenter.tokenize(normalized, mode=self._jieba_mode, HMM=self.config.hmm):
            if starts is not None and ends is not None:  # both or neither
                # A token may cover part of a character that normalisation expanded
                # (㍿ -> 株式会社): widen it to whole original characters, once.
                s, e = starts[s], ends[e - 1]
                if (s, e) in seen:
                    continue
                seen.add((s, e))
                # The term is the normalised surface, so normalize(text[start:end]) == term.
                term = normalize(text[s:e])
            else:  # characters map one to one: jieba's word is that surface already
                term = _word
            if _WORD_CHAR.search(term) and term not in self.stopwords:
                out.append(Token(term, s, e))
        return out

    def _build_segmenter(self):
        with self._lock:
            if self._segmenter is not None:
                return self._segmenter
            if self.engine == "rjieba":
                self._segmenter = _RJieba()
                return self._segmenter
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TokenizerError(f"cannot create the cache directory {self.cache_dir}: {exc.strerror or exc}") from None
            import jieba

            jieba.setLogLevel(logging.WARNING)  # it logs every dictionary load at DEBUG on stderr
            seg = jieba.Tokenizer()  # a private instance: never the global jieba.dt
            seg.tmp_dir = str(self.cache_dir)
            seg.cache_file = self.cache_file.name
            seg.initialize()
            # jieba sees lowercased text, so give its few mixed-case words (T恤, U盘, IP地址...)
            # a lowercase twin; otherwise they would fall apart into letters and characters.
            for word, freq in [(w, f) for w, f in seg.FREQ.items() if f and w != w.lower()]:
                if not seg.FREQ.get(word.lower()):
                    seg.add_word(word.lower(), freq)
            for word, freq in self.user_words:
                seg.add_word(word, freq)
            self._segmenter = seg
            return seg


class _RJieba:
    """rjieba behind jieba.Tokenizer's tokenize() signature, with the same lowercase
    twins of jieba's mixed-case dictionary words as the jieba segmenter gets."""

    def __init__(self) -> None:
        self._seg = rjieba.Jieba()
        for word, freq in _mixed_case_words():
            if not self._seg.has_word(word.lower()):
                self._seg.add_word(word.lower(), freq, None)

    def tokenize(self, text: str, mode: str, HMM: bool):  # noqa: N803 (jieba's name)
        return self._seg.tokenize(text, mode=mode, hmm=HMM)


def _mixed_case_words() -> list[tuple[str, int]]:
    """(word, freq) of jieba's dictionary entries with upper-case letters (T恤, U盘...)."""
    text = JIEBA_DICTIONARY.read_text(encoding="utf-8")
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S*[A-Z]\S*) (\d+)", text, re.M)]


def _normalize_with_offsets(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """The normalised text, and for each of its characters the original start and end.

    The lists are None when characters map one to one (nearly always): no character
    decomposes (NFKD keeps the length) and none compose or change length on lowercasing.
    Equal lengths alone are not enough: an expansion (ﬁ -> fi) and a composition
    (e + U+0301 -> é) in the same text cancel out.
    """
    # A lone surrogate (what Python makes of invalid UTF-8 in argv) cannot be encoded for
    # the segmenter: it becomes U+FFFD, one character for one, so offsets stay valid.
    text = _LONE_SURROGATE.sub("\ufffd", text)
    normalized = normalize(text)
    # Σ lowercases by context (final ς): only there can a slice of the normalised text
    # differ from the normalised slice, so such texts take the per-character path.
    if "Σ" not in text and len(normalized) == len(text) == len(unicodedata.normalize("NFKD", text)):
        return normalized, None, None
    # Normalise each base character with the combining marks that follow it (they may
    # compose with it), and remember which original characters each output came from.
    clusters: list[list[int]] = []
    for i, ch in enumerate(text):
        if clusters and (unicodedata.combining(ch) or "\u1160" <= ch <= "\u11ff"):  # marks, Hangul vowels/finals
            clusters[-1][1] = i + 1
        else:
            clusters.append([i, i + 1])
    pieces, starts, ends = [], [], []
    for s, e in clusters:
        piece = normalize(text[s:e])
        pieces.append(piece)
        starts += [s] * len(piece)
        ends += [e] * len(piece)
    return "".join(pieces), starts, ends
