"""Per-user limit on questions: at most `limit` in any sliding window of `window` seconds.

Outgoing calls to Telegram are throttled separately by PTB's AIORateLimiter; this one
keeps a single user from monopolising the search worker. Used from the event loop only
(no locking needed).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    warn: bool = False  # refused, and the user was not told yet in this window: tell them once
    retry_after: float = 0.0  # seconds until the next question will be allowed


class RateLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock  # injectable, so tests need not sleep
        self._asked: dict[Hashable, deque[float]] = {}
        self._warned: dict[Hashable, float] = {}
        self._swept = clock()

    def check(self, key: Hashable) -> Decision:
        """Count one question by `key` when allowed. Refused questions do not count, so a
        user who keeps asking is let in again as soon as the window has moved on."""
        now = self.clock()
        if now - self._swept >= self.window:
            self._sweep(now - self.window)
        asked = self._asked.setdefault(key, deque())
        while asked and asked[0] <= now - self.window:
            asked.popleft()
        if len(asked) < self.limit:
            asked.append(now)
            return Decision(True)
        retry_after = asked[0] + self.window - now
        warned = self._warned.get(key)
        warn = warned is None or now - warned >= self.window
        if warn:
            self._warned[key] = now
        return Decision(False, warn=warn, retry_after=max(retry_after, 0.0))

    def _sweep(self, cutoff: float) -> None:
        # Once per window, forget users with nothing left in it, so the maps never grow
        # with users who asked once long ago.
        self._swept = cutoff + self.window
        for key in list(self._asked):
            asked = self._asked[key]
            while asked and asked[0] <= cutoff:
                asked.popleft()
            if not asked:
                del self._asked[key]
        for key in [k for k, t in self._warned.items() if t <= cutoff]:
            del self._warned[key]
