"""DEFAULT: "use the configured value", distinct from None (which means "none")."""

from __future__ import annotations

import enum


class Default(enum.Enum):
    DEFAULT = "default"  # the value JSON reports show

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = Default.DEFAULT
