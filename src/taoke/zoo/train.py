"""A minimal Llama-style decoder in torch, loadable from / savable to Hugging Face Llama tensor names, and a
short CPU training loop.

The model follows the Hugging Face ``LlamaForCausalLM`` computation (arXiv:2302.13971): token embedding,
``num_layers`` pre-norm blocks (RMSNorm → grouped-query attention with rotary embeddings in the "rotate half"
layout → residual; RMSNorm → SwiGLU MLP → residual), a final RMSNorm and an LM head (tied to the embedding when
the state dict has no ``lm_head.weight``). It runs SmolLM2-135M exactly (checked in tests by its loss on real
text) and the small independent models of the zoo. Simplifications accepted: no KV cache, no attention mask
beyond causal (one sequence per row, no padding), no rope scaling, float32 only, no MoE (upcycled MoE entries are
written but not run).

Training (:func:`train_lm`) is plain next-token cross-entropy with AdamW, a fixed learning rate with linear
warm-up, random windows drawn from a token array by an injected ``numpy.random.Generator``, and ``torch`` seeded
from the same generator. ``trainable`` restricts which parameters move (e.g. the last layers only); when only the
top layers train, :func:`train_lm` runs the frozen lower layers once over a fixed pool of windows and trains on
their cached outputs, which is exact (the frozen prefix is a fixed function) and what makes a real fine-tune of a
135M model fit in a few CPU minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taoke.errors import UsageError


def _torch():  # lazy: torch is an optional extra
    try:
        import torch
    except ModuleNotFoundError:
        raise UsageError(
            "building the zoo needs torch", hint="pip install 'taoke[train]' (or torch for your platform)"
        ) from None
    return torch


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters of a Llama-style decoder (names as in Hugging Face ``LlamaConfig`` where they exist)."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_embeddings: bool = True
    max_position: int = 2048

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def to_hf(self) -> dict[str, Any]:
        """A Hugging Face ``config.json`` dict for this architecture."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.intermediate_size,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "tie_word_embeddings": self.tie_embeddings,
            "max_position_embeddings": self.max_position,
            "hidden_act": "silu",
            "torch_dtype": "float32",
            "bos_token_id": 1,
            "eos_token_id": 2,
        }

    @classmethod
    def from_hf(cls, d: Mapping[str, Any]) -> LlamaConfig:
        return cls(
            vocab_size=int(d["vocab_size"]),
            hidden_size=int(d["hidden_size"]),
            num_layers=int(d["num_hidden_layers"]),
            num_heads=int(d["num_attention_heads"]),
            num_kv_heads=int(d.get("num_key_value_heads", d["num_attention_heads"])),
            intermediate_size=int(d["intermediate_size"]),
            rope_theta=float(d.get("rope_theta", 10000.0)),
            rms_norm_eps=float(d.get("rms_norm_eps", 1e-5)),
            tie_embeddings=bool(d.get("tie_word_embeddings", True)),
            max_position=int(d.get("max_position_embeddings", 2048)),
        )


def llama_tensor_names(cfg: LlamaConfig) -> list[str]:
    """Hugging Face Llama tensor names in the order taoke writes them."""
    names = ["model.embed_tokens.weight"]
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        names += [
            p + "input_layernorm.weight",
            p + "self_attn.q_proj.weight",
            p + "self_attn.k_proj.weight",
            p + "self_attn.v_proj.weight",
            p + "self_attn.o_proj.weight",
            p + "post_attention_layernorm.weight",
            p + "mlp.gate_proj.weight",
            p + "mlp.up_proj.weight",
            p + "mlp.down_proj.weight",
        ]
    names.append("model.norm.weight")
    if not cfg.tie_embeddings:
        names.append("lm_head.weight")
    return names


