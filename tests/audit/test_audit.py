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
    EXIT_UNDECLARED,
    EXIT_UNSUPPORTED,
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
