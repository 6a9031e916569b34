"""Ancestor search (issue 15): every derivation kind is found from an index with distractors by its first cut, and
a search that finds nothing says how many models it considered and why none qualified.

Index: tiny-0 (the base of the derived kinds), tiny-1..3 (trained from scratch with the same tokenizer on the same
text: the hardest real negatives), MiniLM, the real SmolLM2 GGUF, and 300 sketch-only distractors drawn at the
similarity independent real models have (``tests/index/distractors.py``), inserted *before* the real models so a
capped bucket look-up that kept the oldest entries would lose them. The queries are real derivatives
(``taoke.zoo.recipes_ancestry``) plus MiniLM's real int8 ONNX export (quantisation) and its zoo derivatives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taoke.index.fingerprint import Fingerprint
from taoke.index.search import EXHAUSTIVE_BELOW, first_cut, search
from taoke.index.store import IndexStore
from tests.index.conftest import ANCESTRY_ZOO
from tests.index.distractors import distractors

BASES = ("tiny-0", "tiny-1", "tiny-2", "tiny-3", "minilm", "smollm2-q4_1")
N_DISTRACTORS = 300
#: query → its ancestor in the index (the transformation each stands for: see taoke.zoo.recipes_ancestry)
TRUTH = {q: "tiny-0" for q in ANCESTRY_ZOO} | {"minilm-int8": "minilm", "minilm-perm": "minilm",
                                               "minilm-noise": "minilm"}  # fmt: skip


@pytest.fixture(scope="module")
def index(fps, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("search") / "idx.db"
    real = {n: Fingerprint.load(fps[n]) for n in BASES}
    with IndexStore(db) as s:
        s.add_many(distractors(list(real.values()), N_DISTRACTORS, np.random.default_rng(15)))
        for n, fp in real.items():
            s.add(fp, name=n)
        assert s.count() == N_DISTRACTORS + len(BASES) > EXHAUSTIVE_BELOW  # the widening would not be exhaustive
    return db


@pytest.mark.parametrize("query", sorted(TRUTH))
def test_each_derivation_kind_is_found_by_the_first_cut(index: Path, fps, query: str) -> None:  # type: ignore[no-untyped-def]
    fp = Fingerprint.load(fps[query])
    with IndexStore(index, readonly=True) as s:
        res = search(s, fp, k=5)
        first = s.model(first_cut(s, fp).shortlist[0].model_id).name
    assert res.found and res.hits[0].name == TRUTH[query], res.sentence()
    assert res.widened is None  # found by the keys, not by widening
    top = res.hits[0]
    assert top.verdict in ("derived", "repackaged") and set(top.via) & {"c", "w", "i", "t", "digest", "shape"}
    assert first == TRUTH[query]  # the first cut ranks the ancestor first (distractors and independents after)
    assert res.sentence().startswith(f"{len(res.related)} related model")
    assert f"found among {N_DISTRACTORS + len(BASES)} indexed; best: {TRUTH[query]} (" in res.sentence()


def test_transplant_needs_the_body_sketch(index: Path, fps) -> None:  # type: ignore[no-untyped-def]
    """New tokenizer and new embeddings on tiny-0's body: only the body sketch (residual-channel profile) keys it."""
    fp = Fingerprint.load(fps["tiny-0-transplant"])
    with IndexStore(index, readonly=True) as s:
        top = first_cut(s, fp).shortlist[0]
        assert s.model(top.model_id).name == "tiny-0"
    assert "c" in top.via and top.sims["c"] > 0.9 and top.sims.get("t", 0.0) < 0.5


def test_a_miss_says_what_was_searched_and_why(fps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The ancestor is not indexed: no empty table without a sentence saying how many models were considered."""
    real = [Fingerprint.load(fps[n]) for n in ("tiny-1", "tiny-2", "minilm")]
    q = Fingerprint.load(fps["tiny-0-opaque"])
    with IndexStore(tmp_path / "small.db") as s:
        for fp in real:
            s.add(fp)
        res = search(s, q)  # small index: widened to every indexed model
        assert not res.found and res.widened == "exhaustive" and res.tested == 3
        assert res.sentence().startswith("no ancestor found among 3 indexed models (llama ×2, bert ×1): the first "
                                         "cut considered ")
        assert res.sentence().endswith("(the query has no tokenizer or embedding geometry); widened to every indexed "
                                       "model (3); 3 tested exactly; none is related")
        d = res.to_dict()
        assert d["found"] is False and d["sentence"] == res.sentence() and len(d["hits"]) == 3
    with IndexStore(tmp_path / "big.db") as s:  # large index: a wider cut, and still a sentence
        s.add_many(distractors(real, 200, np.random.default_rng(1)))
        res = search(s, q)
        assert not res.found and res.widened == "wider cut" and res.tested > 0
        assert res.sentence().startswith("no ancestor found among 200 indexed models (llama ×")
        assert "tested exactly" in res.sentence() and res.sentence().endswith("none is related")
    with IndexStore(tmp_path / "empty.db") as s:
        assert search(s, q).sentence() == "no ancestor found: the index is empty"


def test_body_sketch_of_fingerprints_made_before_channel_profiles(fps) -> None:  # type: ignore[no-untyped-def]
    """A fingerprint without ``ch.<layer>`` (made before they were kept; an index migrated to v4 back-fills from it)
    gets its body sketch from the stored canonical units: close to the full one, and it still keys the transplant."""
    from taoke.index.sketch import descriptors

    def body(name: str, strip: bool) -> np.ndarray:
        fp = Fingerprint.load(fps[name])
        arrays = {k: v for k, v in fp.arrays.items() if not (strip and k.startswith("ch."))}
        return descriptors(fp.header, arrays)["c"]

    old, new = body("tiny-0", True), body("tiny-0", False)
    assert float(old @ new) > 0.8  # measured 0.85 (MiniLM 0.84, SmolLM2 0.80)
    assert float(old @ body("tiny-0-transplant", False)) > 0.8 > 0.2 > abs(float(old @ body("tiny-1", True)))
