"""A Hugging Face-style model folder: weights + config.json + README.md card + tokenizer files.

:class:`HFDirCheckpoint` finds the weights in the folder and delegates ``tensor_infos``/``read`` to the inner
checkpoint (``inner``), in this order of preference: ``model.safetensors``, ``model.safetensors.index.json``,
another single ``*.safetensors``, ``pytorch_model.bin``, ``pytorch_model.bin.index.json``, a single ``*.gguf``,
``model.onnx``, ``onnx/model.onnx``. What the folder adds on top of the weights:

* ``config()`` — ``config.json`` mapped onto :class:`ModelConfig` for the key names of llama, mistral, qwen2/3,
  gemma/gemma3 (``text_config`` nesting), phi3, gpt2 (``n_embd``…), gpt_neox and bert; the raw JSON is kept in
  ``extra``. When a config does not name the number of key/value heads, it is taken equal to the number of
  heads (the default of every one of those configs). ``norm_type`` follows which epsilon key the config has
  (``rms_norm_eps`` → rmsnorm, ``layer_norm_eps``/``layer_norm_epsilon`` → layernorm).
* ``card()`` — ``README.md`` YAML front matter (``base_model`` as a string or list, ``license``, ``tags``,
  ``model_name``) and body text. The config's ``_name_or_path`` (often the checkpoint a model was fine-tuned
  from, not its own name) is added to ``front_matter`` under ``"_name_or_path"``; it never fills ``name``.
* ``metadata`` — the inner checkpoint's metadata plus ``weights_file`` and ``generation_config`` (if present).
* ``tokenizer_files()`` — which tokenizer files are present.

Sharded PyTorch checkpoints (``pytorch_model.bin.index.json``) are read as one checkpoint through
:class:`ShardedCheckpoint`, which routes each tensor to the shard the index names.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from taoke.errors import CorruptFile, RemoteError, UnsupportedFormat
from taoke.io.base import (
    Checkpoint,
    ModelCard,
    ModelConfig,
    RowSelector,
    TensorInfo,
    config_float,
    config_int,
)

__all__ = ["HFDirCheckpoint", "ShardedCheckpoint", "config_from_dict", "parse_front_matter", "find_weights"]

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "merges.txt",
    "vocab.json",
    "added_tokens.json",
    "tokenizer.tiktoken",
    "tekken.json",
)
_MAX_JSON = 64 * 1024 * 1024


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


def config_from_dict(raw: Mapping[str, Any], *, source: str = "config.json") -> ModelConfig:
    """Map a transformers ``config.json`` onto :class:`ModelConfig`.

    >>> c = config_from_dict({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12})
    >>> (c.architecture, c.hidden_size, c.num_layers, c.num_kv_heads, c.intermediate_size, c.head_dim)
    ('gpt2', 768, 12, 12, 3072, 64)
    """
    top = dict(raw)
    text = top.get("text_config")
    d: dict[str, Any] = dict(top)
    if isinstance(text, dict):
        d.update({k: v for k, v in text.items() if v is not None})
    arch = top.get("model_type") or d.get("model_type")
    hidden = config_int(_first(d, "hidden_size", "n_embd", "d_model"))
    layers = config_int(_first(d, "num_hidden_layers", "n_layer", "num_layers"))
    heads = config_int(_first(d, "num_attention_heads", "n_head", "num_heads"))
    kv = config_int(_first(d, "num_key_value_heads", "num_kv_heads", "multi_query_group_num"))
    if kv is None:
        kv = heads
    head_dim = config_int(d.get("head_dim"))
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    inter = config_int(_first(d, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"))
    if inter is None and arch == "gpt2" and hidden:
        inter = 4 * hidden
    if "rms_norm_eps" in d:
        norm_type, eps = "rmsnorm", d["rms_norm_eps"]
    elif "layer_norm_eps" in d or "layer_norm_epsilon" in d:
        norm_type, eps = "layernorm", _first(d, "layer_norm_eps", "layer_norm_epsilon")
    else:
        norm_type, eps = None, None
    rope = d.get("rope_theta")
    if rope is None and isinstance(d.get("rope_parameters"), dict):
        rope = d["rope_parameters"].get("rope_theta")
    if rope is None:
        rope = d.get("rotary_emb_base")
    tie = _first(d, "tie_word_embeddings")
    if tie is None and isinstance(top.get("tie_word_embeddings"), bool):
        tie = top["tie_word_embeddings"]
    return ModelConfig(
        architecture=str(arch) if arch else None,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=inter,
        vocab_size=config_int(d.get("vocab_size")),
        max_position=config_int(_first(d, "max_position_embeddings", "n_positions", "n_ctx", "seq_length")),
        norm_type=norm_type,
        norm_eps=config_float(eps),
        activation=act if isinstance(act := _first(d, "hidden_act", "hidden_activation", "activation_function"),
                                     str) else None,
        rope_theta=config_float(rope),
        tie_embeddings=bool(tie) if isinstance(tie, bool) else None,
        num_experts=config_int(_first(d, "num_local_experts", "num_experts", "n_routed_experts")),
        source=source,
        extra=dict(raw),
    )


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a README into (YAML front matter, body). Bad YAML yields an empty dict, not an error.

    >>> parse_front_matter("---\\nlicense: mit\\n---\\nHello")
    ({'license': 'mit'}, 'Hello')
    """
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---"):
        return {}, text
    lines = stripped.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            doc = _safe_yaml("".join(lines[1:i]))
            return (doc if isinstance(doc, dict) else {}), "".join(lines[i + 1 :]).lstrip("\n")
    return {}, text


