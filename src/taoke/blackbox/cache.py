"""On-disk response cache keyed by a hash of the request (URL + JSON body + a local sample index).

The key never includes headers, so the API key cannot reach the cache; the stored value is the parsed JSON
body of the answer only. One file per entry (``<sha256[:2]>/<sha256>.json``), written atomically, so several
processes may share a cache directory. A corrupt entry is treated as a miss and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_FORMAT = "taoke-blackbox-cache/1"


def request_key(url: str, body: dict[str, Any], nonce: int = 0) -> str:
    """sha256 of the canonical JSON of (format, url, body, nonce). ``nonce`` separates repeated samples."""
    canon = json.dumps({"f": CACHE_FORMAT, "url": url, "body": body, "nonce": nonce},
                       sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


class ResponseCache:
    """A directory of cached JSON answers."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT or not isinstance(obj.get("body"), dict):
            return None
        return obj["body"]

    def put(self, key: str, body: dict[str, Any]) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": CACHE_FORMAT, "body": body}, f, ensure_ascii=False)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
