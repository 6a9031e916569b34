"""Hostile files (issue 19): the three GGUF inputs the first fuzzing found, lies that ask for gigabytes, and the
CLI's last guard. Each bad input gives one TaokeError line naming the file, and is refused *before* anything is
sized from the lie (tracemalloc sees numpy's allocations).

The GGUFs are written from the real SmolLM2 file: its real key/values (tokenizer arrays cut to 64 tokens) and
the real F32 ``output_norm.weight`` bytes, plus the one lying or degenerate tensor under test.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import taoke
from taoke.errors import CorruptFile, TaokeError
from taoke.io import open_checkpoint

F32 = 0  # ggml type


def _seeds() -> Any:
    from tests.fuzz import fuzz_module

    return fuzz_module("seeds")


@pytest.fixture(scope="module")
def real_gguf_parts(smollm2_gguf: Path) -> tuple[list[Any], bytes]:
    """The real SmolLM2 key/values (tokens cut to 64) and the real bytes of its F32 ``output_norm.weight``."""
    seeds = _seeds()
    kvs = seeds._cut_kvs(seeds._gguf_kvs(smollm2_gguf), 64, {})
    with open_checkpoint(smollm2_gguf) as ck:
        start, end = ck.tensor_data_range("output_norm.weight")
    with open(smollm2_gguf, "rb") as f:
        f.seek(start)
        norm = f.read(end - start)
    return kvs, norm


def _gguf(parts: tuple[list[Any], bytes], extra: list[tuple[str, tuple[int, ...], int, bytes]], *,
          pad: int = 0) -> bytes:
    kvs, norm = parts
    kvs = list(kvs) + ([("general.description", 8, b"x" * pad, None)] if pad else [])
    return _seeds().gguf_bytes(kvs, [("output_norm.weight", (576,), F32, norm), *extra])


def _refused(fn: Any, exc: type[TaokeError], path: Path, match: str | None = None, limit: int = 16 << 20) -> TaokeError:
    """``fn()`` raises ``exc`` (one printable line naming ``path``) with a traced peak (numpy's buffers included)
    under ``limit`` bytes: the lie was refused before anything was sized from it."""
    tracemalloc.start()
    try:
        with pytest.raises(exc, match=match) as e:
            fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    _one_line(e.value, path)
    assert peak < limit, peak
    return e.value


def _one_line(e: TaokeError, path: Path) -> str:
    msg = str(e)
    assert msg.isprintable() and str(path) in msg, msg
    return msg


# -- the three inputs of the issue, minimised ------------------------------------------------------------------
def test_gguf_zero_size_tensor_reads_as_empty(real_gguf_parts: Any, tmp_path: Path) -> None:
    """Finding 1 (``ValueError: cannot reshape array of size 0 into shape (0)`` out of ``read``): a tensor with a
    zero dimension holds no bytes and reads as an empty array of its shape, whole or by rows."""
    path = tmp_path / "zero.gguf"
    path.write_bytes(_gguf(real_gguf_parts, [("blk.0.attn_q.weight", (0, 4), F32, b""),
                                             ("blk.0.attn_k.weight", (576, 0), F32, b"")]))
    with open_checkpoint(path) as ck:
        assert ck.read("blk.0.attn_q.weight").shape == (4, 0)
        assert ck.read("blk.0.attn_q.weight", rows=[3, 0]).shape == (2, 0)
        assert ck.read("blk.0.attn_k.weight").shape == (0, 576)
        assert ck.read("blk.0.attn_k.weight", rows=slice(0, 0)).shape == (0, 576)
    with taoke.open(str(path)) as m:
        for role in m.roles.refs:
            try:
                m.get(role, rows=slice(0, 1))
            except TaokeError as e:
                _one_line(e, path)


@pytest.mark.parametrize("ne, what", [
    ((1 << 31, 1 << 30, 1), "array is too big"),  # finding 2: 2**61 float32s overflow numpy's size
    ((566935683136, 32), "66.0 TiB"),             # finding 3: MemoryError "Unable to allocate 66.0 TiB"
])  # fmt: skip
def test_gguf_dimension_lies_refused_at_open(real_gguf_parts: Any, tmp_path: Path, ne: tuple[int, ...],
                                             what: str) -> None:
    """Findings 2 and 3: a dimension no file of this size can hold is refused when the header is read."""
    path = tmp_path / "lie.gguf"
    path.write_bytes(_gguf(real_gguf_parts, [("token_embd.weight", ne, F32, b"")]))
    with pytest.raises(CorruptFile, match="more than the .* bytes of its file could hold") as e:
        open_checkpoint(path)
    _one_line(e.value, path)


def test_gguf_lie_of_gigabytes_refused_before_allocation(real_gguf_parts: Any, tmp_path: Path) -> None:
    """A 40,000 x 40,000 F32 tensor (6.4 GB) declared in a 41 KB file: every dimension fits the file, so it opens
    (as truncated, like a partial download), and reading it -- whole, by rows, through ``taoke.open`` -- is refused
    before an output of the declared size exists (peak traced memory stays under 16 MB)."""
    path = tmp_path / "gigabytes.gguf"
    path.write_bytes(_gguf(real_gguf_parts, [("token_embd.weight", (40000, 40000), F32, b"\0" * 64)], pad=40000))
    with open_checkpoint(path) as ck:
        assert ck.truncated and ck.info("token_embd.weight").nbytes == 40000 * 40000 * 4
        for rows in (None, slice(0, 20000), [39999, 0]):
            _refused(lambda rows=rows: ck.read("token_embd.weight", rows=rows), CorruptFile, path,
                     "past the end of the file")
        assert np.array_equal(ck.read("output_norm.weight"), np.frombuffer(real_gguf_parts[1], "<f4"))
    with taoke.open(str(path)) as m:
        _refused(lambda: m.get("embed"), TaokeError, path)


def test_safetensors_lie_of_gigabytes_refused_at_open(minilm_dir: Path, tmp_path: Path) -> None:
    """The real MiniLM header with its word embeddings declared 40,000 x 40,000 (6.4 GB) in a 91 MB file."""
    data = (minilm_dir / "model.safetensors").read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    e = header["embeddings.word_embeddings.weight"]
    e["shape"] = [40000, 40000]
    e["data_offsets"] = [e["data_offsets"][0], e["data_offsets"][0] + 40000 * 40000 * 4]
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    _refused(lambda: open_checkpoint(path), CorruptFile, path, "past the end of the data")


def test_gguf_lying_zero_width_rows(real_gguf_parts: Any, tmp_path: Path) -> None:
    """Shape (10**12, 0) holds 0 bytes: without the dimension bound, asking for its rows made ``taoke.open``'s
    ``get`` build an index array of 10**12 entries (MemoryError, found by the fuzzer)."""
    path = tmp_path / "zero-width.gguf"
    path.write_bytes(_gguf(real_gguf_parts, [("token_embd.weight", (0, 10**12), F32, b"")]))
    with pytest.raises(CorruptFile, match="could hold") as e:
        open_checkpoint(path)
    _one_line(e.value, path)


# -- messages ----------------------------------------------------------------------------------------------------
def test_names_from_the_file_cannot_break_the_line(real_gguf_parts: Any, tmp_path: Path) -> None:
    """A tensor name with line breaks and control characters, quoted in an error, stays one printable line."""
    path = tmp_path / "names.gguf"
    name = "evil\nname\r\x00\x1b[2J\u2028" + "x" * 5000
    path.write_bytes(_gguf(real_gguf_parts, [(name, (1 << 40,), F32, b"")]))
    with pytest.raises(CorruptFile) as e:
        open_checkpoint(path)
    msg = _one_line(e.value, path)
    assert "\\n" in msg and "\\x00" in msg and len(msg) <= 2000


def test_cli_last_guard_names_file_and_check(smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An exception no check anticipated still gives one line, with the file being read and the failing code."""
    from taoke.cli import main
    from taoke.io import gguf as gguf_mod

    def boom(self: Any, suffix: str) -> Any:
        raise ValueError("something no check anticipated\non two lines")

    monkeypatch.setattr(gguf_mod.GGUFCheckpoint, "_arch_kv", boom)
    rc = main(["inspect", str(smollm2_gguf)])
    err = capsys.readouterr().err.strip()
    assert rc == 70 and len(err.splitlines()) == 1, err
    assert err.startswith(f"taoke: error: {smollm2_gguf}: internal error in taoke.io.gguf.GGUFCheckpoint.config."), err
    assert "ValueError: something no check anticipated on two lines" in err, err


def test_cli_memory_error_names_file(smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from taoke.cli import main
    from taoke.io import gguf as gguf_mod

    def oom(self: Any, *a: Any, **k: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(gguf_mod.GGUFCheckpoint, "_build_infos", oom)
    rc = main(["inspect", str(smollm2_gguf)])
    err = capsys.readouterr().err.strip()
    assert rc == 70 and len(err.splitlines()) == 1, err
    assert err.startswith(f"taoke: error: {smollm2_gguf}: out of memory in taoke.io.gguf.GGUFCheckpoint._parse:"), err


@pytest.mark.parametrize("lie", [
    b"\x8e" + (8 << 30).to_bytes(8, "little") + b"abc.",   # BINBYTES8 declaring 8 GB, 3 bytes follow
    b"]r" + (1 << 30).to_bytes(4, "little") + b".",        # LONG_BINPUT at memo index 2**30 (an 8 GB memo)
])  # fmt: skip
def test_torch_pickle_lies_refused_before_allocation(tmp_path: Path, lie: bytes) -> None:
    """CPython's unpickler allocates what an opcode declares before reading it; the reader walks the opcodes
    first, so an 8 GB claim in a few bytes is one CorruptFile line and a small peak."""
    import pickle

    from taoke.io.torch_bin import _LEGACY_MAGIC

    path = tmp_path / "legacy.bin"
    path.write_bytes(pickle.dumps(_LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2) + b"\x80\x02" + lie)
    _refused(lambda: open_checkpoint(path), CorruptFile, path)


def test_tokenizer_id_lie_refused_before_allocation(minilm_dir: Path, tmp_path: Path) -> None:
    """The real MiniLM tokenizer.json with one token moved to id 9,999,999: the loader would size two tables of
    10M entries for 30,522 tokens; it is one TokenizerError line, with a small peak."""
    from taoke import tokenizers
    from taoke.errors import TokenizerError

    doc = json.loads((minilm_dir / "tokenizer.json").read_text())
    doc["model"]["vocab"]["hello"] = 9_999_999
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc))
    e = _refused(lambda: tokenizers.load(str(path)), TokenizerError, path, "implausible token id", limit=64 << 20)
    assert "9999999 for 30527 entries" in str(e)  # 30,522 tokens + 5 added (they count once each)


def test_tokenizer_json_of_the_wrong_shape(minilm_dir: Path, tmp_path: Path) -> None:
    from taoke import tokenizers
    from taoke.errors import TokenizerError

    doc = json.loads((minilm_dir / "tokenizer.json").read_text())
    doc["model"]["vocab"]["hello"] = {"not": "an id"}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TokenizerError, match="malformed tokenizer file") as e:
        tokenizers.load(str(path))
    _one_line(e.value, path)


def test_gguf_hyper_parameters_of_the_wrong_type(real_gguf_parts: Any, tmp_path: Path) -> None:
    """The real SmolLM2 key/values with the width as a string and the head count as NaN: the config says
    "unknown" for both (no ``d // heads`` on a string), and the model still opens and maps its roles."""
    kvs, norm = real_gguf_parts
    bad = {"llama.embedding_length": (8, b"576"), "llama.attention.head_count": (6, float("nan"))}
    kvs = [(k, *bad[k], None) if k in bad else (k, t, v, it) for k, t, v, it in kvs]
    path = tmp_path / "types.gguf"
    path.write_bytes(_gguf((kvs, norm), []))
    with taoke.open(str(path)) as m:
        cfg = m.checkpoint.config()
        assert cfg.hidden_size is None and cfg.num_heads is None and cfg.head_dim is None
        assert cfg.num_kv_heads == 3 and cfg.num_layers == 30
        assert "final_norm" in m.roles.refs
