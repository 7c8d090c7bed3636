"""YAML front matter (Hexo/Jekyll) and the dates found in it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime

import yaml

# Blank lines may precede the opening ---; the closing --- ends the block.
_FRONT_MATTER = re.compile(r"\A\s*^---[ \t]*\r?\n(?P<yaml>.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)


# The C loader (libyaml) when PyYAML was built with it: several times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FrontMatterError(ValueError):
    """The front matter is present but cannot be read."""


def split_front_matter(text: str) -> tuple[dict | None, str]:
    """Return (front matter mapping or None when absent, body).

    Raises FrontMatterError when the front matter is opened but broken (bad YAML,
    not a mapping, never closed).
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        if re.match(r"\A\s*---[ \t]*\r?\n", text) and _looks_like_yaml_keys(text):
            raise FrontMatterError("front matter opened with '---' is never closed")
        return None, text
    try:
        data = yaml.load(match.group("yaml"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise FrontMatterError(f"front matter is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError(f"front matter must be a mapping of fields, got {type(data).__name__}")
    return data, text[match.end() :]


def _looks_like_yaml_keys(text: str) -> bool:
    lines = [line for line in text.lstrip().splitlines()[1:6] if line.strip()]
    return bool(lines) and re.match(r"^[A-Za-z_][\w-]*\s*:", lines[0]) is not None


def parse_date(value: object, field: str = "date") -> datetime:
    """A front-matter date -> timezone-aware datetime.

    Accepts RFC 1123 (`Mon, 06 Dec 2021 10:56:51 GMT`), ISO 8601 with or without
    offset, `2021-12-06 10:56:51`, YAML dates and datetimes. A value without a time
    zone is taken as UTC (Hexo's default); raises ValueError naming the field otherwise.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"field '{field}': date out of range: {value!r}") from None
    elif isinstance(value, str) and value.strip():
        parsed = _parse_date_string(value.strip(), field)
    else:
        raise ValueError(f"field '{field}': not a date: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_date_string(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in ("%Y-%m-%d %H:%M", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"field '{field}': unrecognised date {text!r}")
