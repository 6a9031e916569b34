"""Compare two tokenizers: the relation between them, with the statistics and a calibrated p-value behind it.

Relations (``TokenizerComparison.relation``), decided in this order:

``identical``                 every id holds the same bytes, specials included (token *types* may differ between
                              packagings, e.g. SentencePiece UNKNOWN vs HF "special" for ``<unk>``)
``identical-up-to-specials``  the regular tokens sit at the same ids; added / control tokens differ
``shifted``                   the same regular tokens, every id moved by one constant (Mistral v1→v2: +768)
``extended``                  every regular token of A is in B at the same id, and B has more (cl100k → Llama-3);
                              also a related pair where all but 0.1 % are (Gemma 3 → Gemma 4)
``pruned``                    the reverse: B's regular tokens all sit at their ids in A, and A has more
``permuted``                  related, ≥ 99 % the same tokens, ids reordered (StarCoder → Refact)
``shared-prefix``             related, the first N ids equal (N above every unrelated pair's and ≥ 10 % of the
                              smaller vocabulary), then diverging
``overlapping-related``       related by the calibrated test, none of the shapes above (Qwen ⊃ 98.9 % of cl100k)
``independent``               overlap no larger than unrelated tokenizers share

"Related" is **calibrated**, not a fixed cut: two statistics (``tail_containment`` — the share of the smaller
vocabulary's later half, by id, found in the other — and ``modal_offset_share`` — the share of shared tokens
whose ids differ by the most common offset) are each compared with their values on real *unrelated* pairs
(different lineage and organisation, see :mod:`taoke.tokenizers._families`; the null ships in the reference
database). The p-value is the empirical one, ``(1 + #null ≥ observed) / (1 + n_null)``; the pair is related when
the smaller of the two p-values is ≤ ``alpha / 2`` (Bonferroni over the two statistics). The threshold that
implies and the false-positive rate at it on the null are reported with every verdict. The default
``alpha = 0.005`` with the shipped null of 425 pairs means "beyond *every* unrelated pair we measured" (p = 1/426
≈ 0.0023; false-positive rate 0 of 425 on the null, ≤ 0.7 % at 95 % confidence by the rule of three). A looser
``alpha`` = 0.01 would already call the closest unrelated pair of the null (ChatGLM3 ~ Baichuan 2, tail
containment 0.913) related.

Accepted simplifications: the tolerances that *shape* a related pair (:data:`NEAR`, :data:`PERMUTED_JACCARD`,
:data:`PREFIX_SHARE`) are descriptive, not calibrated — they never turn an independent pair into a related one. The null is small (one tokenizer per
family); same-organisation pairs of different lineage are left out of it rather than guessed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke import defaults
from taoke.tokenizers._db import default_null
from taoke.tokenizers._null import NullDistribution
from taoke.tokenizers._stats import PairStats, pair_stats
from taoke.tokenizers._vocab import SpecialToken, Vocab, spm_to_bytes
from taoke.wording import tokenizer_sentence

DEFAULT_ALPHA = defaults.TOKENIZER_ALPHA
#: descriptive tolerances that shape a pair already found related (never used to call a pair related):
NEAR = 0.999  # "extended"/"pruned"/"shifted" when all but 0.1 % of tokens follow the pattern
PERMUTED_JACCARD = 0.99
PREFIX_SHARE = 0.10  # a shared id prefix must cover 10 % of the smaller vocabulary to name the relation
CALIBRATED_STATISTICS = ("tail_containment", "modal_offset_share")


@dataclass(frozen=True)
class Calibration:
    """One statistic, checked against the null of unrelated pairs."""

    statistic: str
    value: float
    p_value: float
    threshold: float  # values above this are "related" at the chosen alpha
    fpr_at_threshold: float  # share of unrelated pairs above the threshold
    null: str
    null_n: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        return cls(str(d["statistic"]), float(d["value"]), float(d["p_value"]), float(d["threshold"]),
                   float(d["fpr_at_threshold"]), str(d["null"]), int(d["null_n"]))  # fmt: skip


@dataclass(frozen=True)
class SpecialsDiff:
    """Added / control tokens of A and B, compared by their bytes."""

    n_a: int
    n_b: int
    same: int  # same bytes at the same id
    moved: tuple[tuple[str, int, int], ...]  # (text, id in A, id in B)
    only_a: tuple[SpecialToken, ...]
    only_b: tuple[SpecialToken, ...]
    counts: tuple[int, int, int] | None = None  # (moved, only_a, only_b) read back from JSON, whose lists are cut

    @property
    def n_moved(self) -> int:
        return len(self.moved) if self.counts is None else self.counts[0]

    @property
    def n_only_a(self) -> int:
        return len(self.only_a) if self.counts is None else self.counts[1]

    @property
    def n_only_b(self) -> int:
        return len(self.only_b) if self.counts is None else self.counts[2]

    @property
    def n_changed(self) -> int:
        return self.n_moved + self.n_only_a + self.n_only_b

    def to_dict(self, limit: int = 50) -> dict[str, Any]:
        return {"n_a": self.n_a, "n_b": self.n_b, "same": self.same, "n_moved": self.n_moved,
                "n_only_a": self.n_only_a, "n_only_b": self.n_only_b,
                "moved": [list(m) for m in self.moved[:limit]],
                "only_a": [s.to_dict() for s in self.only_a[:limit]],
                "only_b": [s.to_dict() for s in self.only_b[:limit]]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpecialsDiff:
        """Read back :meth:`to_dict`: the lists are the first ``limit`` entries; the counts are kept."""
        return cls(int(d["n_a"]), int(d["n_b"]), int(d["same"]),
                   tuple((str(t), int(i), int(j)) for t, i, j in d.get("moved") or ()),
                   tuple(SpecialToken.from_dict(x) for x in d.get("only_a") or ()),
                   tuple(SpecialToken.from_dict(x) for x in d.get("only_b") or ()),
                   (int(d["n_moved"]), int(d["n_only_a"]), int(d["n_only_b"])))  # fmt: skip


@dataclass(frozen=True)
class TokenizerComparison:
    """The result of :func:`compare`."""

    a: str
    b: str
    kind_a: str
    kind_b: str
    size_a: int
    size_b: int
    relation: str
    related: bool
    stats: PairStats
    calibration: tuple[Calibration, ...]
    alpha: float
    specials: SpecialsDiff
    chat_template: str  # "same" | "different" | "only-a" | "only-b" | "none"
    n_only_a: int  # regular tokens of A missing from B
    n_only_b: int
    only_a_sample: tuple[str, ...]
    only_b_sample: tuple[str, ...]
    summary: str
    seconds: float

    @property
    def p_value(self) -> float | None:
        """The smaller calibrated p-value (Bonferroni-corrected by the caller's ``alpha / 2``)."""
        return min((c.p_value for c in self.calibration), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "taoke.tokenizer-comparison", "version": 1,
            "a": self.a, "b": self.b, "kind_a": self.kind_a, "kind_b": self.kind_b,
            "size_a": self.size_a, "size_b": self.size_b,
            "relation": self.relation, "related": self.related, "summary": self.summary,
            "p_value": self.p_value, "alpha": self.alpha,
            "calibration": [c.to_dict() for c in self.calibration],
            "stats": self.stats.to_dict(),
            "specials": self.specials.to_dict(), "chat_template": self.chat_template,
            "n_only_a": self.n_only_a, "n_only_b": self.n_only_b,
            "only_a_sample": list(self.only_a_sample), "only_b_sample": list(self.only_b_sample),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TokenizerComparison:
        """A comparison read back from its ``taoke.tokenizer-comparison`` JSON (what reports are built from)."""
        return cls(
            a=str(d["a"]), b=str(d["b"]), kind_a=str(d["kind_a"]), kind_b=str(d["kind_b"]), size_a=int(d["size_a"]),
            size_b=int(d["size_b"]), relation=str(d["relation"]), related=bool(d["related"]),
            stats=PairStats.from_dict(d["stats"]), calibration=tuple(Calibration.from_dict(c) for c in d["calibration"]),
            alpha=float(d["alpha"]), specials=SpecialsDiff.from_dict(d["specials"]),
            chat_template=str(d["chat_template"]), n_only_a=int(d["n_only_a"]), n_only_b=int(d["n_only_b"]),
            only_a_sample=tuple(d.get("only_a_sample") or ()), only_b_sample=tuple(d.get("only_b_sample") or ()),
            summary=str(d["summary"]), seconds=float(d.get("seconds", 0.0)),
        )  # fmt: skip


def show_token(t: bytes | None) -> str:
    """A token's bytes as readable text (invalid UTF-8 as ``\\xNN``)."""
    if t is None:
        return "<none>"
    return t.decode("utf-8", "backslashreplace")


def special_key(text: str, kind: str) -> bytes:
    """The bytes a special token is compared by (SentencePiece-style ``▁`` → space, else UTF-8)."""
    return spm_to_bytes(text) if kind in ("spm-bpe", "spm-unigram", "wordpiece") else text.encode("utf-8")


def specials_diff_lists(sa: Sequence[SpecialToken], kind_a: str, sb: Sequence[SpecialToken], kind_b: str
                        ) -> SpecialsDiff:
    """Compare two lists of special tokens by their bytes (see :func:`special_key`)."""
    ka = {special_key(s.text, kind_a): s for s in sa}
    kb = {special_key(s.text, kind_b): s for s in sb}
    same = sum(1 for k, s in ka.items() if k in kb and kb[k].id == s.id)
    moved = tuple((ka[k].text, ka[k].id, kb[k].id) for k in ka if k in kb and kb[k].id != ka[k].id)
    only_a = tuple(sorted((s for k, s in ka.items() if k not in kb), key=lambda s: s.id))
    only_b = tuple(sorted((s for k, s in kb.items() if k not in ka), key=lambda s: s.id))
    return SpecialsDiff(len(sa), len(sb), same, moved, only_a, only_b)


def specials_diff(a: Vocab, b: Vocab) -> SpecialsDiff:
    return specials_diff_lists(a.specials, a.kind, b.specials, b.kind)


def _template_diff(a: Vocab, b: Vocab) -> str:
    ta, tb = a.chat_template, b.chat_template
    if ta is None and tb is None:
        return "none"
    if ta is None:
        return "only-b"
    if tb is None:
        return "only-a"
    return "same" if ta == tb else "different"


def _identical_tokens(a: Vocab, b: Vocab) -> bool:
    return a.size == b.size and a.tokens_digest == b.tokens_digest


def same_regular_tokens(a: Vocab, b: Vocab) -> bool:
    """Every id that is a regular token in A or in B holds the same bytes in both (a token may be flagged
    special on one side: MiniCPM-V 4.5 marks Qwen's regular ``<unk>`` at id 128244 as special)."""
    if a.regular_digest == b.regular_digest:
        return True
    if abs(a.n_regular - b.n_regular) > max(8, a.n_regular // 1000):
        return False
    ta, tb = a.tokens, b.tokens
    ids = np.union1d(a.regular_ids, b.regular_ids)
    if ids.size and int(ids[-1]) >= min(len(ta), len(tb)):
        return False
    return all(ta[i] == tb[i] for i in ids.tolist())


def calibrate(stats: PairStats, null: NullDistribution | None, alpha: float) -> tuple[Calibration, ...]:
    if null is None or null.n == 0:
        return ()
    out = []
    for name in CALIBRATED_STATISTICS:
        val = float(getattr(stats, name))
        thr, fpr = null.threshold(name, alpha / len(CALIBRATED_STATISTICS))
        out.append(Calibration(name, val, null.p_value(name, val), thr, fpr, null.name, null.n))
    return tuple(out)


def decide_relation(
    stats: PairStats, cal: Sequence[Calibration], *, alpha: float, identical: bool, same_regular: bool,
    max_null_prefix: int,
) -> tuple[str, bool]:
    """The relation name and whether the pair is related (see the module docstring)."""
    if identical:
        return "identical", True
    if same_regular:
        return "identical-up-to-specials", True
    na, nb, ns = stats.n_regular_a, stats.n_regular_b, stats.n_shared
    if ns == na == nb and stats.modal_offset != 0 and stats.modal_offset_share == 1.0:
        return "shifted", True
    if ns and stats.a_in_b_same_id == 1.0 and nb > na:
        return "extended", True
    if ns and stats.b_in_a_same_id == 1.0 and na > nb:
        return "pruned", True
    level = alpha / max(1, len(cal))
    related = any(c.p_value <= level for c in cal)
    if not related:
        return "independent", False
    if stats.modal_offset != 0 and stats.modal_offset_share >= NEAR:
        return "shifted", True
    if stats.a_in_b_same_id >= NEAR and nb > na:
        return "extended", True
    if stats.b_in_a_same_id >= NEAR and na > nb:
        return "pruned", True
    if stats.jaccard >= PERMUTED_JACCARD:
        return "permuted", True
    if stats.shared_prefix > max_null_prefix and stats.shared_prefix >= PREFIX_SHARE * min(na, nb):
        return "shared-prefix", True
    return "overlapping-related", True


def _summary(rel: str, a: Vocab, b: Vocab, s: PairStats, sp: SpecialsDiff, cal: Sequence[Calibration]) -> str:
    p = min((c.p_value for c in cal), default=None)
    return tokenizer_sentence(rel, s, sp, p, a=a.name or "A", b=b.name or "B", size_a=a.size,
                              null_n=cal[0].null_n if cal else 0)


def compare(a: Any, b: Any, *, null: NullDistribution | None = None, alpha: float = DEFAULT_ALPHA,
            sample: int = 20) -> TokenizerComparison:
    """Compare two tokenizers (paths, checkpoints or :class:`Vocab`), A as the reference.

    ``null`` defaults to the one shipped in the reference database.
    """
    from taoke.tokenizers._load import load

    t0 = time.perf_counter()
    va, vb = load(a), load(b)
    if null is None:
        null = default_null()
    s = pair_stats(va, vb)
    cal = calibrate(s, null, alpha)
    ident = _identical_tokens(va, vb)
    same_regular = same_regular_tokens(va, vb)
    rel, related = decide_relation(s, cal, alpha=alpha, identical=ident, same_regular=same_regular,
                                   max_null_prefix=null.max_shared_prefix if null else 0)
    sp = specials_diff(va, vb)
    only_a = [i for t, i in va.regular.items() if t not in vb.regular]
    only_b = [i for t, i in vb.regular.items() if t not in va.regular]
    only_a.sort()
    only_b.sort()
    return TokenizerComparison(
        a=va.name or va.path, b=vb.name or vb.path, kind_a=va.kind, kind_b=vb.kind, size_a=va.size,
        size_b=vb.size, relation=rel, related=related, stats=s, calibration=cal, alpha=alpha, specials=sp,
        chat_template=_template_diff(va, vb), n_only_a=len(only_a), n_only_b=len(only_b),
        only_a_sample=tuple(show_token(va.tokens[i]) for i in only_a[:sample]),
        only_b_sample=tuple(show_token(vb.tokens[i]) for i in only_b[:sample]),
        summary=_summary(rel, va, vb, s, sp, cal), seconds=time.perf_counter() - t0,
    )


def shared_token_ids(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Aligned ids of the regular tokens present in both vocabularies, sorted by A's id.

    ``ids_a[k]`` and ``ids_b[k]`` are the same token (byte-normalised): row ``ids_a[k]`` of A's embedding matrix
    and row ``ids_b[k]`` of B's embed the same string. Use it to align embeddings across models.
    """
    from taoke.tokenizers._load import load

    va, vb = load(a), load(b)
    ra, rb = va.regular, vb.regular
    pairs = sorted((i, rb[t]) for t, i in ra.items() if t in rb)
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    arr = np.asarray(pairs, dtype=np.int64)
    return arr[:, 0].copy(), arr[:, 1].copy()
