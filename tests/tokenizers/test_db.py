"""The shipped reference database: compact, complete, reproducible; the null is made of unrelated pairs."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from taoke.errors import TokenizerError
from taoke.tokenizers import ARTIFACTS, TokenizerDB, build_db, load_db, shipped_db_path
from taoke.tokenizers._families import ARTIFACTS_BY_KEY, pair_label


def test_shipped_db_is_small_and_complete() -> None:
    size = os.path.getsize(shipped_db_path())
    assert size < 2_000_000  # measured: ~0.53 MB for 56 tokenizers
    db = load_db(include_user=False)
    assert {e.key for e in db.entries} == {a.key for a in ARTIFACTS}
    for e in db.entries:
        assert e.sample.keys.size > 0 and e.sample.keys.size == e.sample.ids.size
        assert e.family == ARTIFACTS_BY_KEY[e.key].family


def test_null_is_unrelated_pairs_only() -> None:
    db = load_db(include_user=False)
    assert db.null is not None and db.null.n >= 100
    for a, b in db.null.pairs:
        assert pair_label(ARTIFACTS_BY_KEY[a].family, ARTIFACTS_BY_KEY[b].family) == "unrelated"
    thr, fpr = db.null.threshold("tail_containment", 0.0025)
    assert thr == max(db.null.values["tail_containment"]) and fpr == 0.0
    # the related pairs of the data beat every unrelated one: baichuan2 keeps 99.7 % of baichuan's tail
    assert thr < 0.99


def test_roundtrip_preserves_entries(tmp_path: Path) -> None:
    db = load_db(include_user=False)
    p = tmp_path / "db.json.gz"
    db.save(str(p))
    back = TokenizerDB.load_file(str(p))
    assert [e.key for e in back.entries] == [e.key for e in db.entries]
    assert [e.regular_digest for e in back.entries] == [e.regular_digest for e in db.entries]
    assert back.null is not None and back.null.values == db.null.values  # type: ignore[union-attr]


def test_build_is_reproducible(tmp_path: Path, data_dir: Path) -> None:
    """Build from a small real subset twice: byte-identical output."""
    root = tmp_path / "data"
    for key in ("tiktoken-r50k", "mistral-v1", "anthropic-claude", "minilm-vocab-txt"):
        src = data_dir / ARTIFACTS_BY_KEY[key].path
        dst = root / ARTIFACTS_BY_KEY[key].path
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    a, b = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    db = build_db(str(root))
    db.save(str(a))
    build_db(str(root)).save(str(b))
    assert a.read_bytes() == b.read_bytes()
    assert len(db) == 4 and db.null is not None and db.null.n == 6  # 4 families of 4 organisations


def test_build_without_data_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no fetched tokenizer"):
        build_db(str(tmp_path))


@pytest.mark.parametrize("content", [b"garbage", gzip.compress(b'{"format": "other"}'),
                                     gzip.compress(b'{"format": "taoke.tokenizer-db", "version": 1}')])
def test_corrupt_db_is_a_tokenizer_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "db.json.gz"
    p.write_bytes(content)
    with pytest.raises(TokenizerError):
        TokenizerDB.load_file(str(p))
