"""Build the derivation zoo: a labelled set of real models made from real bases by real transformations.

``build_zoo(dest)`` writes model folders (``model.safetensors`` with Hugging Face names + ``config.json`` +
``tokenizer.json``) and GGUF files under ``dest`` and a manifest ``dest/zoo.json``
(``{"format": "taoke.zoo", "version": 1, ...}``) that labels each entry with its parent (``base``), its
``relation`` to that parent, the ``transform`` and its ``params``, a ``layer_map`` where layers were dropped or
duplicated, and the sha256 of its weights file. :meth:`ZooManifest.pairs` turns the labels into the ground truth
for every pair of entries (repackaged / derived / independent / unrelated).

Bases: SmolLM2-135M-Instruct (the real Q4_1 GGUF, dequantised, Q/K rotary permutation undone) and
all-MiniLM-L6-v2 (the real safetensors). The transformations are in :mod:`taoke.zoo.transforms`; training (the
fine-tunes and the independently trained small Llamas) is in :mod:`taoke.zoo.train` on the real text of
:mod:`taoke.zoo.corpus`. The entries and what each is for are listed in ``docs/zoo.md``.

Relations (of an entry to its ``base``): ``original`` (a real model from the data set, no base), ``repackaged``
(same weights: format, dtype, quantisation, names, orientation), ``derived`` (weights computed from the base's),
``independent`` (same architecture, weights that do not come from the base: the std-matched copy, and the small
models trained from scratch, which have no base). Pairs are labelled by ancestry: one descends from the other or
both from a common ancestor through repackaged/derived edges → ``repackaged`` (all edges repackaged) or
``derived``; otherwise same architecture ``group`` → ``independent``; otherwise ``unrelated``.

Idempotent: an entry whose weights file exists with the recorded size, built from the same recipe (``recipe``
hash of transform, params, seed and zoo version), is skipped (``verify=True`` also re-hashes it). Determinism:
each entry draws from ``numpy.random.default_rng([rng_seed, crc32(name)])`` (and torch is seeded from it), so an
entry does not depend on which other entries were built or in which order. Simplification accepted: bitwise
reproducibility of the *trained* entries across machines is not promised (torch CPU kernels may differ), only
on one machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from taoke.errors import CorruptFile, ReaderError, UsageError

FORMAT = "taoke.zoo"
VERSION = 1
RELATIONS = ("original", "repackaged", "derived", "independent", "unrelated")
Subset = Literal["fast", "full"]

SMOLLM2_GGUF = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIR = "weights/all-minilm-l6-v2"
SMOL_GROUP = "smollm2-135m"
TINY_GROUP = "tiny-llama-d128-l4"
MINILM_GROUP = "minilm-l6-h384"


# -- manifest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZooEntry:
    """One labelled model of the zoo."""

    name: str
    path: str  # relative to the zoo folder, or absolute for originals that live in the data set
    base: str | None
    relation: str
    transform: str
    params: Mapping[str, Any] = field(default_factory=dict)
    layer_map: tuple[int, ...] | None = None  # child layer j is parent layer layer_map[j]
    sha256: str | None = None  # of the weights file
    format: str = "hf"  # "hf" (folder with model.safetensors) | "gguf" (a file)
    group: str = ""  # architecture family; independent pairs share it
    subset: str = "fast"
    size: int = 0  # bytes of the weights file
    seconds: float = 0.0  # time it took to build
    recipe: str = ""  # hash of what produced it (for idempotency)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "base": self.base,
            "relation": self.relation,
            "transform": self.transform,
            "params": dict(self.params),
            "layer_map": None if self.layer_map is None else list(self.layer_map),
            "sha256": self.sha256,
            "format": self.format,
            "group": self.group,
            "subset": self.subset,
            "size": self.size,
            "seconds": round(self.seconds, 2),
            "recipe": self.recipe,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZooEntry:
        lm = d.get("layer_map")
        return cls(
            name=str(d["name"]),
            path=str(d["path"]),
            base=d.get("base"),
            relation=str(d["relation"]),
            transform=str(d.get("transform", "")),
            params=dict(d.get("params") or {}),
            layer_map=None if lm is None else tuple(int(x) for x in lm),
            sha256=d.get("sha256"),
            format=str(d.get("format", "hf")),
            group=str(d.get("group", "")),
            subset=str(d.get("subset", "fast")),
            size=int(d.get("size", 0)),
            seconds=float(d.get("seconds", 0.0)),
            recipe=str(d.get("recipe", "")),
        )


@dataclass(frozen=True)
class ZooPair:
    """Ground truth for one unordered pair of entries."""

    a: str
    b: str
    relation: str  # repackaged | derived | independent | unrelated
    path: tuple[str, ...]  # the lineage path a → common ancestor → b (empty when not related)
    transforms: tuple[str, ...]  # the transforms along that path


@dataclass(frozen=True)
class ZooManifest:
    """The zoo's labelled entries (``zoo.json``)."""

    root: str
    entries: tuple[ZooEntry, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    # lookup -------------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def entry(self, name: str) -> ZooEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise UsageError(f"no zoo entry named {name!r}", subject=self.root, hint="see zoo.json for the names")

    def path_of(self, name: str) -> Path:
        p = Path(self.entry(name).path)
        return p if p.is_absolute() else Path(self.root) / p

    def weights_file(self, name: str) -> Path:
        e = self.entry(name)
        p = self.path_of(name)
        return p / "model.safetensors" if e.format == "hf" else p

    # serialisation ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "info": dict(self.info),
            "entries": [e.to_dict() for e in self.entries],
        }

    def save(self, path: Path | None = None) -> Path:
        out = path or Path(self.root) / "zoo.json"
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: Path) -> ZooManifest:
        """Read and validate ``zoo.json`` (a folder holding one is accepted too)."""
        p = Path(path)
        if p.is_dir():
            p = p / "zoo.json"
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise ReaderError("no zoo manifest", subject=str(p), hint="run `taoke zoo build`") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CorruptFile(f"zoo manifest is not valid JSON: {e}", subject=str(p)) from None
        return cls.from_dict(d, root=str(p.parent), subject=str(p))

    @classmethod
    def from_dict(cls, d: Any, *, root: str, subject: str | None = None) -> ZooManifest:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptFile(f"not a {FORMAT} manifest", subject=subject)
        if d.get("version") != VERSION:
            raise CorruptFile(
                f"{FORMAT} version {d.get('version')!r} (this taoke reads {VERSION})",
                subject=subject,
                hint="rebuild the zoo with this taoke",
            )
        try:
            entries = tuple(ZooEntry.from_dict(e) for e in d.get("entries", []))
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptFile(f"malformed zoo entry: {type(e).__name__}: {e}", subject=subject) from None
        m = cls(root=root, entries=entries, info=dict(d.get("info") or {}))
        m.validate(subject=subject)
        return m

    def validate(self, *, subject: str | None = None, check_files: bool = False) -> None:
        """Check names are unique, bases exist, relations are known, layer maps fit; optionally that files exist."""
        subj = subject or self.root
        seen: set[str] = set()
        for e in self.entries:
            if e.name in seen:
                raise CorruptFile(f"duplicate zoo entry {e.name!r}", subject=subj)
            seen.add(e.name)
        for e in self.entries:
            if e.relation not in RELATIONS:
                raise CorruptFile(f"{e.name}: unknown relation {e.relation!r}", subject=subj)
            if e.base is not None and e.base not in seen:
                raise CorruptFile(f"{e.name}: base {e.base!r} is not in the zoo", subject=subj)
            if e.base is None and e.relation not in ("original", "independent"):
                raise CorruptFile(f"{e.name}: relation {e.relation!r} needs a base", subject=subj)
            if e.base is not None and e.relation == "original":
                raise CorruptFile(f"{e.name}: an original has no base", subject=subj)
            if e.layer_map is not None and (not e.layer_map or min(e.layer_map) < 0):
                raise CorruptFile(f"{e.name}: bad layer_map", subject=subj)
            if e.format not in ("hf", "gguf"):
                raise CorruptFile(f"{e.name}: unknown format {e.format!r}", subject=subj)
            if check_files and not self.weights_file(e.name).is_file():
                raise CorruptFile(f"{e.name}: weights file missing", subject=str(self.weights_file(e.name)))

    # ground truth -------------------------------------------------------------------------------------------
    def _up(self, name: str) -> list[tuple[str, str, str]]:
        """[(ancestor, relation of the edge below it, transform of the edge)] following repackaged/derived edges."""
        chain: list[tuple[str, str, str]] = []
        e = self.entry(name)
        while e.base is not None and e.relation in ("repackaged", "derived"):
            chain.append((e.base, e.relation, e.transform))
            e = self.entry(e.base)
        return chain

    def relation(self, a: str, b: str) -> ZooPair:
        """The ground-truth relation between two entries (see the module docstring)."""
        ua = [(a, "", "")] + self._up(a)
        ub = [(b, "", "")] + self._up(b)
        names_b = [n for n, _, _ in ub]
        for i, (na, _, _) in enumerate(ua):
            if na in names_b:
                j = names_b.index(na)
                edges_a = [(r, t) for _, r, t in ua[1 : i + 1]]
                edges_b = [(r, t) for _, r, t in ub[1 : j + 1]]
                rels = [r for r, _ in edges_a + edges_b]
                rel = "repackaged" if all(r == "repackaged" for r in rels) else "derived"
                path = tuple(n for n, _, _ in ua[: i + 1]) + tuple(n for n, _, _ in reversed(ub[:j]))
                tr = tuple(t for _, t in edges_a) + tuple(t for _, t in reversed(edges_b))
                return ZooPair(a, b, rel, path, tr)
        ga, gb = self.entry(a).group, self.entry(b).group
        return ZooPair(a, b, "independent" if ga and ga == gb else "unrelated", (), ())

    def pairs(self) -> Iterator[ZooPair]:
        """Every unordered pair of distinct entries with its ground-truth relation."""
        names = self.names()
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                yield self.relation(a, b)


