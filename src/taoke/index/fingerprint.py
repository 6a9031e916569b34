"""The fingerprint: a compact, versioned record of a checkpoint from which the white-box tests run without it.

``make_fingerprint(location)`` opens a model (file, folder or ``http(s)://`` URL, through :func:`taoke.open`),
reads only what the tests need and returns a :class:`Fingerprint`; ``fp.save(path)`` writes one file
(a ``.npz`` zip: a JSON header ``{"format": "taoke.fingerprint", "version": 1, ...}`` plus named arrays).
:class:`taoke.index.view.FingerprintView` serves a fingerprint as an :class:`~taoke.whitebox.source.EvidenceSource`
(what :func:`taoke.whitebox.compare.gather_evidence` reads), so ``taoke compare FP_A FP_B`` decides lineage
without the weights.

What is kept (per model; SmolLM2-135M: ~4 MB, see docs/index.md):

* header facts: declared/inferred :class:`~taoke.io.base.ModelConfig`, card (name, declared ``base_model``),
  every canonical role with its shape, stored dtype, tensor name and how it was mapped (the architecture diff and
  the storage-precision tolerances of :mod:`taoke.whitebox.exact` need these);
* the full tokenizer (:class:`~taoke.tokenizers.Vocab`, zlib-compressed: tokens, types, merges, specials), so
  the tokenizer evidence survives unchanged;
* *exact sample*: for every 2-D role, ``sample_rows`` rows × ``sample_cols`` columns at indices that are a pure
  function of (role, shape) — the same cells in every fingerprint — stored as float32; 1-D roles (norm gains,
  biases) in full. Re-packaged copies (format, dtype, names, orientation) compare as in the full test; the
  sample is smaller (8×128 cells instead of 32 full rows), which the docs state;
* *anchor embeddings*: the embedding rows of the regular tokens whose byte-string hash is ``0 mod 32`` (at most
  ``anchor_cap``, lowest hash first), float16. Anchors are chosen by the token's bytes, so two models that share
  tokens keep the same anchors whatever their ids, and Procrustes alignment (:mod:`taoke.whitebox.align`) runs on
  them instead of on all shared tokens. The rows whose *id* hashes to ``0 mod 32`` are kept too, so a model
  without a tokenizer (aligned by id) shares anchors with every relative;
* *canonical MLP units*: in every layer the ``units`` hidden units with the largest ``‖gate_u‖·‖up_u‖·‖down_u‖``
  (read vectors after folding the pre-MLP norm gain, as :func:`taoke.whitebox.mlp.mlp_parts` does). The key is
  invariant to a permutation of units, a rotation of the residual stream with folded norms and the cancelling
  rescalings of the zoo (``up·c``, ``down/c``); it is stable under noise (measured on SmolLM2: 27–31 of the top 32
  units survive σ = 0.3·std noise, 32/32 at 0.01). A copy therefore keeps (mostly) the same units, and the
  hidden-unit agreement test of :mod:`taoke.whitebox.units` runs on them (its 1/k! bound holds for any subset).
  In an MoE layer the experts' units are stacked first (as the full-weight test does) and the top units of the
  whole layer kept. Rows are stored as ``mlp_parts`` gives them (int8 with a per-row scale), so the view serves
  exactly what the full-weight test would see on those units;
* sketches for the index (:mod:`taoke.index.sketch`): a MinHash of the regular tokens and a rotation/permutation-
  invariant descriptor of the embedding geometry for sign-random-projection LSH;
* per-role standard deviations of each attention matrix, from the exact sample's full rows (8 rows, no extra
  read: separate rows for it were 1/3 to 2/3 of a light fingerprint's reads) for the reference std statistic.

Concessions: reading a layer's unit keys needs all of that layer's MLP weights, so the default fingerprint reads
the MLPs once (~60% of a dense checkpoint). ``unit_layers=k`` keeps units on k evenly spaced interior layers only
(``k=1``: ~4–5% of a 30-layer model; the unit test then runs on the layers both sides keep); ``units=0`` gives the
light fingerprint (header, tokenizer, anchors, samples: ~2–5%), which supports every test but the hidden-unit one
(see ``benchmarks/index``). Memory is bounded by one layer's MLP, not by the model. Attention heads are not kept (the unit test does not use them). Experts stored stacked in one tensor
(GGUF ``*_exps``) get no exact sample (their units are kept like any MoE layer's).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taoke.errors import CorruptFile, ReaderError
from taoke.index.record import check_record, read_record
from taoke.serialize import jsonable
from taoke.tokenizers import vocab_to_arrays

FORMAT = "taoke.fingerprint"
VERSION = 2  # 2: unit rows stored as mlp_parts gives them (gain folded, MoE experts stacked)
SUFFIX = ".tkfp"

DEFAULT_UNITS = 32
SAMPLE_ROWS = 8
SAMPLE_COLS = 128
ANCHOR_MOD = 32
SAMPLE_EXPERTS = 2  # experts per MoE layer with an exact sample (256 experts × 3 roles × 58 layers otherwise)
ANCHOR_CAP = 4096
#: float arrays at least this big are stored in the record without compression (see Fingerprint.to_bytes): deflating
#: 8 MiB of float16 weights takes ~0.2 s here and saves ~1.8 MB; below it, compression costs little
STORE_FLOATS_FROM = 8 << 20


def _role_seed(role: str, shape: tuple[int, ...]) -> int:
    h = hashlib.blake2b(f"{role}|{','.join(map(str, shape))}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little")


def sample_cells(role: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """The fixed (rows, cols) a fingerprint keeps of a role: a pure function of its shape (not of its name, so
    tensors paired by content when names cannot be trusted still compare the same cells).

    1-D roles are kept whole (``cols`` is None). Same shape → same cells in every fingerprint.

    >>> r, c = sample_cells("layers.0.mlp.up", (1536, 576)); r.shape, c.shape
    ((8,), (128,))
    """
    n = shape[0] if shape else 1
    if len(shape) <= 1:
        return np.arange(n, dtype=np.int64), None
    rng = np.random.default_rng(_role_seed("sample", shape))
    rows = np.sort(rng.choice(n, size=min(SAMPLE_ROWS, n), replace=False)).astype(np.int64)
    m = int(np.prod(shape[1:]))
    cols = np.sort(rng.choice(m, size=min(SAMPLE_COLS, m), replace=False)).astype(np.int64)
    return rows, cols


def unit_key(parts: Mapping[str, np.ndarray]) -> np.ndarray:
    """Canonical unit-selection key ``‖gate_u‖·‖up_u‖·‖down_u‖`` (gate left out where the MLP has none)."""
    k = np.linalg.norm(parts["up"], axis=1).astype(np.float64)
    if "down" in parts:
        k = k * np.linalg.norm(parts["down"], axis=1)
    if "gate" in parts:
        k = k * np.linalg.norm(parts["gate"], axis=1)
    return k


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows with a per-row scale (how unit rows are stored); :func:`dequantize_rows` inverts it."""
    x = np.asarray(x, dtype=np.float32)
    s = np.max(np.abs(x), axis=1) / 127.0
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    return np.clip(np.rint(x / s[:, None]), -127, 127).astype(np.int8), s


