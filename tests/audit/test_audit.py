"""`taoke audit` on real models: a zoo derivative of SmolLM2 with a card claiming "trained from scratch" is
flagged as an undeclared derivation; the same weights with a correct base_model pass; MiniLM's own folder
(its config declares nreimers/MiniLM-L6-H384-uncased) is handled sensibly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import taoke
from taoke.audit import (
    EXIT_CONSISTENT,
    EXIT_INCONCLUSIVE,
    EXIT_UNDECLARED,
    EXIT_UNSUPPORTED,
    Declaration,
    Detection,
    assess,
    ids_match,
    read_declaration,
)
from taoke.cli import main

SCRATCH_CARD = """---
license: apache-2.0
language: en
---
# Acme-LM 135M

Acme-LM is a compact assistant model developed by the Acme lab. It was trained from scratch on our curated corpus.
"""

DECLARED_CARD = """---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
---
# Acme-LM 135M

A fine-tune of SmolLM2-135M-Instruct by the Acme lab.
"""


def _variant(src: Path, dest: Path, card: str) -> Path:
    """A copy of a zoo model folder (weights linked, not copied) with a model card."""
    dest.mkdir()
    for f in src.iterdir():
        if f.name == "model.safetensors":
            (dest / f.name).symlink_to(f.resolve())
        else:
            shutil.copy(f, dest / f.name)
    (dest / "README.md").write_text(card)
    return dest


def test_declarations_are_read(zoo_entry: Path, tmp_path: Path, smollm2_gguf: Path) -> None:
    with taoke.open(str(_variant(zoo_entry, tmp_path / "acme", SCRATCH_CARD))) as m:
        d = read_declaration(m)
    assert d.bases == () and d.license == "apache-2.0" and "Acme-LM 135M" in d.own_ids
    assert len(d.scratch_claims) == 1 and "trained from scratch" in d.scratch_claims[0]
    with taoke.open(str(smollm2_gguf)) as g:  # GGUF general.* metadata
        assert g.card is not None and g.card.license == "apache-2.0"
        from taoke.audit._audit import identifiers

        assert ids_match(["HuggingFaceTB/SmolLM2-135M-Instruct"], identifiers(g))
        assert not ids_match(["nreimers/MiniLM-L6-H384-uncased"], identifiers(g))


@pytest.mark.slow
def test_undeclared_derivative_flagged_and_declared_one_passes(zoo_entry: Path, smollm2_gguf: Path,
                                                                tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    shell = _variant(zoo_entry, tmp_path / "acme", SCRATCH_CARD)
    out = tmp_path / "audit.html"
    rc = main(["audit", str(shell), "--candidate", str(smollm2_gguf), "--json", "--report", str(out)])
    doc = json.loads(capsys.readouterr().out)
    assert rc == EXIT_UNDECLARED == doc["exit_code"] and doc["status"] == "undeclared-derivation"
    det = doc["detections"][0]
    assert det["verdict"] == "derived" and det["log10_p"] < -12
    f = next(x for x in doc["findings"] if x["kind"] == "undeclared-derivation")
    assert "SmolLM2" in f["text"] and "trained from scratch" in f["text"]
    checks = {c["obligation"].split(": ", 1)[1]: c["status"] for c in doc["licence_checklist"]}
    assert any(k.startswith("Keep the copyright") and v.startswith("not found") for k, v in checks.items())
    html = out.read_text()
    assert "undeclared-derivation" in html and "not legal advice" in html and "data:image/svg+xml" in html

    # the same weights with a card that declares the base: consistent (exit 0); detection reused from the run
    good = _variant(zoo_entry, tmp_path / "acme-declared", DECLARED_CARD)
    with taoke.open(str(good)) as m:
        decl = read_declaration(m)
    d = Detection(det["location"], tuple(det["ids"]), det["license"], det["verdict"], det["sentence"],
                  det["log10_p"], det["compare"])
    res = assess(decl, [d])
    assert res.status == "consistent" and res.exit_code == 0
    assert [x.kind for x in res.findings] == ["declared-confirmed"]
    assert all(not c.status.startswith("not found (the card") for c in res.checklist)
    # ... and a declared base that the weights do not support (the model is compared with an unrelated one)
    unrel = Detection(det["location"], tuple(det["ids"]), "apache-2.0", "unrelated", "unrelated: ...", 0.0)
    assert assess(decl, [unrel]).exit_code == EXIT_UNSUPPORTED


# -- exit codes of the four outcomes, on the derivatives an ancestor search must find (issue 15) --------------------

TINY_SCRATCH = SCRATCH_CARD.replace("Acme-LM 135M", "Acme-LM")
TINY_DECLARED = """---
license: apache-2.0
base_model: taoke-zoo/tiny-0
---
# Acme-LM

