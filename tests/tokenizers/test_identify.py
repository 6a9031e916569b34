"""identify() on every fetched tokenizer, leave-one-out: the file's own entry is removed from the database, so
the family must be named from another packaging of it (GGUF vs HF JSON vs tiktoken vs SentencePiece)."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.tokenizers import ARTIFACTS, identify, load_db
from taoke.tokenizers._families import ARTIFACTS_BY_KEY, FAMILIES, pair_label

CORE_KEYS = [a.key for a in ARTIFACTS if not a.all_only]
ALL_ONLY_KEYS = [a.key for a in ARTIFACTS if a.all_only]


def _check(vocab, key: str) -> None:  # type: ignore[no-untyped-def]
    db = load_db(include_user=False)
    v = vocab(key)
    r = identify(v, db.without(key), top=3)
    fam = ARTIFACTS_BY_KEY[key].family
    others = [a for a in ARTIFACTS if a.family == fam and a.key != key and db.get(a.key) is not None]
    same_lineage = [a for a in ARTIFACTS if a.key != key and db.get(a.key) is not None
                    and FAMILIES[a.family].lineage == FAMILIES[fam].lineage]
    if others or same_lineage:
        assert r.family is not None, r.verdict
        assert FAMILIES[r.family].lineage == FAMILIES[fam].lineage, r.verdict
        assert r.best is not None and r.best.related
    else:  # a one-of-a-kind tokenizer: it must not be attributed to an unrelated family
        assert r.family is None or pair_label(fam, r.family) != "unrelated", r.verdict
    assert r.matches and len(r.matches) <= 3


@pytest.mark.slow
@pytest.mark.parametrize("key", CORE_KEYS)
def test_identify_core_leave_one_out(vocab, key: str) -> None:  # type: ignore[no-untyped-def]
    _check(vocab, key)


@pytest.mark.slow
@pytest.mark.parametrize("key", ALL_ONLY_KEYS)
def test_identify_all_leave_one_out(vocab, key: str) -> None:  # type: ignore[no-untyped-def]
    _check(vocab, key)


def test_identify_names_the_differences(vocab) -> None:  # type: ignore[no-untyped-def]
    db = load_db(include_user=False)
    keep = {"lenml-qwen2_5"} | {a.key for a in ARTIFACTS if a.family != "qwen"}
    r = identify(vocab("lenml-qwen3"), db.without(*(e.key for e in db.entries if e.key not in keep)))
    assert r.family == "qwen" and r.best is not None and r.best.key == "lenml-qwen2_5"
    assert r.best.relation == "identical-up-to-specials" and r.best.exact
    assert len(r.best.specials.only_b) == 4 and "4 special tokens changed" in r.verdict


def test_mislabelled_npm_llama2_is_named_mistral(vocab) -> None:  # type: ignore[no-untyped-def]
    db = load_db(include_user=False)
    r = identify(vocab("lenml-llama2"), db.without("lenml-llama2"))
    assert r.family == "mistral-spm" and r.best is not None and r.best.relation == "identical"


def test_gguf_of_weights_identified(smollm2_gguf: Path) -> None:
    r = identify(smollm2_gguf)
    assert r.family == "smollm2" and r.best is not None and r.best.relation == "identical"
    assert r.to_dict()["format"] == "taoke.tokenizer-identification"


def test_user_database_entry_is_found(vocab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                      data_dir: Path) -> None:
    from taoke.tokenizers import add_to_user_db

    monkeypatch.setenv("TAOKE_HOME", str(tmp_path))
    src = data_dir / ARTIFACTS_BY_KEY["whisper-multilingual"].path
    e, path = add_to_user_db(str(src), name="my-whisper", family="whisper-multilingual")
    assert Path(path).exists() and path.startswith(str(tmp_path)) and e.user
    db = load_db().without("whisper-multilingual")
    assert db.get("my-whisper") is not None
    r = identify(vocab("whisper-multilingual"), db)
    assert r.best is not None and r.best.key == "my-whisper" and r.best.relation == "identical"
