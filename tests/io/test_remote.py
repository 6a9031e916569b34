"""HTTP range-request reading against a real local HTTP server serving the real artifacts."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from taoke.errors import RemoteError
from taoke.io import open_checkpoint
from taoke.io.remote import BLOCK_SIZE, HttpSource
from tests.httpserver import serve_directory

EMB = "embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def weights_root(data_dir: Path) -> Path:
    return data_dir / "weights"


def test_remote_safetensors_equals_local(weights_root: Path, minilm_dir: Path) -> None:
    local = open_checkpoint(minilm_dir / "model.safetensors")
    with serve_directory(weights_root) as srv:
        ck = open_checkpoint(srv.url("all-minilm-l6-v2/model.safetensors"))
        assert ck.format == "safetensors"
        assert set(ck.tensor_infos()) == set(local.tensor_infos())
        src = ck.sources[0]
        assert isinstance(src, HttpSource)
        assert src.requests <= 2  # size probe + one cached block holding the 11 KB header
        opened = src.bytes_transferred
        rows = [3, 30000, 12345]
        np.testing.assert_array_equal(ck.read(EMB, rows), local.read(EMB, rows))
        for name in ("encoder.layer.2.attention.self.key.weight", "pooler.dense.bias"):
            np.testing.assert_array_equal(ck.read(name), local.read(name))
        assert ck.bytes_read > 0
        row_cost = src.bytes_transferred - opened
        assert row_cost < 0.02 * src.size
        assert src.bytes_transferred < 0.05 * src.size
        assert ck.file_size == local.file_size


def test_row_read_transfers_a_small_fraction(weights_root: Path) -> None:
    with serve_directory(weights_root) as srv:
        ck = open_checkpoint(srv.url("all-minilm-l6-v2/model.safetensors"))
        src = ck.sources[0]
        before_net, before_sent = src.bytes_transferred, srv.bytes_sent
        ck.read(EMB, [29000])
        # one row lives in one 256 KiB block: at most one block crosses the wire
        assert src.bytes_transferred - before_net <= BLOCK_SIZE
        assert srv.bytes_sent - before_sent <= BLOCK_SIZE
        assert srv.bytes_sent < 0.01 * src.size


def test_remote_sharded_index(minilm_dir: Path, tmp_path: Path) -> None:
    tensors = load_file(str(minilm_dir / "model.safetensors"))
    names = sorted(tensors)
    weight_map = {}
    for i, part in enumerate((names[::2], names[1::2])):
        fname = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({k: tensors[k] for k in part}, str(tmp_path / fname))
        weight_map.update(dict.fromkeys(part, fname))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    with serve_directory(tmp_path) as srv:
        ck = open_checkpoint(srv.url("model.safetensors.index.json"))
        assert len(ck.tensor_infos()) == 104
        assert all(i.file.startswith("http://127.0.0.1:") for i in ck.tensor_infos().values())
        np.testing.assert_array_equal(ck.read(EMB, [77]), tensors[EMB][[77]])
        (tmp_path / "model-00002-of-00002.safetensors").unlink()
        with pytest.raises(RemoteError, match="not found"):
            open_checkpoint(srv.url("model.safetensors.index.json"))


def test_remote_gguf(weights_root: Path, smollm2_gguf: Path) -> None:
    local = open_checkpoint(smollm2_gguf)
    with serve_directory(weights_root) as srv:
        ck = open_checkpoint(srv.url(smollm2_gguf.relative_to(weights_root)))
        assert ck.format == "gguf"
        assert len(ck.tensor_infos()) == len(local.tensor_infos()) == 272
        name = "token_embd.weight"
        np.testing.assert_array_equal(ck.read(name, [0, 1000]), local.read(name, [0, 1000]))
        assert srv.bytes_sent < 0.25 * smollm2_gguf.stat().st_size


def test_server_ignoring_range_is_refused_without_download(weights_root: Path, smollm2_gguf: Path) -> None:
    with serve_directory(weights_root, honor_range=False) as srv:
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="server ignores HTTP range requests; download the file first") as ei:
            HttpSource(srv.url(smollm2_gguf.relative_to(weights_root)))
        assert time.monotonic() - t0 < 60  # generous (shared machine): a download of the body would take far longer
        assert "\n" not in str(ei.value)
        time.sleep(0.2)  # let the server thread notice the closed connection
        # the 98 MB body was not read: at most what sat in socket buffers got written
        assert srv.bytes_sent < 0.2 * smollm2_gguf.stat().st_size


def test_404(tmp_path: Path) -> None:
    with serve_directory(tmp_path) as srv, pytest.raises(RemoteError, match="not found"):
        open_checkpoint(srv.url("nope.safetensors"))


def test_5xx_is_retried(weights_root: Path) -> None:
    with serve_directory(weights_root, fail_first=2) as srv:
        src = HttpSource(srv.url("all-minilm-l6-v2/config.json"), backoff=0.01)
        assert json.loads(src.read_at(0, src.size))["model_type"] == "bert"
        assert len(srv.requests) == 3  # 2 failures, then the size probe, which brings the first 64 KiB (the file)
    with serve_directory(weights_root, fail_first=10) as srv, \
            pytest.raises(RemoteError, match="HTTP 503 after 3 attempts"):
        HttpSource(srv.url("all-minilm-l6-v2/config.json"), backoff=0.01, retries=2)


def test_timeout(weights_root: Path) -> None:
    with serve_directory(weights_root, stall_s=1.0) as srv, pytest.raises(RemoteError, match="timed out"):
        HttpSource(srv.url("all-minilm-l6-v2/config.json"), timeout=0.2, retries=1, backoff=0.01)


def test_connection_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on this port now
    with pytest.raises(RemoteError, match="cannot connect"):
        HttpSource(f"http://127.0.0.1:{port}/model.safetensors")


def test_remote_hf_folder_equals_local(weights_root: Path, minilm_dir: Path) -> None:
    """A repository URL (trailing slash): config, card and tokenizer fetched whole, weights by range requests."""
    import taoke

    with serve_directory(weights_root) as srv, taoke.open(str(minilm_dir)) as local:
        url = srv.url("all-minilm-l6-v2") + "/"
        with taoke.open(url) as remote:
            assert remote.format == local.format == "hf"
            assert remote.config == local.config
            assert remote.roles.family == local.roles.family and remote.layers == local.layers
            assert remote.tokenizer().tokens_digest == local.tokenizer().tokens_digest
            np.testing.assert_array_equal(remote.get("embed", rows=[5, 900]), local.get("embed", rows=[5, 900]))
            assert remote.checkpoint.metadata["weights_file"] == "model.safetensors"
            assert 0 < remote.bytes_read < 0.05 * remote.file_size
            meta_dir = remote.checkpoint._meta_dir
        assert not Path(meta_dir).exists()  # the fetched small files are removed on close
        with pytest.raises(RemoteError, match="not found"):
            taoke.open(srv.url("no-such-model") + "/")


def test_batched_ranges_are_coalesced_and_concurrent(weights_root: Path, minilm_dir: Path) -> None:
    """Scattered spans: nearby ones share a request, the requests run concurrently (bounded), bytes are exact."""
    data = (minilm_dir / "model.safetensors").read_bytes()
    rng = np.random.default_rng(0)
    near = [(int(o), 300) for o in sorted(rng.choice(2_000_000, size=200, replace=False) + 1_000_000)]
    far = [(int(o) * 400_000, 1000) for o in range(1, 200)]
    spans = near + far
    with serve_directory(weights_root, stall_s=0.01) as srv:
        src = HttpSource(srv.url("all-minilm-l6-v2/model.safetensors"), concurrency=4)
        before = len(srv.requests)
        got = src.read_ranges(spans)
        assert got == [data[o : o + n] for o, n in spans]
        sent = len(srv.requests) - before
        # 200 spans within 2 MB (average gap ~10 KB < the 16 KiB coalescing gap) cost a few requests; the 199 far
        # ones (400 KB apart) one each
        assert 199 < sent < 199 + 40
        assert 2 <= srv.state.max_inflight <= 4
        assert src.bytes_read == sum(n for _, n in spans)
        assert src.bytes_transferred - 1 < 2_000_000 + 400 + 199 * 1000  # gaps of the near group, nothing more


def test_coalesce_respects_max_request() -> None:
    from taoke.io.remote import coalesce

    groups = coalesce([(0, 100), (150, 100), (300, 100)], gap=100, max_request=250)
    assert [(a, b) for a, b, _ in groups] == [(0, 250), (300, 400)]
    assert coalesce([(0, 0), (10, 5)], gap=0) == [(10, 15, [1])]


def test_cut_transfer_is_retried(weights_root: Path, minilm_dir: Path) -> None:
    data = (minilm_dir / "model.safetensors").read_bytes()
    with serve_directory(weights_root, cut_every=3) as srv:
        src = HttpSource(srv.url("all-minilm-l6-v2/model.safetensors"), backoff=0.01, concurrency=2)
        spans = [(k * 1_000_000, 20_000) for k in range(1, 40)]
        assert src.read_ranges(spans) == [data[o : o + n] for o, n in spans]
        assert src.retried > 0
        big = src.read_at(5_000_000, 3_000_000)  # one read larger than a block, also through a cut
        assert big == data[5_000_000:8_000_000]


def test_large_read_is_split_into_concurrent_parts(weights_root: Path, minilm_dir: Path) -> None:
    data = (minilm_dir / "model.safetensors").read_bytes()
    with serve_directory(weights_root) as srv:
        src = HttpSource(srv.url("all-minilm-l6-v2/model.safetensors"), max_request=1 << 20, concurrency=4)
        before = len(srv.requests)
        assert src.read_at(1000, 10_000_000) == data[1000:10_001_000]
        assert len(srv.requests) - before == 10  # ceil(10 MB / 1 MiB)