def dequantize_rows(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * s[:, None].astype(np.float32)


def anchor_ids(vocab: Any, n_rows: int, *, cap: int = ANCHOR_CAP, mod: int = ANCHOR_MOD) -> np.ndarray:
    """Embedding rows kept as anchors: regular tokens whose 64-bit byte hash is 0 mod ``mod``, lowest hash first
    (at most ``cap``), returned sorted by id. Without a tokenizer, ids are hashed instead of token bytes."""
    if vocab is not None:
        items = [(h, i) for h, i in vocab.hashes.items() if h % mod == 0 and i < n_rows]
    else:
        from taoke.tokenizers import token_hash64

        items = [(h, i) for i in range(n_rows) if (h := token_hash64(i.to_bytes(4, "little"))) % mod == 0]
    items.sort()
    return np.asarray(sorted(i for _h, i in items[:cap]), dtype=np.int64)


# -- the record ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A fingerprint: ``header`` (JSON-able dict, carries format and version) and named numpy ``arrays``."""

    header: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.header.get("name") or "")

    @property
    def location(self) -> str:
        return str(self.header["source"]["location"])

    @property
    def digest(self) -> str:
        """sha256 over the exact samples of every role (equal digests ⇒ identical sampled weights)."""
        return str(self.header.get("content_digest", ""))

    def to_bytes(self) -> bytes:
        """An ``.npz`` (zip of ``.npy`` members). Members are deflated at level 1 (level 6 — ``np.savez_compressed``
        — shrinks them barely more at ~5× the time), except float arrays of ``STORE_FLOATS_FROM`` (8 MiB) or more,
        which are stored: those are sampled weights (the anchor embedding rows: 32 MB for a 1B model with a 128k
        vocabulary, 3.5 MB for SmolLM2-135M), which deflate only to ~78 % at ~40 MB/s — a quarter of a 1B model's
        fingerprinting time for a fifth of its size."""
        buf = io.BytesIO()
        hdr = np.frombuffer(json.dumps(self.header, sort_keys=True).encode(), dtype=np.uint8)
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for key, arr in (("__header__", hdr), *self.arrays.items()):
                stored = arr.dtype.kind == "f" and arr.nbytes >= STORE_FLOATS_FROM
                z.compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED  # read by the next open()
                with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temp file + rename); returns the path."""
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, p)
        return p

    @classmethod
    def from_bytes(cls, data: bytes, *, subject: str = "<bytes>") -> Fingerprint:
        header, arrays = read_record(data, subject=subject)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise CorruptFile(f"not a {FORMAT} file", subject=subject)
        if header.get("version") != VERSION:
            raise CorruptFile(
                f"{FORMAT} version {header.get('version')!r} (this taoke reads {VERSION})", subject=subject,
                hint="re-create the fingerprint with this taoke",
            )  # fmt: skip
        check_record(header, arrays, subject=subject)
        return cls(header, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Fingerprint:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ReaderError(f"cannot read fingerprint: {e.strerror or e}", subject=str(path)) from None
        return cls.from_bytes(data, subject=str(path))



def is_fingerprint_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a local file holding a taoke fingerprint (checked by content, not only the suffix)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with zipfile.ZipFile(p) as z:
            return "__header__.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def unit_layer_choice(n_layers: int, k: int) -> list[int]:
    """The layers whose units a fingerprint keeps: all when ``k`` is 0 (or ≥ the depth), else ``k`` evenly spaced
    interior layers (a pure function of the depth, so fingerprints of one architecture keep the same layers).

    >>> unit_layer_choice(30, 1), unit_layer_choice(30, 2), unit_layer_choice(4, 0)
    ([15], [10, 20], [0, 1, 2, 3])
    """
    if k <= 0 or k >= n_layers:
        return list(range(n_layers))
    return sorted({min(n_layers - 1, max(0, round((j + 1) * n_layers / (k + 1)))) for j in range(k)})


#: MLP bytes a default fingerprint reads for canonical units (as many evenly spaced layers as fit): a bounded sample
UNIT_BUDGET = 512 << 20
UNIT_SHARE = 0.05  # ... and at most this share of a larger checkpoint


def mlp_bytes(m: Any, layer: int) -> int:
    """Stored bytes of layer ``layer``'s MLP (gate/up/down, every expert): what its canonical units cost to read."""
    total = 0
    for role, ref in m.roles.refs.items():
        if role.startswith(f"layers.{layer}.mlp.") and role.rsplit(".", 1)[-1] in ("up", "gate", "down"):
            try:
                info = m.checkpoint.info(ref.name)
                share = int(np.prod(ref.shape)) / max(1, int(np.prod(info.shape)))
                total += int(info.nbytes * min(1.0, share))
            except Exception:  # noqa: BLE001 - an estimate: 2 bytes per value
                total += 2 * int(np.prod(ref.shape))
    return total


