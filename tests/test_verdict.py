"""``taoke.verdict.decide`` on evidence built by hand: every outcome, the alpha threshold, the wording, JSON.

The end-to-end tests (tests/whitebox) measure real pairs; these pin the decision rules themselves, including the
outcomes real pairs rarely reach (white-box "inconclusive", a partial copy without a unit test).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from taoke.serialize import dumps
from taoke.verdict import Verdict, VerdictKind, decide
from taoke.whitebox.align import Alignment
from taoke.whitebox.compare import ArchDiff, Evidence
from taoke.whitebox.exact import ExactResult, RoleDiff
from taoke.whitebox.stdfp import StdFingerprint
from taoke.whitebox.units import LayerMatch, UnitTestResult

SAME_ARCH = ArchDiff((("hidden_size", 576, 576), ("num_layers", 4, 4), ("architecture", "llama", "llama")))
OTHER_ARCH = ArchDiff((("hidden_size", 576, 640), ("num_layers", 4, 18)))


def diff(role: str, *, rel: float = 0.0, identical: bool = False, tol: float = 1e-6, shape=(64, 64),  # type: ignore[no-untyped-def]
         renamed_from: str | None = None, transposed: bool = False, informative: bool = True) -> RoleDiff:
    return RoleDiff(role, tuple(shape), ("F32", "F32"), 32, rel, tol, identical, transposed, informative, renamed_from)


def exact(*diffs: RoleDiff, roles: int | None = None) -> ExactResult:
    n = len(diffs) if roles is None else roles
    return ExactResult(n, n, tuple(diffs))


def units(layer_ps: list[float], model_p: float) -> UnitTestResult:
    matches = tuple(LayerMatch(j, j, 1536, 1536, 40, ("up", "down"), 0.9, 0.8, p, 256) for j, p in enumerate(layer_ps))
    return UnitTestResult(matches, np.zeros((len(layer_ps), len(layer_ps))), model_p, tuple(range(1, len(layer_ps) - 1)))


def evidence(ex: ExactResult | None = None, ut: UnitTestResult | None = None, *, arch: ArchDiff = SAME_ARCH,
             formats: tuple[str, str] = ("safetensors", "safetensors"), notes: tuple[str, ...] = ()) -> Evidence:  # fmt: skip
    al = None if ut is None else Alignment(np.eye(4, dtype=np.float32), 4096, 0.99, "procrustes-shared-tokens")
    sf = StdFingerprint(0.5, 16, 0.4, 60.0, "a null", ((1.0, 2.0),), ((1.0, float("nan")),), "reference only")
    return Evidence("a/model", "b/model", arch, None, ex, al, ut, sf, (10, 20), (100, 200), 1.5, notes, formats)


def roundtrip(v: Verdict) -> None:
    doc = json.loads(dumps(v.to_dict()))
    again = Verdict.from_dict(doc)
    assert again.kind is v.kind and again.sentence == v.sentence and again.derived_layers == v.derived_layers
    assert json.loads(dumps(again.to_dict())) == doc  # typed results are the one source: to_dict ∘ from_dict = id


def test_identical() -> None:
    v = decide(evidence(exact(diff("embed", identical=True), diff("layers.0.mlp.up", identical=True))))
    assert v.kind is VerdictKind.IDENTICAL and v.log10_p is None
    assert v.sentence == "identical: all 2 shared tensors bit-identical on sampled rows"
    roundtrip(v)


def test_bitwise_copy_in_another_format_renamed_or_transposed_is_repackaged() -> None:
    ex = exact(diff("embed", identical=True), diff("layers.0.mlp.up", identical=True, renamed_from="layers.0.mlp.gate"),
               diff("layers.0.attn.q", identical=True, transposed=True))  # fmt: skip
    v = decide(evidence(ex, formats=("gguf", "safetensors")))
    assert v.kind is VerdictKind.REPACKAGED
    assert v.sentence == ("re-packaged: all 3 tensors bit-identical on sampled rows "
                          "(gguf → safetensors, 1 tensors renamed, 1 transposed)")  # fmt: skip
    d = v.to_dict()["evidence"]["tensors"]["roles"][1]  # type: ignore[index]
    assert d["role"] == "layers.0.mlp.up = A:layers.0.mlp.gate" and d["renamed_from"] == "layers.0.mlp.gate"
    roundtrip(v)


def test_within_storage_precision_is_repackaged_and_names_the_worst_tensor() -> None:
    ex = exact(diff("embed", rel=0.01, tol=0.02), diff("layers.0.mlp.up", rel=0.001, tol=0.02))
    v = decide(evidence(ex, formats=("gguf", "gguf")))
    assert v.kind is VerdictKind.REPACKAGED
    assert v.sentence == ("re-packaged: the same weights within storage precision "
                          "(largest relative error 0.01 on embed, F32/F32)")  # fmt: skip


def test_unit_test_below_alpha_is_derived_with_a_layer_map() -> None:
    ut = units([-20.0, -30.0, -30.0, -1.0], -45.0)
    v = decide(evidence(exact(diff("embed", rel=0.5, tol=1e-6)), ut))
    assert v.kind is VerdictKind.DERIVED and v.log10_p == -45.0
    assert v.derived_layers == ((0, 0), (1, 1), (2, 2))
    assert v.sentence.startswith("derived (p < 1e-44): ") and "3 of 4 layers of B match layers of A (B0-2←A0-2)" in v.sentence
    roundtrip(v)


def test_alpha_decides_between_derived_and_independent() -> None:
    ev = evidence(exact(diff("embed", rel=0.9)), units([-3.0, -7.0, -7.0, -3.0], -7.0))
    assert decide(ev, alpha=1e-6).kind is VerdictKind.DERIVED
    v = decide(ev, alpha=1e-8)
    assert v.kind is VerdictKind.INDEPENDENT_SAME_ARCHITECTURE and v.alpha == 1e-8
    assert v.sentence == "same architecture, consistent with independent training (p < 1e-6, alpha 1e-08)"
    assert v.derived_layers == ()  # no layer reaches 1e-8


def test_partial_copy_is_derived_without_a_p_value() -> None:
    ex = exact(diff("embed", identical=True), diff("layers.0.attn.q", rel=1e-7), diff("layers.0.mlp.up", rel=1.3),
               diff("final_norm", identical=True, shape=(64,)))  # fmt: skip
    v = decide(evidence(ex, units([0.0, -1.0, 0.0], -0.5)))
    assert v.kind is VerdictKind.DERIVED and v.log10_p is None
    assert v.sentence.startswith("derived (partial copy): 2 of 4 compared weight matrices agree")
    assert v.sentence.endswith("; hidden-unit test p = 0.32")
    # an uninformative matrix (too few distinct values to be no coincidence) does not count
    ex2 = exact(diff("embed", identical=True), diff("layers.0.attn.q", rel=1e-7, informative=False), diff("x", rel=2.0))
    assert decide(evidence(ex2, units([0.0, 0.0, 0.0], 0.0))).kind is VerdictKind.INDEPENDENT_SAME_ARCHITECTURE


@pytest.mark.parametrize(("arch", "kind", "head"), [
    (SAME_ARCH, VerdictKind.INDEPENDENT_SAME_ARCHITECTURE, "same architecture, consistent with independent training"),
    (OTHER_ARCH, VerdictKind.UNRELATED, "unrelated: different architectures, consistent with independent training"),
])  # fmt: skip
def test_no_dependence_is_independent_or_unrelated(arch: ArchDiff, kind: VerdictKind, head: str) -> None:
    v = decide(evidence(exact(diff("embed", rel=1.2)), units([-7.0, -0.5, -0.2, -0.1], -0.4), arch=arch))
    assert v.kind is kind and v.log10_p == -0.4 and kind.independent and not kind.related
    assert v.sentence == f"{head} (p = 0.4, alpha 1e-06); 1 isolated layer(s) individually significant (B0←A0)"
    roundtrip(v)


def test_white_box_inconclusive_when_the_tests_could_not_run() -> None:
    notes = ("MLP up/down roles (or a fingerprint's units) missing on one side: unit test not possible",)
    v = decide(evidence(exact(diff("embed", rel=1.0)), None, notes=notes))
    assert v.kind is VerdictKind.INCONCLUSIVE and v.log10_p is None and v.derived_layers == ()
    assert v.sentence == f"inconclusive: {notes[0]}"
    assert decide(evidence(None, None)).sentence == "inconclusive: the weight tests could not run"
    # nothing compared at all (no shared roles) is not a clean bill either
    assert decide(evidence(exact(), None)).kind is VerdictKind.INCONCLUSIVE
    roundtrip(v)


def test_verdict_kinds_are_the_json_strings() -> None:
    assert [k.value for k in VerdictKind] == ["identical", "repackaged", "derived", "independent-same-architecture",
                                              "unrelated", "inconclusive"]  # fmt: skip
    assert json.loads(dumps({"verdict": VerdictKind.DERIVED})) == {"verdict": "derived"}
    assert {k for k in VerdictKind if k.related} == {VerdictKind.IDENTICAL, VerdictKind.REPACKAGED, VerdictKind.DERIVED}


# -- issue 16: storage identity, modules, components (taoke.verdict.with_modules / decide_whole) -----------------


def test_modified_copy_is_derived_not_repackaged() -> None:
    from taoke.whitebox.requant import StorageCheck

    d = RoleDiff("layers.0.mlp.up", (64, 64), ("Q4_1", "F16"), 32, 0.015, 0.15, False)
    mod = StorageCheck("layers.0.mlp.up", ("Q4_1", "F16"), 64, 1, 0, "requantise:ggml", 0.015)
    ex = ExactResult(1, 1, (d,), storage=(mod,))
    assert ex.modified == (mod,) and not ex.repackaged
    v = decide(evidence(ex, None))
    assert v.kind is VerdictKind.DERIVED and v.log10_p is None and "modified copy" in v.sentence
    assert "median relative difference 0.015" in v.sentence
    ok = StorageCheck("layers.0.mlp.up", ("Q4_1", "F16"), 64, 64, 64, "dequantise", 0.0)
    v = decide(evidence(ExactResult(1, 1, (d,), storage=(ok,)), None))
    assert v.kind is VerdictKind.REPACKAGED and "reproduces 100.0% of 64 sampled blocks" in v.sentence
    roundtrip(v)


def test_modules_and_components_decide_the_whole() -> None:
    from taoke.verdict import ComponentVerdict, decide_whole, with_modules
    from taoke.whitebox.modules import ModuleDiff, ModuleGroup

    same = decide(evidence(exact(diff("embed", identical=True), diff("layers.0.mlp.up", identical=True))))
    head = ModuleGroup("language model", "score", 1, 576)
    v = with_modules(same, ModuleDiff(extra=(head,)))
    assert v.kind is VerdictKind.DERIVED and "B carries modules A lacks: score (1 tensor, 576 parameters)" in v.sentence
    assert v.shared_part is VerdictKind.IDENTICAL  # what an audit needs to tell "the same model plus a head"
    roundtrip(v)
    v = with_modules(same, ModuleDiff(missing=(head,)))  # B lacks a module: decided on the shared part
    assert v.kind is VerdictKind.REPACKAGED and "B lacks A's score" in v.sentence
    roundtrip(v)
    indep = decide(evidence(exact(diff("embed", rel=1.3)), units([0.0, -1.0, 0.0], -0.5)))
    parts = (ComponentVerdict("language-model", "", "llm.", (3, 3), (10, 10), same),
             ComponentVerdict("vision-tower", None, "vpm.", (0, 5), (0, 7), None))
    w = decide_whole(parts, ModuleDiff(extra=(ModuleGroup("vision tower", "vision tower (vpm.*)", 5, 7),)))
    assert w.kind is VerdictKind.DERIVED and "vision tower (vpm.*)" in w.sentence
    w = decide_whole((ComponentVerdict("language-model", "", "", (3, 3), (9, 9), indep),
                      ComponentVerdict("vision-tower", "v.", "v.", (5, 5), (7, 7), indep)), ModuleDiff())
    assert w.kind is VerdictKind.INDEPENDENT_SAME_ARCHITECTURE
    assert w.log10_p is not None and w.log10_p == pytest.approx(min(-0.5 + np.log10(2), 0.0))  # Bonferroni over 2
    roundtrip(w)
    assert [c.component for c in Verdict.from_dict(w.to_dict()).components] == ["language-model", "vision-tower"]
