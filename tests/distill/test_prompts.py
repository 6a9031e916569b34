from __future__ import annotations

from taoke.distill._prompts import (
    CONTINUATION_WORDS,
    IDENTITY_PROBE,
    IDENTITY_TRAIN,
    PREFIX_WORDS,
    build_prompt_set,
    passages_of,
    record_seed,
)
from taoke.zoo.corpus import Document


def _w(*ks: int) -> str:
    """A letters-only word for the numbers ``ks`` (prose filters count letters)."""
    return "".join(chr(97 + (k // 26**j) % 26) for k in ks for j in range(2)) + "x"


def test_passages_split_prefix_and_continuation() -> None:
    text = "short block\n\n" + " ".join(_w(i) for i in range(60)) + "\n\n>>> " + " ".join(["x"] * 60)
    ps = passages_of("m.py", text)
    assert len(ps) == 1  # the short block and the doctest block are not prose passages
    assert ps[0].prefix.split() == [_w(i) for i in range(PREFIX_WORDS)]
    assert ps[0].human.split() == [_w(i) for i in range(PREFIX_WORDS, PREFIX_WORDS + CONTINUATION_WORDS)]
    assert passages_of("m.py", text)[0].pid == ps[0].pid  # stable ids
    assert passages_of("n.py", text)[0].pid != ps[0].pid


def test_probe_and_train_passages_come_from_different_files() -> None:
    docs = [Document(f"f{k}.py", "\n\n".join(" ".join(_w(k, b, i) for i in range(50)) for b in range(3)))
            for k in range(30)]
    ps = build_prompt_set(docs)
    assert {p.source for p in ps.train}.isdisjoint({p.source for p in ps.probe})
    assert len(ps.probe) == 3 * 3 and len(ps.train) == 27 * 3  # every tenth file is held out
    assert build_prompt_set(docs).sha256 == ps.sha256


def test_real_prompt_set_is_large_enough_for_the_full_zoo() -> None:
    from taoke.zoo.distill import PLANS

    ps = build_prompt_set()
    assert len(ps.train) >= PLANS["full"].n_train and len(ps.probe) >= PLANS["full"].n_probe
    assert not set(IDENTITY_TRAIN) & set(IDENTITY_PROBE)


def test_record_seed_is_stable_and_spread() -> None:
    assert record_seed(0, "a") == record_seed(0, "a")
    assert len({record_seed(0, f"k{i}") for i in range(1000)}) == 1000
    assert record_seed(0, "a") != record_seed(1, "a")
