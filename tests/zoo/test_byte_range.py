"""The Range-header parsing both test servers use (the scale server and tests/httpserver.py)."""

from __future__ import annotations

import pytest

from taoke.zoo.scale_server import byte_range


@pytest.mark.parametrize(
    ("header", "want"),
    [("bytes=0-9", (0, 10)), ("bytes=5-", (5, 100)), ("bytes=-10", (90, 100)), ("bytes=90-500", (90, 100)),
     ("bytes=-500", (0, 100)), (" bytes=3-3 ", (3, 4)), ("bytes=100-", None), ("bytes=7-3", None), ("bytes=-", None),
     ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=-0", None)],
)  # fmt: skip
def test_byte_range(header: str, want: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == want