def auto_unit_layers(m: Any, units: int, budget: int = UNIT_BUDGET, share: float = UNIT_SHARE) -> tuple[int, int]:
    """(units, unit_layers) of a default fingerprint: every layer when all the MLPs fit ``budget`` bytes (a small
    model: ``unit_layers`` 0); else as many evenly spaced layers as ``min(budget, share × file size)`` allows; no
    units (the light fingerprint) when one layer's MLP alone is over that."""
    n = int(m.layers)
    if units <= 0 or n == 0:
        return 0, 0
    per = max(1, mlp_bytes(m, n // 2))
    if per * n <= budget:
        return units, 0
    k = int(min(budget, share * max(1, int(m.file_size))) // per)
    if k <= 0:
        return 0, 0
    return units, min(k, n)


def make_fingerprint(
    model: Any,
    *,
    units: int = DEFAULT_UNITS,
    unit_layers: int | None = None,
    name: str | None = None,
    location: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Fingerprint:
    """Fingerprint ``model`` (a :class:`taoke.model.Model` or anything :func:`taoke.open` accepts).

    ``unit_layers`` = k > 0 keeps canonical units on k evenly spaced interior layers only (:func:`unit_layer_choice`),
    0 on every layer; None (the default) picks k so that the MLPs read for units stay within
    :data:`UNIT_BUDGET` and 5 % of the file (:func:`auto_unit_layers`; SmolLM2-135M: every layer, Llama-3.2-1B and
    a 7B model: 1, a 70B: none — a light fingerprint). Each
    unit layer's MLP is read once, streamed, so memory stays bounded whatever its size (docs/index.md).
    ``progress(stage, fraction)`` is called as the layers are done (the CLI draws it)."""
    import taoke
    from taoke.model import Model

    own = not isinstance(model, Model)
    m = taoke.open(str(model)) if own else model
    try:
        if unit_layers is None:
            units, unit_layers = auto_unit_layers(m, units)
        return _fingerprint(m, units=units, unit_layers=unit_layers, name=name, location=location or m.path,
                            progress=progress)  # fmt: skip
    finally:
        if own:
            m.close()


def _fingerprint(m: Any, *, units: int, unit_layers: int, name: str | None, location: str,
                 progress: Callable[[str, float], None] | None = None) -> Fingerprint:  # fmt: skip
    from taoke.index.sketch import minhash

    t0 = time.perf_counter()
    refs = m.roles.refs
    arrays: dict[str, np.ndarray] = {}
    roles: dict[str, Any] = {}
    stds: dict[str, float] = {}
    samples: dict[str, np.ndarray] = {}
    vocab = None
    tok_meta: dict[str, Any] | None = None
    notes: list[str] = []
    try:
        vocab = m.tokenizer()
    except Exception as e:  # noqa: BLE001 - a missing tokenizer is recorded, not fatal
        notes.append(f"tokenizer unavailable: {str(e).splitlines()[0][:160]}")
    if vocab is not None:
        va, tok_meta = vocab_to_arrays(vocab)
        arrays.update(va)
        arrays["minhash"] = minhash(vocab)

    # work layer by layer (non-layer roles and the anchors first): a tensor stored transposed is read whole by any
    # row request, so such reads are kept until the layer's samples, units (or anchors) are taken — bounded by
    # one layer (or the embedding) — instead of reading the tensor once per use
    by_layer: dict[int, list[str]] = {-1: []}
    for role in refs:
        by_layer.setdefault(int(role.split(".")[1]) if role.startswith("layers.") else -1, []).append(role)
    cache = _WholeReads(m)
    chosen = set(unit_layer_choice(int(m.layers), unit_layers)) if units > 0 else set()
    kept_layers: list[int] = []
    for n_done, layer in enumerate(sorted(by_layer)):
        if progress is not None:
            progress("reading samples, anchors and units", n_done / len(by_layer))
        todo = sorted(by_layer[layer])
        sampled = [r for r in todo if _expert_of(r) < SAMPLE_EXPERTS]
        cache.prefetch(sampled)
        for role in todo:
            _sample_role(cache, role, roles, stds, samples, sample=_expert_of(role) < SAMPLE_EXPERTS)
        if layer < 0:
            arrays.update(_anchors(cache, vocab))
        elif layer in chosen and _unit_layer(cache, layer, units, arrays):
            kept_layers.append(layer)
        cache.clear()
    content = hashlib.sha256()
    for role in sorted(samples):
        arrays[f"s.{role}"] = samples[role]
        content.update(role.encode() + samples[role].tobytes())

    cfg = m.config
    card = m.card
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": name or _default_name(location),
        "source": {
            "location": location,
            "format": m.format,
            "file_size": int(m.file_size),
            "bytes_read": int(m.bytes_read),
            "seconds": round(time.perf_counter() - t0, 3),
        },
        "config": jsonable(cfg.to_dict()),
        "declared_config": m.declared_config is not None,
        "family": m.roles.family,
        "role_method": str(getattr(m.roles, "method", "names")),
        "layers": int(m.layers),
        "roles": roles,
        "card": None if card is None else {"name": card.name, "base_models": list(card.base_models),
                                           "source": card.source, "license": card.license},  # fmt: skip
        "params": {"units": units, "unit_layers": unit_layers, "sample_rows": SAMPLE_ROWS, "sample_cols": SAMPLE_COLS,
                   "anchor_mod": ANCHOR_MOD, "anchor_cap": ANCHOR_CAP},  # fmt: skip
        "unit_layers": kept_layers,
        "tokenizer": tok_meta,
        "stds": stds,
        "content_digest": content.hexdigest(),
        "notes": notes,
        "dtypes": _dtype_census(m),
        "param_count": int(m.param_count),
    }
    return Fingerprint(header, arrays)


class _WholeReads:
    """``m`` as :func:`taoke.whitebox.mlp.mlp_parts` sees it; a tensor stored transposed is read whole once per
    layer (kept until :meth:`clear`) and every request for it is answered from that read."""

    def __init__(self, m: Any) -> None:
        from taoke.whitebox.reader import RowReader

        self.m = m
        self.whole: dict[str, np.ndarray] = {}
        self.ready: dict[str, np.ndarray] = {}
        self.reader = RowReader(m)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.m, name)

    def prefetch(self, roles: list[str]) -> None:
        """Read the exact-sample rows of ``roles`` in one batch (concurrent over HTTP; plainly stored roles only)."""
        from taoke.whitebox.reader import RowRequest

        want = []
        for role in roles:
            shape = tuple(int(x) for x in self.m.roles.refs[role].shape)
            if len(shape) >= 2 and self.reader.plain(role) is not None:
                want.append((role, sample_cells(role, shape)[0]))
        if want:
            for (role, _rows), x in zip(want, self.reader.read([RowRequest(r, rows) for r, rows in want]), strict=True):
                self.ready[role] = x

    def get(self, role: str, rows: Any = None) -> np.ndarray:
        if role in self.ready and rows is not None:
            return self.ready.pop(role)
        if rows is not None and not isinstance(rows, slice) and role not in self.whole and self.reader.plain(role):
            from taoke.whitebox.reader import RowRequest

            # scattered rows (anchors): one batch, not one read per run of rows
            return self.reader.read([RowRequest(role, np.asarray(rows, dtype=np.int64))])[0]
        ref = self.m.roles.refs.get(role)
        if role not in self.whole and not getattr(ref, "transposed", False):  # rows are cheap: read, keep nothing
            return np.asarray(self.m.get(role, rows=rows))
        if role not in self.whole:
            self.whole[role] = np.asarray(self.m.get(role))
        x = self.whole[role]
        return x if rows is None else x[rows]

    def clear(self) -> None:
        self.whole.clear()
        self.ready.clear()


def _expert_of(role: str) -> int:
    """The expert index of an expert role (``layers.3.mlp.experts.7.up`` → 7), -1 otherwise."""
    parts = role.split(".")
    return int(parts[4]) if len(parts) > 4 and parts[2] == "mlp" and parts[3] == "experts" else -1


def _sample_role(cache: _WholeReads, role: str, roles: dict[str, Any], stds: dict[str, float],
                 samples: dict[str, np.ndarray], *, sample: bool = True) -> None:  # fmt: skip
    m = cache.m
    ref = m.roles.refs[role]
    shape = tuple(int(x) for x in ref.shape)
    try:
        dtype = str(m.checkpoint.info(ref.name).dtype)
    except Exception:  # noqa: BLE001 - a role whose tensor info is unavailable is still described
        dtype = "?"
    roles[role] = {"name": ref.name, "shape": list(shape), "dtype": dtype, "how": str(ref.how),
                   "transposed": bool(ref.transposed)}  # fmt: skip
    if ref.stack_index is not None or not sample:  # stacked experts, experts past SAMPLE_EXPERTS: no exact sample
        return
    rows, cols = sample_cells(role, shape)
    x = np.asarray(cache.get(role, rows=rows), dtype=np.float32)
    if cols is not None:
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] < int(cols.max()) + 1:
            return
        if role.startswith("layers.") and ".attn." in role and len(shape) == 2:
            stds[role] = float(np.std(x2))  # the sample's full rows (8 × width values), no extra read
        x = np.ascontiguousarray(x2[:, cols])
    samples[role] = x


def _anchors(view: _WholeReads, vocab: Any) -> dict[str, np.ndarray]:
    """Anchor embedding rows (by token bytes, plus by id: a bare export without tokenizer still shares ~1/32 of
    the rows with its relatives by id) and the embedding-geometry descriptor."""
    from taoke.index.sketch import embedding_descriptor

    ref = view.m.roles.refs.get("embed")
    if ref is None or len(ref.shape) != 2:
        return {}
    n_rows = int(ref.shape[0])
    ids = anchor_ids(vocab, n_rows)
    all_ids = np.union1d(ids, anchor_ids(None, n_rows)) if vocab is not None else ids
    if not all_ids.size:
        return {}
    emb_all = np.asarray(view.get("embed", rows=all_ids), dtype=np.float32)
    return {"anchor.ids": all_ids, "anchor.emb": emb_all.astype(np.float16),
            "desc": embedding_descriptor(vocab, ids, emb_all[np.searchsorted(all_ids, ids)])}  # fmt: skip


def _unit_layer(view: _WholeReads, i: int, units: int, arrays: dict[str, np.ndarray]) -> bool:
    """Keep layer ``i``'s top ``units`` canonical units (as ``mlp_parts`` gives them) and its residual-channel
    profile; False if it has no MLP. A layer whose MLPs are stored plainly (not transposed or fused) is streamed
    (:func:`_unit_layer_streamed`): the same units and values, with memory bounded by a chunk."""
    from taoke.index.sketch import channel_profile
    from taoke.whitebox.mlp import mlp_parts

    if _unit_layer_streamed(view.m, i, units, arrays):
        return True
    parts = mlp_parts(view, i)
    if "up" not in parts:
        return False
    prof = channel_profile(parts)  # the body sketch's per-layer input (taoke.index.sketch)
    if prof is not None:
        arrays[f"ch.{i}"] = prof.astype(np.float16)
    key = unit_key(parts)
    sel = np.sort(np.argsort(-key, kind="stable")[: min(units, key.shape[0])])
    arrays[f"ui.{i}"] = sel.astype(np.int32)
    for part, x in parts.items():
        arrays[f"u.{i}.{part}"], arrays[f"us.{i}.{part}"] = quantize_rows(x[sel])
    return True


_CHUNK = 32 << 20  # float32 bytes per streamed block of rows


def _unit_layer_streamed(m: Any, i: int, units: int, arrays: dict[str, np.ndarray]) -> bool:
    """:func:`_unit_layer` in blocks of rows: per-unit norms of gate/up rows (norm gain folded) and of down columns,
    and the per-channel energies of :func:`taoke.index.sketch.channel_profile`, accumulated block by block; then
    the top units' rows, and their down columns in a second pass over down. False (nothing stored) when the
    layer's MLPs are not stored plainly — the caller then reads them whole."""
    from taoke.whitebox.mlp import norm_offset
    from taoke.whitebox.sampled import groups

    refs = m.roles.refs
    gs = groups(m, i)
    if not gs or any(refs[f"{g.prefix}.{p}"].transposed or refs[f"{g.prefix}.{p}"].layout is not None
                     or refs[f"{g.prefix}.{p}"].row_range is not None or refs[f"{g.prefix}.{p}"].stack_index is not None
                     for g in gs for p in (("gate", "up", "down") if g.gate else ("up", "down"))):  # fmt: skip
        return False
    gate_on = all(g.gate for g in gs)
    gain = None
    if m.has(f"layers.{i}.norm.mlp"):
        gain = np.asarray(m.get(f"layers.{i}.norm.mlp"), dtype=np.float32).reshape(-1) + np.float32(norm_offset(m))
    d = int(refs[f"{gs[0].prefix}.up"].shape[1])
    if gain is not None and gain.shape[0] != d:
        gain = None
    read_e = np.zeros(d, dtype=np.float64)
    write_e = np.zeros(d, dtype=np.float64)
    key_parts: list[np.ndarray] = []
    for g in gs:
        k = np.ones(g.units, dtype=np.float64)
        for part in ("up", "gate") if gate_on else ("up",):
            rows = max(1, _CHUNK // (4 * d))
            norms = np.empty(g.units, dtype=np.float64)
            for r0 in range(0, g.units, rows):
                x = np.asarray(m.get(f"{g.prefix}.{part}", rows=slice(r0, min(g.units, r0 + rows))), dtype=np.float32)
                if gain is not None:
                    x = x * gain[None, :]
                sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
                norms[r0 : r0 + x.shape[0]] = np.sqrt(sq)
                read_e += np.einsum("ij,ij->j", x, x, dtype=np.float64)
            k *= norms
        col = np.zeros(g.units, dtype=np.float64)
        rows = max(1, _CHUNK // (4 * g.units))
        for r0 in range(0, d, rows):
            y = np.asarray(m.get(f"{g.prefix}.down", rows=slice(r0, min(d, r0 + rows))), dtype=np.float32)
            col += np.einsum("ij,ij->j", y, y, dtype=np.float64)
            write_e[r0 : r0 + y.shape[0]] += np.einsum("ij,ij->i", y, y, dtype=np.float64)
        key_parts.append(k * np.sqrt(col))
    key = np.concatenate(key_parts)
    sel = np.sort(np.argsort(-key, kind="stable")[: min(units, key.shape[0])])
    offsets = np.cumsum([0] + [g.units for g in gs])
    picked: dict[str, list[np.ndarray]] = {p: [] for p in ("up", "gate", "down")}
    for gi, g in enumerate(gs):
        local = sel[(sel >= offsets[gi]) & (sel < offsets[gi + 1])] - offsets[gi]
        if not local.size:
            continue
        for part in ("up", "gate") if gate_on else ("up",):
            x = np.asarray(m.get(f"{g.prefix}.{part}", rows=local), dtype=np.float32)
            picked[part].append(x * gain[None, :] if gain is not None else x)
        cols = []
        rows = max(1, _CHUNK // (4 * g.units))
        for r0 in range(0, d, rows):
            y = np.asarray(m.get(f"{g.prefix}.down", rows=slice(r0, min(d, r0 + rows))), dtype=np.float32)
            cols.append(y[:, local])
        picked["down"].append(np.concatenate(cols, axis=0).T)
    tiny = np.finfo(np.float32).tiny
    arrays[f"ch.{i}"] = np.log(np.maximum(np.stack([read_e, write_e]), tiny)).astype(np.float32).astype(np.float16)
    arrays[f"ui.{i}"] = sel.astype(np.int32)
    for part, xs in picked.items():
        if xs:
            arrays[f"u.{i}.{part}"], arrays[f"us.{i}.{part}"] = quantize_rows(np.concatenate(xs, axis=0))
    return True


def _dtype_census(m: Any) -> dict[str, int]:
    try:
        return {k: int(v["params"]) for k, v in m.dtype_summary.items()}
    except Exception:  # noqa: BLE001
        return {}


def _default_name(location: str) -> str:
    s = location.rstrip("/")
    base = s.rsplit("/", 1)[-1]
    for suf in (".gguf", ".safetensors", ".onnx", ".bin", ".pt", ".pth"):
        if base.lower().endswith(suf):
            base = base[: -len(suf)]
    if base in ("model", "pytorch_model") and "/" in s:
        base = s.rsplit("/", 2)[-2]
    return base
