"""The environment for running this checkout's `articlebot` in a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def program_env(home: Path | None = None) -> dict[str, str]:
    """os.environ without ARTICLEBOT_DB; given a home directory, the program's data and
    cache directories go under it. The program is the installed one (README: pip install)."""
    env = dict(os.environ)
    env.pop("ARTICLEBOT_DB", None)
    if home is not None:
        env["XDG_DATA_HOME"] = str(home / "data")
        env["XDG_CACHE_HOME"] = str(home / "cache")
    return env
