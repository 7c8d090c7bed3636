"""Where the tests' data lives: imported by the tests that need it (conftest holds fixtures only)."""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "000_fa353077ad210b37.txt"
# The archive of real articles lives beside the project in CI and on developer machines.
SHARED_CORPORA = Path(os.environ.get("ARTICLEBOT_SHARED", Path(__file__).parents[2] / "shared")) / "corpora"