A pruned tiny-0 by the Acme lab.
"""


@pytest.fixture(scope="module")
def tiny_index(fps, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """An index of tiny-0 (the base), tiny-1 (independent, same tokenizer) and MiniLM, from their fingerprints."""
    db = tmp_path_factory.mktemp("audit") / "tiny.db"
    assert main(["index", "add", str(fps["tiny-0"]), str(fps["tiny-1"]), str(fps["minilm"]), "--index", str(db)]) == 0
    return db


def _audit(capsys, *args: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    rc = main(["audit", *args, "--no-tokenizer", "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_undeclared_derivation_found_in_the_index(small_zoo, tiny_index: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Unknown tensor schema, odd config, no tokenizer, a from-scratch card: the index finds tiny-0 (exit 10)."""
    shell = _variant(small_zoo.path_of("tiny-0-opaque"), tmp_path / "acme", TINY_SCRATCH)
    rc, doc = _audit(capsys, str(shell), "--against", str(tiny_index))
    assert rc == EXIT_UNDECLARED and doc["status"] == "undeclared-derivation"
    assert doc["search"]["found"] and doc["search"]["indexed"] == 3
    assert doc["detections"][0]["verdict"] == "derived" and "tiny-0" in doc["detections"][0]["ids"]


def test_declared_base_confirmed_is_consistent(small_zoo, tiny_index: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    good = _variant(small_zoo.path_of("tiny-0-mlp-prune"), tmp_path / "acme", TINY_DECLARED)
    rc, doc = _audit(capsys, str(good), "--against", str(tiny_index))
    assert rc == EXIT_CONSISTENT and doc["status"] == "consistent"
    assert "declared-confirmed" in [f["kind"] for f in doc["findings"]]


def test_unsupported_claim(small_zoo, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An independently trained model declaring tiny-0 as its base, tested against tiny-0: exit 11."""
    liar = _variant(small_zoo.path_of("tiny-1"), tmp_path / "acme", TINY_DECLARED)
    rc, doc = _audit(capsys, str(liar), "--candidate", str(small_zoo.path_of("tiny-0")))
    assert rc == EXIT_UNSUPPORTED and doc["status"] == "declared-unsupported"
    assert doc["detections"][0]["verdict"] == "independent-same-architecture"


def test_a_miss_is_inconclusive_never_consistent(small_zoo, fps, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The ancestor is not indexed: the search tests what it has, finds nothing related, and says so (exit 12)."""
    db = tmp_path / "no-tiny-0.db"
    assert main(["index", "add", str(fps["tiny-1"]), str(fps["minilm"]), "--index", str(db)]) == 0
    shell = _variant(small_zoo.path_of("tiny-0-transplant"), tmp_path / "acme", TINY_SCRATCH)
    rc, doc = _audit(capsys, str(shell), "--against", str(db))
    assert rc == EXIT_INCONCLUSIVE and doc["status"] == "inconclusive"
    assert doc["summary"].startswith("inconclusive: no ancestor found among 2 indexed models (bert ×1, llama ×1)")
    assert doc["search"]["tested"] == 2 and not doc["search"]["found"]
    # nothing given at all: nothing was tested, which is not a clean bill either
    rc, doc = _audit(capsys, str(shell))
    assert rc == EXIT_INCONCLUSIVE and doc["summary"].startswith("inconclusive: nothing was tested")


def test_against_a_model_points_to_candidate(small_zoo, smollm2_gguf: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    rc = main(["audit", str(small_zoo.path_of("tiny-0")), "--against", str(smollm2_gguf)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "GGUF model, not a fingerprint index" in err and "--candidate" in err


def test_a_sibling_of_the_declared_base_is_not_an_undeclared_ancestor(tmp_path: Path) -> None:
    """A search also finds models related to the declared base (siblings): explained by the declared ancestry unless
    the card claims independence; an unexplained related candidate stays an undeclared derivation."""
    decl = Declaration(str(tmp_path), "Acme", ("Acme-LM",), (("org/Base-Model", "README.md base_model"),), None,
                       None, (), "README.md", False, "")  # fmt: skip
    base = Detection("/i/base-model", ("Base-Model",), None, "derived", "derived (p < 1e-80)", -80.0)
    sib = Detection("/i/sibling-model", ("Sibling-Model",), None, "derived", "derived (p < 1e-20)", -20.0)
    res = assess(decl, [base, sib], explained={sib.location: ("base-model", "derived (p < 1e-20)")})
    assert res.status == "consistent" and [f.kind for f in res.findings] == ["declared-confirmed", "declared-relative"]
    assert len(res.checklist) == 1  # the licence checklist is the ancestor's, not the sibling's
    assert assess(decl, [base, sib]).status == "undeclared-derivation"
