"""A thread-safe query budget: every request that reaches the network (retries included) costs one query.

Answers served from the on-disk cache are free and counted separately, so a report can say both what a probe
would cost against a fresh endpoint (``charged + cached``) and what this run actually sent (``charged``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from taoke.errors import BudgetExceeded


@dataclass(frozen=True)
class BudgetSnapshot:
    """Counts at one moment: queries sent (``charged``), served from cache, and the limit (None = unlimited)."""

    charged: int
    cached: int
    limit: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"charged": self.charged, "cached": self.cached, "limit": self.limit}


class QueryBudget:
    """At most ``limit`` network queries (``None``: unlimited). ``charge()`` raises :class:`BudgetExceeded`.

    >>> b = QueryBudget(1); b.charge(); b.snapshot().charged
    1
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 0:
            raise BudgetExceeded(f"budget must be >= 0, got {limit}", hint="pass --budget N with N >= 0")
        self._limit = limit
        self._charged = 0
        self._cached = 0
        self._lock = threading.Lock()

    def charge(self, subject: str | None = None) -> None:
        with self._lock:
            if self._limit is not None and self._charged >= self._limit:
                raise BudgetExceeded(
                    f"query budget of {self._limit} spent", subject=subject,
                    hint="raise --budget, or reuse --cache to answer repeated queries for free",
                )
            self._charged += 1

    def refund(self) -> None:
        """Give back one query that never reached the endpoint: the client calls it when the connection itself
        failed (refused, DNS, TLS), so retries against a dead host do not spend the budget."""
        with self._lock:
            self._charged = max(0, self._charged - 1)

    def note_cached(self) -> None:
        with self._lock:
            self._cached += 1

    @property
    def remaining(self) -> int | None:
        with self._lock:
            return None if self._limit is None else self._limit - self._charged

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            return BudgetSnapshot(self._charged, self._cached, self._limit)
