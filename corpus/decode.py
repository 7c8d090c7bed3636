"""Bytes -> text, detecting the encoding from the content (BOM, then strict trial decodes)."""

from __future__ import annotations

import codecs
import re

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings tried in order when there is no BOM. GB18030 is a superset of GBK and GB2312.
_FALLBACKS = ("utf-8", "gb18030")
_DECLARED_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Control characters that never occur in text files (tab, newline, CR, form feed excluded).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.001


class UndecodableError(ValueError):
    """The bytes are binary or in no encoding articlebot reads."""


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). Raises UndecodableError for binary or unknown data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(encoding), encoding)
            except UnicodeDecodeError as exc:
                raise UndecodableError(f"invalid {encoding} after its byte-order mark ({exc.reason})") from exc
    if b"\x00" in data:
        raise UndecodableError("binary file (contains NUL bytes)")
    # Valid UTF-8 wins even over a declared charset: declarations are often wrong, and
    # text in a legacy encoding is almost never valid UTF-8 by accident.
    candidates = list(_FALLBACKS)
    declared = _declared_charset(data)
    if declared:
        candidates.insert(1, declared)
    for encoding in candidates:
        try:
            return _checked(data.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise UndecodableError("not text in UTF-8, UTF-16/32 (with BOM) or GB18030/GBK")


def _declared_charset(data: bytes) -> str | None:
    match = _DECLARED_CHARSET.search(data[:4096])
    if not match:
        return None
    name = match.group(1).decode("ascii").lower()
    if name in ("gb2312", "gbk", "x-gbk"):
        return "gb18030"  # the superset: pages labelled gb2312 often use GBK characters
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _checked(text: str, encoding: str) -> tuple[str, str]:
    if text and len(_CONTROL.findall(text)) > max(1, len(text) * _MAX_CONTROL_RATIO):
        raise UndecodableError("binary file (too many control characters)")
    return text, encoding