# -- recipes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    subset: Subset
    base: str | None
    relation: str
    transform: str
    group: str
    params: Mapping[str, Any]
    build: Callable[[_Ctx, _Spec, np.random.Generator, Path], _Built]
    format: str = "hf"
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Built:
    weights: Path
    params: Mapping[str, Any] = field(default_factory=dict)  # measured/derived params added to the recipe's
    layer_map: tuple[int, ...] | None = None


class _Ctx:
    """Lazily loaded shared inputs of a build (the base state dict, tokenizers, corpus slices)."""

    def __init__(self, dest: Path, data_dir: Path, rng_seed: int, log: Callable[[str], None]) -> None:
        self.dest = dest
        self.data_dir = data_dir
        self.rng_seed = rng_seed
        self.log = log
        self._cache: dict[str, Any] = {}
        self.manifest_entries: dict[str, ZooEntry] = {}

    @property
    def gguf(self) -> Path:
        p = self.data_dir / SMOLLM2_GGUF
        if not p.is_file():
            raise ReaderError("SmolLM2 GGUF missing", subject=str(p), hint="run `taoke zoo fetch --core`")
        return p

    @property
    def minilm(self) -> Path:
        p = self.data_dir / MINILM_DIR
        if not (p / "model.safetensors").is_file():
            raise ReaderError("all-MiniLM-L6-v2 missing", subject=str(p), hint="run `taoke zoo fetch --core`")
        return p

    def smol(self) -> tuple[Any, dict[str, np.ndarray]]:
        """(LlamaConfig, HF state) of the dequantised SmolLM2 — read from smollm2-f32 once it is written."""
        if "smol" not in self._cache:
            f32 = self.dest / "smollm2-f32" / "model.safetensors"
            if "smollm2-f32" in self.manifest_entries and f32.is_file():
                self._cache["smol"] = self.load_hf("smollm2-f32")
            else:
                from taoke.zoo.export import read_llama_gguf

                self._cache["smol"] = read_llama_gguf(self.gguf)
        return self._cache["smol"]

    def load_hf(self, name: str) -> tuple[Any, dict[str, np.ndarray]]:
        from safetensors.numpy import load_file

        from taoke.zoo.train import LlamaConfig

        folder = self.dest / name
        cfg = LlamaConfig.from_hf(json.loads((folder / "config.json").read_text()))
        return cfg, dict(load_file(str(folder / "model.safetensors")))

    def tokenizer(self, vocab_size: int | None = None) -> Any:
        key = f"tok-{vocab_size}"
        if key not in self._cache:
            from taoke.zoo.corpus import smollm2_tokenizer

            self._cache[key] = smollm2_tokenizer(self.gguf, vocab_size)
        return self._cache[key]

    def docs(self) -> tuple[list[Any], list[list[Any]], str]:
        """(held-out documents, training slices, corpus sha256) — slices 0..5 tiny models, 6 fine-tunes."""
        if "docs" not in self._cache:
            from taoke.zoo.corpus import corpus_fingerprint, split_corpus, stdlib_documents

            docs = stdlib_documents()
            held, parts = split_corpus(docs, N_SLICES)
            self._cache["docs"] = (held, parts, corpus_fingerprint(docs))
        return self._cache["docs"]

    def tokens(self, which: str, vocab_size: int | None = None) -> np.ndarray:
        """Token ids of ``"held"`` or ``"slice-<k>"`` under the (possibly truncated) SmolLM2 tokenizer."""
        key = f"tokens-{which}-{vocab_size}"
        if key not in self._cache:
            from taoke.zoo.corpus import tokenize_documents

            held, parts, _ = self.docs()
            docs = held if which == "held" else parts[int(which.split("-")[1])]
            self._cache[key] = tokenize_documents(self.tokenizer(vocab_size), docs, which).tokens
        return self._cache[key]

    def drop(self, key: str) -> None:
        self._cache.pop(key, None)