def build_model(cfg: LlamaConfig, state: Mapping[str, np.ndarray] | None = None, *, seed: int = 0):
    """A ``torch.nn.Module`` for ``cfg``: random init from ``seed`` (Llama's normal(0, 0.02)), or ``state`` loaded."""
    torch = _torch()
    nn: Any = torch.nn
    F: Any = torch.nn.functional

    class RMSNorm(nn.Module):
        def __init__(self, d: int, eps: float) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):  # type: ignore[no-untyped-def]
            var = x.pow(2).mean(-1, keepdim=True)
            return x * torch.rsqrt(var + self.eps) * self.weight

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            hd = cfg.head_dim
            self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_heads * hd, bias=False)
            self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * hd, bias=False)
            self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * hd, bias=False)
            self.o_proj = nn.Linear(cfg.num_heads * hd, cfg.hidden_size, bias=False)

        def forward(self, x, cos, sin):  # type: ignore[no-untyped-def]
            b, t, _ = x.shape
            hd = cfg.head_dim
            q = self.q_proj(x).view(b, t, cfg.num_heads, hd).transpose(1, 2)
            k = self.k_proj(x).view(b, t, cfg.num_kv_heads, hd).transpose(1, 2)
            v = self.v_proj(x).view(b, t, cfg.num_kv_heads, hd).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            rep = cfg.num_heads // cfg.num_kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o_proj(y.transpose(1, 2).reshape(b, t, cfg.num_heads * hd))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
            self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
            self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
            self.self_attn = Attention()
            self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
            self.mlp = MLP()

        def forward(self, x, cos, sin):  # type: ignore[no-untyped-def]
            x = x + self.self_attn(self.input_layernorm(x), cos, sin)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Inner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.layers = nn.ModuleList([Block() for _ in range(cfg.num_layers)])
            self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    class LlamaLM(nn.Module):
        config = cfg

        def __init__(self) -> None:
            super().__init__()
            self.model = Inner()
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
            if cfg.tie_embeddings:
                self.lm_head.weight = self.model.embed_tokens.weight

        def rope(self, t: int):  # type: ignore[no-untyped-def]
            hd = cfg.head_dim
            inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
            ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
            emb = torch.cat([ang, ang], dim=-1)
            return emb.cos().float(), emb.sin().float()

        def hidden(self, ids, start: int = 0, stop: int | None = None, h=None):  # type: ignore[no-untyped-def]
            """Residual stream after blocks ``start..stop`` (from token ids, or from ``h`` entering ``start``)."""
            if h is None:
                h = self.model.embed_tokens(ids)
            cos, sin = self.rope(h.shape[1])
            for blk in self.model.layers[start:stop]:
                h = blk(h, cos, sin)
            return h

        def logits_from_hidden(self, h):  # type: ignore[no-untyped-def]
            return self.lm_head(self.model.norm(h))

        def forward(self, ids):  # type: ignore[no-untyped-def]
            return self.logits_from_hidden(self.hidden(ids))

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaLM()
        for name, p in model.named_parameters():
            if state is not None:
                break
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                continue
            with torch.no_grad():
                p.normal_(0.0, 0.02, generator=gen)
    if state is not None:
        load_state(model, state)
    return model


def _rotate_half(x):  # type: ignore[no-untyped-def]
    torch = _torch()
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def load_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """Copy HF-named numpy tensors into ``model`` (shapes checked; a missing or extra tensor is an error)."""
    torch = _torch()
    cfg: LlamaConfig = model.config
    want = set(llama_tensor_names(cfg))
    have = set(state)
    if want != have:
        missing = sorted(want - have)[:3]
        extra = sorted(have - want)[:3]
        raise UsageError(
            f"state dict does not fit the architecture (missing {missing}, unexpected {extra})",
            hint="tensor names must be Hugging Face Llama names for this config",
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in want:
            p = params[name]
            arr = np.asarray(state[name], dtype=np.float32)
            if not arr.flags.writeable or not arr.flags.c_contiguous:
                arr = np.array(arr, dtype=np.float32, order="C")
            if tuple(arr.shape) != tuple(p.shape):
                raise UsageError(f"{name}: shape {arr.shape} but the architecture wants {tuple(p.shape)}")
            p.copy_(torch.from_numpy(arr))


def state_of(model: Any) -> dict[str, np.ndarray]:
    """The model's weights as HF-named float32 numpy arrays (in :func:`llama_tensor_names` order)."""
    params = dict(model.named_parameters())
    return {
        n: params[n].detach().cpu().numpy().astype(np.float32, copy=True)
        for n in llama_tensor_names(model.config)
    }


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: steps, tokens seen, wall time and the losses it measured."""

    steps: int
    tokens_seen: int
    seconds: float
    train_loss_first: float  # mean of the first 10 steps
    train_loss_last: float  # mean of the last 10 steps
    held_out_before: float | None
    held_out_after: float | None
    trainable_params: int
    losses: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "tokens_seen": self.tokens_seen,
            "seconds": round(self.seconds, 2),
            "train_loss_first": round(self.train_loss_first, 4),
            "train_loss_last": round(self.train_loss_last, 4),
            "held_out_before": None if self.held_out_before is None else round(self.held_out_before, 4),
            "held_out_after": None if self.held_out_after is None else round(self.held_out_after, 4),
            "trainable_params": self.trainable_params,
        }


def windows(tokens: np.ndarray, seq_len: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random windows of ``seq_len + 1`` tokens (input + next-token targets) drawn from ``tokens``."""
    if len(tokens) < seq_len + 2:
        raise UsageError(f"only {len(tokens)} tokens for windows of {seq_len + 1}", hint="use more text")
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=n)
    return np.stack([tokens[s : s + seq_len + 1] for s in starts]).astype(np.int64)