#: a model card's front matter larger than this is not parsed (real ones are a few KB; PyYAML parses ~1 MB/s)
MAX_FRONT_MATTER = 512 * 1024


def _safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` of untrusted front matter, or None when it is bad: too large, uses aliases (a "billion
    laughs" card expands exponentially when its values are turned into strings), or does not parse (PyYAML also
    raises ValueError/RecursionError for some inputs, e.g. an impossible date or deep nesting)."""
    import yaml

    if len(text) > MAX_FRONT_MATTER:
        return None
    loader = getattr(yaml, "CSafeLoader", None) or _no_alias_loader()  # libyaml: ~7x faster than pure Python
    try:
        if loader is not _NO_ALIAS_LOADER[0] and any(
                isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(text, Loader=loader)):
            return None
        return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader (C or the subclass below)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        return None


_NO_ALIAS_LOADER: list[Any] = [None]


def _no_alias_loader() -> Any:
    """A pure-Python SafeLoader that refuses aliases (used when PyYAML was built without libyaml)."""
    import yaml

    if _NO_ALIAS_LOADER[0] is None:
        class _NoAliases(yaml.SafeLoader):
            def compose_node(self, parent: Any, index: Any) -> Any:
                if self.check_event(yaml.AliasEvent):
                    raise yaml.YAMLError("aliases are not accepted in model-card front matter")
                return super().compose_node(parent, index)

        _NO_ALIAS_LOADER[0] = _NoAliases
    return _NO_ALIAS_LOADER[0]


def _str_tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list | tuple):
        return tuple(str(x) for x in v if x is not None)
    return (str(v),)


def _load_json(path: str) -> Any:
    if os.path.getsize(path) > _MAX_JSON:
        raise CorruptFile(f"{os.path.basename(path)} is too large to be a config", subject=path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CorruptFile("not valid JSON", subject=path) from None


def find_weights(folder: str) -> str | None:
    """Path of the weights file (or index) in ``folder``, by the preference order above, or None."""
    def p(*parts: str) -> str:
        return os.path.join(folder, *parts)

    for name in ("model.safetensors", "model.safetensors.index.json"):
        if os.path.isfile(p(name)):
            return p(name)
    st = sorted(glob.glob(p("*.safetensors")))
    if len(st) == 1:
        return st[0]
    st_idx = sorted(glob.glob(p("*.safetensors.index.json")))
    if len(st_idx) == 1:
        return st_idx[0]
    for name in ("pytorch_model.bin", "pytorch_model.bin.index.json"):
        if os.path.isfile(p(name)):
            return p(name)
    ggufs = sorted(glob.glob(p("*.gguf")))
    if len(ggufs) == 1:
        return ggufs[0]
    for rel in (("model.onnx",), ("onnx", "model.onnx")):
        if os.path.isfile(p(*rel)):
            return p(*rel)
    return None


class ShardedCheckpoint(Checkpoint):
    """Several checkpoints of one format read as one, each tensor taken from the shard that holds it."""

    def __init__(self, path: str, parts: list[Checkpoint], fmt: str,
                 index_metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(path)
        self.format = fmt
        self.parts = parts
        self._owner: dict[str, Checkpoint] = {}
        for part in parts:
            for name, info in part.tensor_infos().items():
                if name in self._infos:
                    raise CorruptFile(f"tensor {name!r} is in two shards ({self._infos[name].file} and "
                                      f"{info.file})", subject=path)
                self._infos[name] = info
                self._owner[name] = part
        self._metadata = {"shards": [p.path for p in parts]}
        if index_metadata:
            self._metadata["index"] = dict(index_metadata)

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        self.info(name)
        return self._owner[name].read(name, rows)

    @property
    def bytes_read(self) -> int:
        return sum(p.bytes_read for p in self.parts)

    def close(self) -> None:
        for p in self.parts:
            p.close()


def _open_torch_index(index_path: str) -> ShardedCheckpoint:
    from taoke.io.source import LocalSource
    from taoke.io.torch_bin import TorchCheckpoint

    doc = _load_json(index_path)
    if not isinstance(doc, dict) or not isinstance(doc.get("weight_map"), dict):
        raise CorruptFile("index has no weight_map object", subject=index_path)
    folder = os.path.dirname(os.path.abspath(index_path))
    shards: list[str] = []
    for shard in doc["weight_map"].values():
        if not isinstance(shard, str) or os.path.isabs(shard) or ".." in shard.split("/"):
            raise CorruptFile(f"invalid shard name {shard!r}", subject=index_path)
        if shard not in shards:
            shards.append(shard)
    parts: list[Checkpoint] = []
    for shard in shards:
        loc = os.path.join(folder, shard)
        if not os.path.isfile(loc):
            raise CorruptFile(f"index names shard {shard!r}, which is missing", subject=index_path,
                              hint="download every shard listed in the index")
        parts.append(TorchCheckpoint(LocalSource(loc)))
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else None
    ck = ShardedCheckpoint(index_path, parts, "torch", meta)
    for name, shard in doc["weight_map"].items():
        if name not in ck.tensor_infos():
            raise CorruptFile(f"index lists {name!r} in {shard!r} but no shard holds it", subject=index_path)
    return ck


class HFDirCheckpoint(Checkpoint):
    """A Hugging Face-style folder; tensors come from the weights file inside (``inner``)."""

    format = "hf"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        folder = os.fspath(path)
        super().__init__(folder)
        if not os.path.isdir(folder):
            raise UnsupportedFormat("not a folder", subject=folder)
        weights = find_weights(folder)
        if weights is None:
            raise UnsupportedFormat(
                "folder holds no weights (no model.safetensors, pytorch_model.bin, *.gguf or model.onnx)",
                subject=folder,
                hint="point taoke at the folder that has the weight files, or at a weight file itself",
            )
        self.weights_file = weights
        self.inner: Checkpoint = self._open_inner(weights)
        self._meta_dir = folder
        self._load_config()

    def _load_config(self) -> None:
        self._config_raw: dict[str, Any] | None = None
        cfg_path = os.path.join(self._meta_dir, "config.json")
        if os.path.isfile(cfg_path):
            raw = _load_json(cfg_path)
            if not isinstance(raw, dict):
                raise CorruptFile("config.json is not a JSON object", subject=cfg_path)
            self._config_raw = raw

    @staticmethod
    def _open_inner(weights: str) -> Checkpoint:
        if weights.endswith("pytorch_model.bin.index.json") or weights.endswith(".bin.index.json"):
            return _open_torch_index(weights)
        from taoke.io import open_checkpoint

        return open_checkpoint(weights)

    # -- delegated -------------------------------------------------------------------------------------
    def tensor_infos(self) -> Mapping[str, TensorInfo]:
        return self.inner.tensor_infos()

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        return self.inner.read(name, rows)

    @property
    def bytes_read(self) -> int:
        return self.inner.bytes_read

    @property
    def file_size(self) -> int:
        return self.inner.file_size

    def embedded_tokenizer(self) -> Mapping[str, Any] | None:
        return self.inner.embedded_tokenizer()

    def close(self) -> None:
        self.inner.close()

    # -- what the folder adds --------------------------------------------------------------------------
    @property
    def metadata(self) -> Mapping[str, Any]:
        meta: dict[str, Any] = dict(self.inner.metadata)
        meta["weights_file"] = self._weights_rel()
        meta["inner_format"] = self.inner.format
        gen = os.path.join(self._meta_dir, "generation_config.json")
        if os.path.isfile(gen):
            meta["generation_config"] = _load_json(gen)
        if self._config_raw and "_name_or_path" in self._config_raw:
            meta["_name_or_path"] = self._config_raw["_name_or_path"]
        return meta

    def config(self) -> ModelConfig | None:
        if self._config_raw is None:
            return self.inner.config()
        return config_from_dict(self._config_raw, source="config.json")

    def card(self) -> ModelCard | None:
        readme = os.path.join(self._meta_dir, "README.md")
        name_or_path = (self._config_raw or {}).get("_name_or_path")
        if not os.path.isfile(readme):
            if name_or_path:
                return ModelCard(source="config.json", front_matter={"_name_or_path": name_or_path})
            return self.inner.card()
        with open(readme, encoding="utf-8", errors="replace") as f:
            text = f.read(4 * 1024 * 1024)
        fm, body = parse_front_matter(text)
        front = dict(fm)
        if name_or_path:
            front.setdefault("_name_or_path", name_or_path)
        name = fm.get("model_name")
        if name is None and isinstance(fm.get("model-index"), list) and fm["model-index"]:
            first = fm["model-index"][0]
            name = first.get("name") if isinstance(first, dict) else None
        lic = fm.get("license")
        return ModelCard(
            name=str(name) if name else None,
            base_models=_str_tuple(fm.get("base_model")),
            license=str(lic) if lic is not None else None,
            tags=_str_tuple(fm.get("tags")),
            text=body,
            source="README.md",
            front_matter=front,
        )

    def tokenizer_files(self) -> list[str]:
        d = self._meta_dir
        return [os.path.join(d, n) for n in TOKENIZER_FILES if os.path.isfile(os.path.join(d, n))]

    def _weights_rel(self) -> str:
        return os.path.relpath(self.weights_file, self.path)


_T = TypeVar("_T")

#: small files of a remote repository fetched whole (each at most ``_MAX_REMOTE_SMALL`` bytes)
REMOTE_SMALL_FILES = ("config.json", "generation_config.json", "README.md", *TOKENIZER_FILES)
#: weight files looked for in a remote repository, in this order (no directory listing over plain HTTP)
REMOTE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "model.gguf",
                  "model.onnx", "onnx/model.onnx")  # fmt: skip
_MAX_REMOTE_SMALL = 64 * 1024 * 1024


def _unless_missing(open_: Callable[[str], _T], url: str) -> _T | None:
    """``open_(url)``, or None when the server says the file does not exist (other failures raise)."""
    try:
        return open_(url)
    except RemoteError as e:
        if str(e.message).startswith("not found"):
            return None
        raise


class HFRemoteDirCheckpoint(HFDirCheckpoint):
    """A Hugging Face-style repository served over HTTP(S) (``https://host/org/model/``, trailing slash).

    Plain HTTP has no directory listing, so the files are looked for by their conventional names: the small ones
    (config, card, generation config, tokenizer files; :data:`REMOTE_SMALL_FILES`) are fetched whole into a
    temporary folder removed on :meth:`close`; the weights (the first of :data:`REMOTE_WEIGHTS` that exists) are
    read by range requests like any remote file. ``bytes_read`` counts the weights' bytes only.
    """

    def __init__(self, url: str) -> None:  # noqa: D107 - the parent's folder logic is replaced, not extended
        import tempfile

        from taoke.io import open_checkpoint
        from taoke.io.remote import HttpSource

        base = url if url.endswith("/") else url + "/"
        Checkpoint.__init__(self, base)
        self._tmp = tempfile.TemporaryDirectory(prefix="taoke-hf-")
        self._meta_dir = self._tmp.name
        try:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=8) as pool:  # the size probes of the small files at once
                found = list(pool.map(lambda n: _unless_missing(HttpSource, base + n), REMOTE_SMALL_FILES))
            for name, src in zip(REMOTE_SMALL_FILES, found, strict=True):
                if src is None:
                    continue
                try:
                    if src.size > _MAX_REMOTE_SMALL:
                        raise CorruptFile(f"{name} is {src.size} bytes, too large for a metadata file",
                                          subject=base + name)  # fmt: skip
                    data = src.read_at(0, src.size)
                finally:
                    src.close()
                with open(os.path.join(self._meta_dir, name), "wb") as f:
                    f.write(data)
            inner: Checkpoint | None = None
            for name in REMOTE_WEIGHTS:
                inner = _unless_missing(open_checkpoint, base + name)
                if inner is not None:
                    self.weights_file = base + name
                    break
            if inner is None and not os.listdir(self._meta_dir):
                raise RemoteError("not found: no model files at the conventional names under this URL",
                                  subject=base, hint="check the URL (a repository URL ends with /)")  # fmt: skip
            if inner is None:
                raise UnsupportedFormat(
                    f"no weights found at the conventional names ({', '.join(REMOTE_WEIGHTS)})", subject=base,
                    hint="point taoke at the weight file's URL itself",
                )  # fmt: skip
            self.inner = inner
            self._load_config()
        except BaseException:
            self._tmp.cleanup()
            raise

    def _weights_rel(self) -> str:
        return self.weights_file[len(self.path) :]

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._tmp.cleanup()
