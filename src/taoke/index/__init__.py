"""Fingerprints, the SQLite index, nearest-ancestor search and the lineage tree.

* :mod:`taoke.index.fingerprint` — :func:`make_fingerprint`, :class:`Fingerprint` (versioned ``.tkfp`` file);
* :mod:`taoke.index.view` — :class:`FingerprintView`, a fingerprint usable wherever the white-box tests want a model;
* :mod:`taoke.index.sketch` — MinHash of the tokenizer, sign-random-projection LSH of the embedding geometry;
* :mod:`taoke.index.store` — :class:`IndexStore`, SQLite (WAL, ``user_version`` migrations, one writer);
* :mod:`taoke.index.search` — :func:`search` (LSH shortlist → exact tests), :func:`compare_views`;
* :mod:`taoke.index.tree` — :func:`build_tree` (parent = most likely ancestor) and its text / image renderings.
"""

from __future__ import annotations

from taoke.index.fingerprint import FORMAT, VERSION, Fingerprint, is_fingerprint_file, make_fingerprint
from taoke.index.view import FingerprintView

__all__ = ["FORMAT", "VERSION", "Fingerprint", "FingerprintView", "is_fingerprint_file", "make_fingerprint"]