def held_out_loss(model: Any, tokens: np.ndarray, *, seq_len: int = 128, max_windows: int = 16) -> float:
    """Mean next-token cross-entropy (nats) over consecutive non-overlapping windows of ``tokens``."""
    torch = _torch()
    n = min(max_windows, (len(tokens) - 1) // seq_len)
    if n < 1:
        raise UsageError(f"only {len(tokens)} held-out tokens for windows of {seq_len}")
    arr = np.stack([tokens[i * seq_len : i * seq_len + seq_len + 1] for i in range(n)]).astype(np.int64)
    x = torch.from_numpy(arr)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, n, 4):
            xb = x[i : i + 4]
            logits = model(xb[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1), reduction="sum"
            )
            total += float(loss)
    return total / (n * seq_len)


def train_lm(
    model: Any,
    tokens: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    rng: np.random.Generator,
    trainable: Callable[[str], bool] | None = None,
    first_trainable_layer: int = 0,
    pool_windows: int | None = None,
    held_out: np.ndarray | None = None,
    weight_decay: float = 0.0,
    warmup: int = 10,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on windows of ``tokens``; returns losses and timing.

    ``trainable(name)`` picks the parameters that move (default: all). If ``first_trainable_layer > 0`` the
    blocks below it and the embedding must be frozen; their output over a pool of ``pool_windows`` windows is
    computed once and training runs the top blocks only. ``held_out`` tokens are scored before and after.
    """
    torch = _torch()
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
    names = dict(model.named_parameters())
    pick = trainable or (lambda _n: True)
    train_params = []
    for n, p in names.items():
        p.requires_grad_(pick(n))
        if p.requires_grad:
            train_params.append(p)
    if not train_params:
        raise UsageError("no trainable parameters selected")
    if first_trainable_layer > 0:
        for n, p in names.items():
            if p.requires_grad and (
                n.startswith("model.embed_tokens") or _layer_of(n) < first_trainable_layer
            ):
                raise UsageError(f"{n} is trainable but below first_trainable_layer={first_trainable_layer}")
    before = held_out_loss(model, held_out) if held_out is not None else None
    t0 = time.perf_counter()
    opt = torch.optim.AdamW(train_params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)))
    pool_x = pool_h = None
    if first_trainable_layer > 0:
        pool_x = torch.from_numpy(windows(tokens, seq_len, pool_windows or batch_size * 8, rng))
        model.eval()
        with torch.no_grad():
            pool_h = torch.cat(
                [
                    model.hidden(pool_x[i : i + 8, :-1], 0, first_trainable_layer)
                    for i in range(0, len(pool_x), 8)
                ]
            )
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        if pool_x is not None and pool_h is not None:
            idx = torch.from_numpy(rng.integers(0, len(pool_x), size=batch_size))
            h = model.hidden(None, first_trainable_layer, None, h=pool_h[idx])
            logits = model.logits_from_hidden(h)
            target = pool_x[idx, 1:]
        else:
            xb = torch.from_numpy(windows(tokens, seq_len, batch_size, rng))
            logits = model(xb[:, :-1])
            target = xb[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(train_params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None and (len(losses) % 50 == 0 or len(losses) == steps):
            progress(
                f"  step {len(losses)}/{steps}: loss {np.mean(losses[-50:]):.3f} ({time.perf_counter() - t0:.0f}s)"
            )
        if not math.isfinite(losses[-1]):
            raise UsageError("training diverged (non-finite loss)", hint="lower the learning rate")
    seconds = time.perf_counter() - t0
    for p in names.values():
        p.requires_grad_(True)
    after = held_out_loss(model, held_out) if held_out is not None else None
    k = min(10, len(losses))
    return TrainResult(
        steps=steps,
        tokens_seen=steps * batch_size * seq_len,
        seconds=seconds,
        train_loss_first=float(np.mean(losses[:k])),
        train_loss_last=float(np.mean(losses[-k:])),
        held_out_before=before,
        held_out_after=after,
        trainable_params=int(sum(p.numel() for p in train_params)),
        losses=tuple(losses),
    )


def _layer_of(name: str) -> int:
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "layers":
        return int(parts[2])
    return 1 << 30 if not name.startswith("model.embed_tokens") else -1