N_SLICES = 8  # 0..5: independent tiny models, 6: fine-tunes, 7: continued pre-training
FINETUNE_SLICE = 6
CONTINUED_SLICE = 7
TINY_VOCAB = 8192


def _entry_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _recipe(spec: _Spec, seed: int) -> str:
    blob = json.dumps(
        {
            "v": VERSION,
            "t": spec.transform,
            "p": dict(spec.params),
            "s": seed,
            "b": spec.base,
            "r": spec.relation,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# each builder: (ctx, spec, rng, out_path) -> _Built


def _tok_json(ctx: _Ctx, vocab_size: int | None = None) -> str:
    return ctx.tokenizer(vocab_size).to_str()


def _write_llama(ctx: _Ctx, out: Path, cfg: Any, state: Mapping[str, np.ndarray], **kw: Any) -> Path:
    from taoke.zoo.export import write_hf_folder

    tok = kw.pop("tokenizer_json", _tok_json(ctx))
    config = kw.pop("config", None) or cfg.to_hf()
    return write_hf_folder(out, state, config, tokenizer_json=tok, **kw)


def _b_f32(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.export import read_llama_gguf

    cfg, st = read_llama_gguf(ctx.gguf)
    ctx._cache["smol"] = (cfg, st)
    return _Built(_write_llama(ctx, out, cfg, st))


def _b_f16(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    cfg, st = ctx.smol()
    conf = cfg.to_hf() | {"torch_dtype": "float16"}
    return _Built(_write_llama(ctx, out, cfg, st, dtype="F16", config=conf))


def _b_renamed(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import rename_opaque, transpose_2d

    cfg, st = ctx.smol()
    named, mapping = rename_opaque(st, rng)
    if spec.params.get("transpose"):
        named = transpose_2d(named)
    (out).mkdir(parents=True, exist_ok=True)
    (out / "names.json").write_text(json.dumps(mapping, indent=0) + "\n")
    return _Built(_write_llama(ctx, out, cfg, named), {"name_map_file": "names.json"})


def _b_q8(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.export import write_llama_gguf

    cfg, st = ctx.smol()
    return _Built(write_llama_gguf(out, cfg, st, template_gguf=ctx.gguf, qtype=str(spec.params["qtype"])))


def _b_noise(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import add_noise

    cfg, st = ctx.smol()
    return _Built(_write_llama(ctx, out, cfg, add_noise(st, float(spec.params["scale"]), rng)))


def _b_perm(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import permute_llama

    cfg, st = ctx.load_hf(spec.base) if spec.base != "smollm2-f32" else ctx.smol()  # type: ignore[arg-type]
    new, rec = permute_llama(cfg, st, rng)
    out.mkdir(parents=True, exist_ok=True)
    (out / "permutation.json").write_text(json.dumps(rec) + "\n")
    return _Built(_write_llama(ctx, out, cfg, new), {"permutation_file": "permutation.json"})


def _b_rotate(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import rotate_llama

    cfg, st = ctx.smol()
    cfg2, new, q = rotate_llama(cfg, st, rng)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "rotation.npy", q)
    return _Built(_write_llama(ctx, out, cfg2, new), {"rotation_file": "rotation.npy"})


def _b_rescale(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import rescale_llama

    cfg, st = ctx.smol()
    new, rec = rescale_llama(cfg, st, rng, spread=float(spec.params["spread"]))
    return _Built(_write_llama(ctx, out, cfg, new), {"factors": rec})


def _b_layers(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import remap_layers

    cfg, st = ctx.smol()
    if spec.params.get("keep") is not None:
        n, keep = cfg.num_layers, int(spec.params["keep"])
        dropped = rng.choice(np.arange(1, n - 1), size=n - keep, replace=False)  # first and last layer kept
        layer_map = [i for i in range(n) if i not in set(dropped.tolist())]
    else:
        layer_map = [int(x) for x in spec.params["layer_map"]]
    cfg2, new = remap_layers(cfg, st, layer_map)
    return _Built(_write_llama(ctx, out, cfg2, new), {}, tuple(layer_map))


def _b_vocab_prune(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import prune_vocab

    cfg, st = ctx.smol()
    first, sample = int(spec.params["first"]), int(spec.params["sample"])
    extra = np.sort(rng.choice(np.arange(first, cfg.vocab_size), size=sample, replace=False))
    keep = np.concatenate([np.arange(first), extra])
    cfg2, new = prune_vocab(cfg, st, keep)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kept_ids.json").write_text(json.dumps(keep.tolist()) + "\n")
    return _Built(_write_llama(ctx, out, cfg2, new, tokenizer_json=None), {"kept_ids_file": "kept_ids.json"})


def _b_vocab_extend(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import extend_vocab

    cfg, st = ctx.smol()
    cfg2, new = extend_vocab(cfg, st, int(spec.params["n_new"]))
    return _Built(_write_llama(ctx, out, cfg2, new, tokenizer_json=None))


def _b_merge(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import merge

    cfg, st = ctx.smol()
    _, other = ctx.load_hf(str(spec.params["other"]))
    return _Built(_write_llama(ctx, out, cfg, merge(st, other, float(spec.params["alpha"]))))


def _b_moe(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import mixtral_config, upcycle_moe

    cfg, st = ctx.smol()
    k = int(spec.params["experts"])
    new = upcycle_moe(cfg, st, rng, n_experts=k, noise=float(spec.params["noise"]))
    conf = mixtral_config(cfg, k) | {"torch_dtype": "float16"}
    return _Built(_write_llama(ctx, out, cfg, new, config=conf, dtype=str(spec.params["dtype"])))


def _b_stdmatched(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import std_matched

    cfg, st = ctx.smol()
    return _Built(_write_llama(ctx, out, cfg, std_matched(st, rng)))


def _b_finetune(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.train import build_model, state_of, train_lm

    cfg, st = ctx.smol()
    p = spec.params
    first = cfg.num_layers - int(p["top_layers"])
    model = build_model(cfg, st)
    res = train_lm(
        model,
        ctx.tokens(f"slice-{p['slice']}"),
        steps=int(p["steps"]),
        batch_size=int(p["batch"]),
        seq_len=int(p["seq_len"]),
        lr=float(p["lr"]),
        rng=rng,
        trainable=lambda n: n == "model.norm.weight" or _layer_index(n) >= first,
        first_trainable_layer=first,
        pool_windows=int(p["pool"]),
        progress=ctx.log,
        held_out=ctx.tokens("held")[: int(p["held_out_tokens"])],
    )
    ctx.log(
        f"  trained {res.steps} steps in {res.seconds:.1f}s, held-out {res.held_out_before:.3f} -> {res.held_out_after:.3f}"
    )
    return _Built(_write_llama(ctx, out, cfg, state_of(model)), {"result": res.to_dict()})


def _b_tiny(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.train import LlamaConfig, build_model, state_of, train_lm

    p = spec.params
    cfg = LlamaConfig(**p["config"])
    model = build_model(cfg, seed=int(rng.integers(0, 2**31 - 1)))
    res = train_lm(
        model,
        ctx.tokens(f"slice-{p['slice']}", cfg.vocab_size),
        steps=int(p["steps"]),
        batch_size=int(p["batch"]),
        seq_len=int(p["seq_len"]),
        lr=float(p["lr"]),
        rng=rng,
        warmup=20,
        progress=ctx.log,
        held_out=ctx.tokens("held", cfg.vocab_size)[: int(p["held_out_tokens"])],
    )
    ctx.log(
        f"  trained {res.steps} steps in {res.seconds:.1f}s, held-out {res.held_out_before:.3f} -> {res.held_out_after:.3f}"
    )
    return _Built(
        _write_llama(ctx, out, cfg, state_of(model), tokenizer_json=_tok_json(ctx, cfg.vocab_size)),
        {"result": res.to_dict()},
    )


def _minilm_state(ctx: _Ctx) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    conf = json.loads((ctx.minilm / "config.json").read_text())
    return conf, dict(load_file(str(ctx.minilm / "model.safetensors")))


def _write_minilm(ctx: _Ctx, out: Path, conf: Mapping[str, Any], st: Mapping[str, np.ndarray]) -> Path:
    from taoke.zoo.export import write_hf_folder

    tok = (ctx.minilm / "tokenizer.json").read_text()
    return write_hf_folder(out, st, conf, tokenizer_json=tok)


def _b_minilm_noise(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import add_noise

    conf, st = _minilm_state(ctx)
    return _Built(_write_minilm(ctx, out, conf, add_noise(st, float(spec.params["scale"]), rng)))


def _b_minilm_perm(ctx: _Ctx, spec: _Spec, rng: np.random.Generator, out: Path) -> _Built:
    from taoke.zoo.transforms import permute_bert

    conf, st = _minilm_state(ctx)
    new, rec = permute_bert(
        st, num_layers=int(conf["num_hidden_layers"]), num_heads=int(conf["num_attention_heads"]), rng=rng
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "permutation.json").write_text(json.dumps(rec) + "\n")
    return _Built(_write_minilm(ctx, out, conf, new), {"permutation_file": "permutation.json"})


def _layer_index(name: str) -> int:
    parts = name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[1] == "layers" else -1


TINY_CONFIG = {
    "vocab_size": TINY_VOCAB,
    "hidden_size": 128,
    "num_layers": 4,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 384,
    "rope_theta": 10000.0,
    "tie_embeddings": True,
    "max_position": 512,
}
TINY_TRAIN = {"steps": 150, "batch": 4, "seq_len": 48, "lr": 3e-3, "held_out_tokens": 4096}
FINETUNE = {
    "slice": FINETUNE_SLICE,
    "top_layers": 2,
    "steps": 150,
    "batch": 2,
    "seq_len": 48,
    "pool": 96,  # windows; ~3 passes over them (the first version, 16 windows x 25 passes, over-fitted)
    "lr": 5e-5,
    "held_out_tokens": 8 * 128 + 1,
}
CONTINUED = FINETUNE | {"slice": CONTINUED_SLICE, "top_layers": 4, "steps": 300, "pool": 150, "lr": 3e-5}


def _specs() -> list[_Spec]:
    S = _Spec
    sm = SMOL_GROUP
    out = [
        S("smollm2-f32", "fast", "smollm2-q4_1", "repackaged", "dequantise+hf-names", sm, {}, _b_f32),
        S("smollm2-renamed", "fast", "smollm2-f32", "repackaged", "rename", sm, {}, _b_renamed),
        S(
            "smollm2-transposed",
            "fast",
            "smollm2-f32",
            "repackaged",
            "transpose+rename",
            sm,
            {"transpose": True},
            _b_renamed,
        ),
    ]
    for s in (0.01, 0.1, 0.3):
        out.append(
            S(f"smollm2-noise-{s}", "fast", "smollm2-f32", "derived", "noise", sm, {"scale": s}, _b_noise)
        )
    out += [
        S("smollm2-perm", "fast", "smollm2-f32", "derived", "permute-units+heads", sm, {}, _b_perm),
        S(
            "smollm2-rotate",
            "fast",
            "smollm2-f32",
            "derived",
            "rotate-residual+fold-norms",
            sm,
            {},
            _b_rotate,
        ),
        S(
            "smollm2-layer-subset",
            "fast",
            "smollm2-f32",
            "derived",
            "layer-subset",
            sm,
            {"keep": 20},
            _b_layers,
        ),
        S(
            "smollm2-finetune",
            "fast",
            "smollm2-f32",
            "derived",
            "finetune-top-layers",
            sm,
            FINETUNE,
            _b_finetune,
        ),
        S(
            "smollm2-stdmatched",
            "fast",
            "smollm2-f32",
            "independent",
            "std-matched-random",
            sm,
            {},
            _b_stdmatched,
        ),
        S(
            "minilm-noise",
            "fast",
            "minilm",
            "derived",
            "noise",
            MINILM_GROUP,
            {"scale": 0.1},
            _b_minilm_noise,
        ),
        S(
            "minilm-perm",
            "fast",
            "minilm",
            "derived",
            "permute-units+heads",
            MINILM_GROUP,
            {},
            _b_minilm_perm,
        ),
    ]
    for k in range(6):
        params = {"config": TINY_CONFIG, "slice": k, "seed_index": k} | TINY_TRAIN
        out.append(
            S(
                f"tiny-{k}",
                "fast" if k < 4 else "full",
                None,
                "independent",
                "train-from-scratch",
                TINY_GROUP,
                params,
                _b_tiny,
            )
        )
    dup = list(range(0, 20)) + list(range(10, 30))
    out += [
        S(
            "smollm2-q8_0",
            "full",
            "smollm2-f32",
            "repackaged",
            "requantise-gguf",
            sm,
            {"qtype": "Q8_0"},
            _b_q8,
            "gguf",
        ),
        S("smollm2-f16", "full", "smollm2-f32", "repackaged", "cast-f16", sm, {}, _b_f16),
        S(
            "smollm2-rescale",
            "full",
            "smollm2-f32",
            "derived",
            "rescale-layers",
            sm,
            {"spread": 2.0},
            _b_rescale,
        ),
        S(
            "smollm2-layer-dup",
            "full",
            "smollm2-f32",
            "derived",
            "layer-duplication",
            sm,
            {"layer_map": dup},
            _b_layers,
        ),
        S(
            "smollm2-vocab-prune",
            "full",
            "smollm2-f32",
            "derived",
            "vocab-prune",
            sm,
            {"first": 20000, "sample": 4000},
            _b_vocab_prune,
        ),
        S(
            "smollm2-vocab-extend",
            "full",
            "smollm2-f32",
            "derived",
            "vocab-extend",
            sm,
            {"n_new": 1024},
            _b_vocab_extend,
        ),
        S(
            "smollm2-continued",
            "full",
            "smollm2-f32",
            "derived",
            "continued-pretraining",
            sm,
            CONTINUED,
            _b_finetune,
        ),
        S(
            "smollm2-finetune-perm",
            "full",
            "smollm2-finetune",
            "derived",
            "permute-units+heads",
            sm,
            {},
            _b_perm,
            needs=("smollm2-finetune",),
        ),
        S(
            "smollm2-merge",
            "full",
            "smollm2-f32",
            "derived",
            "linear-merge",
            sm,
            {"other": "smollm2-finetune", "alpha": 0.5},
            _b_merge,
            needs=("smollm2-finetune",),
        ),
        S(
            "smollm2-moe-upcycle",
            "full",
            "smollm2-f32",
            "derived",
            "moe-upcycle",
            sm,
            {"experts": 4, "noise": 0.01, "dtype": "F16"},
            _b_moe,
        ),
    ]
    return out


def _file_sha(path: Path) -> str:
    from taoke.zoo.export import sha256_file

    return sha256_file(path)


def default_zoo_dir(data_dir: Path | None = None) -> Path:
    """Where the zoo is cached by default: ``$TAOKE_DATA/zoo``."""
    from taoke.zoo.fetch import default_data_dir

    return (data_dir or default_data_dir()) / "zoo"


def build_zoo(
    dest: Path | None = None,
    *,
    subset: Subset = "fast",
    data_dir: Path | None = None,
    rng_seed: int = 0,
    progress: Callable[[str], None] | None = None,
    verify: bool = False,
    only: tuple[str, ...] | None = None,
) -> ZooManifest:
    """Build (or complete) the zoo in ``dest`` (default ``$TAOKE_DATA/zoo``) and return its manifest.

    ``subset="fast"`` builds the entries marked fast (CI), ``"full"`` all of them. Entries already present with
    the same recipe and file size are skipped (``verify=True`` re-hashes them first). ``only`` restricts the
    build to the named entries (and what they need).
    """
    if subset not in ("fast", "full"):
        raise UsageError(f"subset must be 'fast' or 'full', got {subset!r}")
    from taoke.zoo.fetch import default_data_dir

    data = Path(data_dir) if data_dir is not None else default_data_dir()
    dest = Path(dest) if dest is not None else data / "zoo"
    dest.mkdir(parents=True, exist_ok=True)
    log = progress or (lambda _s: None)
    with _build_lock(dest, log):
        return _build_locked(dest, data, subset, rng_seed, log, verify, only)


@contextlib.contextmanager
def _build_lock(dest: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``dest/.zoo.lock`` so that concurrent builders (tests, `taoke eval`, the CLI)
    run one after the other; the later one then finds the entries up to date."""
    try:
        import fcntl
    except ModuleNotFoundError:  # not POSIX: no cross-process lock
        yield
        return
    with open(dest / ".zoo.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"zoo: waiting for another build of {dest} to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_locked(
    dest: Path,
    data: Path,
    subset: Subset,
    rng_seed: int,
    log: Callable[[str], None],
    verify: bool,
    only: tuple[str, ...] | None,
) -> ZooManifest:
    ctx = _Ctx(dest, data, rng_seed, log)

    existing: dict[str, ZooEntry] = {}
    if (dest / "zoo.json").exists():
        old = ZooManifest.load(dest / "zoo.json")
        if old.info.get("rng_seed") == rng_seed:
            existing = {e.name: e for e in old.entries}
    entries: dict[str, ZooEntry] = dict(existing)

    # the two originals live in the data set
    entries["smollm2-q4_1"] = _original(
        existing.get("smollm2-q4_1"), "smollm2-q4_1", ctx.gguf, "gguf", SMOL_GROUP, verify
    )
    entries["minilm"] = _original(existing.get("minilm"), "minilm", ctx.minilm, "hf", MINILM_GROUP, verify)
    ctx.manifest_entries = entries

    specs = _specs()
    wanted = [s for s in specs if subset == "full" or s.subset == "fast"]
    if only is not None:
        names = set(only)
        unknown = names - {s.name for s in specs}
        if unknown:
            raise UsageError(f"unknown zoo entries {sorted(unknown)}")
        for s in specs:
            if s.name in names:
                names.update(s.needs)
                if s.base and s.base not in ("smollm2-q4_1", "minilm"):
                    names.add(s.base)
        wanted = [s for s in specs if s.name in names]
    wanted_names = {s.name for s in wanted}
    for s in wanted:
        for dep in (s.base, *s.needs):
            if (
                dep
                and dep not in wanted_names
                and dep not in entries
                and dep not in ("smollm2-q4_1", "minilm")
            ):
                raise UsageError(f"{s.name} needs {dep}, which is not built", hint="build the full subset")

    info = {"rng_seed": rng_seed, "taoke_zoo_version": VERSION}
    t_all = time.perf_counter()
    n_built = 0
    for s in wanted:
        recipe = _recipe(s, rng_seed)
        old_e = existing.get(s.name)
        if old_e is not None and old_e.recipe == recipe and _intact(ctx, old_e, verify):
            log(f"{s.name}: up to date")
            continue
        log(f"{s.name}: building ({s.transform})")
        out = dest / (s.name + (".gguf" if s.format == "gguf" else ""))
        t0 = time.perf_counter()
        built = s.build(ctx, s, _entry_rng(rng_seed, s.name), out)
        secs = time.perf_counter() - t0
        size = built.weights.stat().st_size
        entries[s.name] = ZooEntry(
            name=s.name,
            path=out.name,
            base=s.base,
            relation=s.relation,
            transform=s.transform,
            params=dict(s.params) | dict(built.params),
            layer_map=built.layer_map,
            sha256=_file_sha(built.weights),
            format=s.format,
            group=s.group,
            subset=s.subset,
            size=size,
            seconds=secs,
            recipe=recipe,
        )
        n_built += 1
        log(f"{s.name}: done in {secs:.1f}s ({size / 1e6:.0f} MB)")
        _save(dest, entries, info | _corpus_info(ctx))
    order = ["smollm2-q4_1", "minilm"] + [s.name for s in specs]
    manifest = ZooManifest(
        root=str(dest),
        entries=tuple(entries[n] for n in order if n in entries),
        info=info | _corpus_info(ctx, existing_info=_read_info(dest)),
    )
    manifest.validate()
    manifest.save()
    log(f"zoo: {n_built} built, {len(wanted) - n_built} up to date, {time.perf_counter() - t_all:.1f}s")
    return manifest


def _read_info(dest: Path) -> Mapping[str, Any]:
    try:
        return json.loads((dest / "zoo.json").read_text()).get("info", {})
    except (OSError, json.JSONDecodeError):
        return {}


def _corpus_info(ctx: _Ctx, existing_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if "docs" in ctx._cache:
        from taoke.zoo.corpus import python_version

        return {
            "corpus": "python-stdlib-docstrings+comments",
            "python": python_version(),
            "corpus_sha256": ctx.docs()[2],
        }
    if existing_info:
        return {k: existing_info[k] for k in ("corpus", "python", "corpus_sha256") if k in existing_info}
    return {}


def _save(dest: Path, entries: Mapping[str, ZooEntry], info: Mapping[str, Any]) -> None:
    m = ZooManifest(root=str(dest), entries=tuple(entries.values()), info=dict(info))
    m.save()


def _intact(ctx: _Ctx, e: ZooEntry, verify: bool) -> bool:
    p = ctx.dest / e.path
    w = p / "model.safetensors" if e.format == "hf" else p
    if not w.is_file() or w.stat().st_size != e.size or not e.sha256:
        return False
    return not verify or _file_sha(w) == e.sha256


def _original(old: ZooEntry | None, name: str, path: Path, fmt: str, group: str, verify: bool) -> ZooEntry:
    w = path / "model.safetensors" if fmt == "hf" else path
    size = w.stat().st_size
    if old is not None and old.size == size and old.sha256 and not verify:
        sha = old.sha256
    else:
        sha = _file_sha(w)
    return ZooEntry(
        name=name,
        path=str(path),
        base=None,
        relation="original",
        transform="",
        format=fmt,
        group=group,
        subset="fast",
        size=size,
        sha256=sha,
    )
