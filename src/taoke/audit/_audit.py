"""The attribution audit: what a model declares about its origin against what taoke detects in its weights.

Declared (read from the model's own files, nothing inferred): model-card front matter ``base_model`` and
``license``; the README text, searched for claims of independent training ("trained from scratch", "自研",
"从零开始训练"...); the config's ``_name_or_path`` (the checkpoint the model was saved from — often the one it was
fine-tuned from; recorded as a weak declaration); GGUF ``general.base_model.*`` and ``general.license``.

Detected: for each candidate ancestor, the white-box verdict of ``taoke compare CANDIDATE MODEL``
(:func:`taoke.compare`), and the tokenizer family
(:func:`taoke.tokenizers.identify`). With ``against=INDEX`` the model is fingerprinted and the index searched for
its ancestors (:func:`taoke.index.search.search`); every model the search tested exactly becomes a
:class:`Detection` (its verdict from the fingerprints), and the search itself is recorded, so a miss is reported as
a miss. Ready :class:`Detection` values can also be passed (``detections``).

Findings and exit codes (for CI and hub gating; the most severe wins):

* ``undeclared-derivation`` (exit 10) — the weights are derived from, or the same as, a candidate that the model
  does not declare (no ``base_model``, ``_name_or_path`` or GGUF base names it), or the card claims independent
  training while the weights are derived: the shell case;
* ``declared-unsupported`` (exit 11) — a declared base was given as a candidate and the weights show no
  dependence on it;
* ``inconclusive`` (exit 12) — nothing was tested (no candidate given, or every comparison was inconclusive), an
  index search found no ancestor ("no ancestor found among N indexed models (what the index covers)": a search
  that misses is not a clean bill), or a candidate could not be tested;
* ``consistent`` (exit 0) — at least one candidate was tested to a conclusion and everything detected is declared;
  declared bases for which no candidate weights were given are listed as *unchecked*, which does not fail it.

Read errors exit 3, usage errors 2 (:mod:`taoke.errors`).

Simplifications accepted: whether a candidate "is" a declared name is decided by matching normalised identifiers
(lower-case alphanumerics; one contains the other, at least 5 characters): ``HuggingFaceTB/SmolLM2-135M-Instruct``
matches a GGUF whose ``general.basename`` is ``smollm2``. A same-weights relation (identical / re-packaged, or the
same weights plus modules one side lacks) has no direction: it is consistent when the candidate is named after the
model (its name contains the model's own name: an export, a quantised copy), else it is flagged like a
derivation. The licence checklist is informational, not legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taoke import defaults
from taoke.audit._licences import Licence, find_licence
from taoke.verdict import Verdict, VerdictKind

if TYPE_CHECKING:
    from taoke.model import Model

FORMAT = "taoke.audit"
VERSION = 1

EXIT_CONSISTENT = 0
EXIT_UNDECLARED = 10
EXIT_UNSUPPORTED = 11
EXIT_INCONCLUSIVE = 12
EXIT_CODES = {"consistent": EXIT_CONSISTENT, "undeclared-derivation": EXIT_UNDECLARED,
              "declared-unsupported": EXIT_UNSUPPORTED, "inconclusive": EXIT_INCONCLUSIVE}
_SEVERITY = ("undeclared-derivation", "declared-unsupported", "inconclusive", "consistent")

DISCLAIMER = ("Informational, not legal advice: the licence checklist paraphrases common obligations of the "
              "detected ancestor's licence; read the licence itself.")

#: phrases that claim independent development (matched case-insensitively in the README body)
SCRATCH_PATTERNS = (
    r"trained\s+from\s+scratch", r"pre-?trained\s+from\s+scratch", r"\bfrom\s+scratch\b",
    r"independently\s+(?:developed|trained)", r"self-developed", r"fully\s+in-house", r"our\s+own\s+(?:base\s+)?model",
    r"自研", r"自主研发", r"从零开始训练", r"从头训练", r"从零训练",
)
_GENERIC_STEMS = {"model", "pytorch_model", "consolidated", "model_part_0000", "weights", "ggml-model"}
_QUANT_SUFFIX = re.compile(r"[._-](?:q\d(?:_[a-z0-9]+)*|f16|f32|bf16|fp16|fp32|int8|int4|gguf|onnx)$", re.I)
DERIVED_KINDS = tuple(k for k in VerdictKind if k.related)  # same weights or derived
INDEPENDENT_KINDS = tuple(k for k in VerdictKind if k.independent)
SAME_WEIGHTS = tuple(k for k in VerdictKind if k.same_weights)


def norm_id(s: str) -> str:
    """Lower-case alphanumerics only.

    >>> norm_id("HuggingFaceTB/SmolLM2-135M-Instruct")
    'huggingfacetbsmollm2135minstruct'
    """
    return re.sub(r"[^a-z0-9]", "", s.lower())


def ids_match(xs: Sequence[str], ys: Sequence[str]) -> bool:
    """True when some identifier of ``xs`` and some of ``ys`` contain one another (normalised, >= 5 chars).

    >>> ids_match(["HuggingFaceTB/SmolLM2-135M-Instruct"], ["smollm2", "Smollm2 135M 8k"])
    True
    >>> ids_match(["nreimers/MiniLM-L6-H384-uncased"], ["smollm2"])
    False
    """
    nx = {norm_id(x) for x in xs} | {norm_id(x.rsplit("/", 1)[-1]) for x in xs}
    ny = {norm_id(y) for y in ys} | {norm_id(y.rsplit("/", 1)[-1]) for y in ys}
    return any(min(len(a), len(b)) >= 5 and (a in b or b in a) for a in nx for b in ny)


def named_after(candidate_ids: Sequence[str], own_ids: Sequence[str]) -> bool:
    """True when a candidate's name contains the model's own name (normalised, >= 5 characters): its export, its
    quantised copy. One-way on purpose: a model called ``Llama-3-8B-Acme`` is not named after by ``Llama-3-8B``.

    >>> named_after(["all-minilm-l6-v2-int8-onnx"], ["all-MiniLM-L6-v2"])
    True
    >>> named_after(["Llama-3-8B"], ["Llama-3-8B-Acme"])
    False
    """
    cand = {norm_id(x) for x in candidate_ids} | {norm_id(x.rsplit("/", 1)[-1]) for x in candidate_ids}
    own = {norm_id(x) for x in own_ids} | {norm_id(x.rsplit("/", 1)[-1]) for x in own_ids}
    return any(len(o) >= 5 and o in c for o in own for c in cand)


def path_ids(location: str) -> tuple[str, ...]:
    """Identifiers a path carries: the file stem without quantisation suffixes, or the folder name.

    >>> path_ids("/d/weights/smollm2-q4/SmolLM2-135M-Instruct.Q4_1.gguf")
    ('SmolLM2-135M-Instruct',)
    """
    p = Path(location.rstrip("/"))
    if p.suffix.lower() in (".gguf", ".safetensors", ".onnx", ".bin", ".pt", ".pth"):
        stem = p.stem
        while True:
            s2 = _QUANT_SUFFIX.sub("", stem)
            if s2 == stem:
                break
            stem = s2
        if stem.lower() in _GENERIC_STEMS:
            return (p.parent.name,) if p.parent.name else ()
        return (stem,)
    return (p.name,) if p.name else ()


def _h1(text: str) -> str | None:
    m = re.search(r"^#\s+(.+?)\s*$", text, re.M)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Declaration:
    """What the model says about itself."""

    location: str
    name: str | None
    own_ids: tuple[str, ...]  # identifiers of the model itself (name, README title, path)
    bases: tuple[tuple[str, str], ...]  # (declared base, where it was declared)
    license: str | None
    license_source: str | None
    scratch_claims: tuple[str, ...]  # sentences claiming independent training
    card_source: str
    has_licence_file: bool
    text_ids: str  # normalised README text (for "does the card name the ancestor")

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "name": self.name, "own_ids": list(self.own_ids),
                "bases": [{"name": b, "source": s} for b, s in self.bases], "license": self.license,
                "license_source": self.license_source, "scratch_claims": list(self.scratch_claims),
                "card_source": self.card_source, "has_licence_file": self.has_licence_file}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Declaration:
        """Read back :meth:`to_dict` (``text_ids``, the normalised README, is not serialised: empty)."""
        return cls(str(d["location"]), d.get("name"), tuple(d.get("own_ids") or ()),
                   tuple((str(b["name"]), str(b["source"])) for b in d.get("bases") or ()), d.get("license"),
                   d.get("license_source"), tuple(d.get("scratch_claims") or ()), str(d.get("card_source", "none")),
                   bool(d.get("has_licence_file")), "")  # fmt: skip


def _sentences_with(text: str, patterns: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for m in re.finditer("|".join(f"(?:{p})" for p in patterns), text, re.I):
        start = max(text.rfind(".", 0, m.start()), text.rfind("\n", 0, m.start()), text.rfind("。", 0, m.start()))
        ends = [i for i in (text.find(".", m.end()), text.find("\n", m.end()), text.find("。", m.end())) if i >= 0]
        end = min(ends) if ends else len(text)
        s = " ".join(text[start + 1 : end + 1].split())[:240]
        if s and s not in out:
            out.append(s)
    return tuple(out[:5])


def identifiers(model: Any) -> tuple[str, ...]:
    """Names a model (a :class:`taoke.model.Model`) goes by: card name, basename, README title, path."""
    card = model.card
    ids: list[str] = []
    if card is not None:
        fm = card.front_matter or {}
        for v in (card.name, fm.get("model_name"), fm.get("general.basename"), _h1(card.text or "")):
            if isinstance(v, str) and v.strip():
                ids.append(v.strip())
    ids += path_ids(model.path)
    return tuple(dict.fromkeys(ids))


def read_declaration(model: Any) -> Declaration:
    """Everything ``model`` declares about its origin (see the module docstring)."""
    card = model.card
    fm: Mapping[str, Any] = (card.front_matter or {}) if card is not None else {}
    own = identifiers(model)
    bases: list[tuple[str, str]] = []
    src = card.source if card is not None else "none"
    if card is not None:
        where = "GGUF general.base_model" if src == "gguf-metadata" else f"{src} base_model"
        bases += [(b, where) for b in card.base_models]
    nop = fm.get("_name_or_path")
    if isinstance(nop, str) and "/" in nop and not nop.startswith(("/", ".")) and not ids_match([nop], own):
        bases.append((nop, "config.json _name_or_path (the checkpoint it was saved from; weak)"))
    text = card.text if card is not None else ""
    lic = card.license if card is not None else None
    lic_src = None if lic is None else ("GGUF general.license" if src == "gguf-metadata" else f"{src} license")
    p = Path(model.path)
    folder = p if p.is_dir() else p.parent
    has_lic = p.is_dir() and any(q.name.upper().startswith(("LICENSE", "LICENCE", "NOTICE", "USE_POLICY"))
                                 for q in folder.iterdir())
    return Declaration(model.path, card.name if card is not None else None, own, tuple(dict.fromkeys(bases)), lic,
                       lic_src, _sentences_with(text, SCRATCH_PATTERNS), src, has_lic, norm_id(text))


@dataclass(frozen=True)
class Detection:
    """One candidate ancestor and what the weights say about it (from ``taoke compare`` or an index search)."""

    location: str
    ids: tuple[str, ...]
    license: str | None
    verdict: str  # taoke.compare verdict kind
    sentence: str
    log10_p: float | None
    compare: Mapping[str, Any] = field(default_factory=dict)  # the full taoke.compare JSON (for the report)
    source: str = "candidate"  # "candidate" (given by the user) | "index" (a model the index search tested)

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "ids": list(self.ids), "license": self.license, "verdict": self.verdict,
                "sentence": self.sentence, "log10_p": self.log10_p, "compare": dict(self.compare),
                "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Detection:
        return cls(str(d["location"]), tuple(d.get("ids") or ()), d.get("license"), str(d["verdict"]),
                   str(d.get("sentence", "")), d.get("log10_p"), dict(d.get("compare") or {}),
                   str(d.get("source", "candidate")))  # fmt: skip

    def comparison(self) -> Verdict | None:
        """The full white-box verdict behind this detection (None when it came without one, e.g. from an index)."""
        return Verdict.from_dict(self.compare) if self.compare else None


def detect(model: Model, candidate: str, *, seed: int = defaults.SEED, units: int = defaults.UNITS,
           alpha: float = defaults.ALPHA) -> Detection:  # fmt: skip
    """Run ``taoke compare CANDIDATE MODEL`` and keep what the audit needs."""
    import taoke

    with taoke.open(candidate) as c:
        v = taoke.compare(c, model, alpha=alpha, seed=seed, units=units)
        card = c.card
        return Detection(c.path, identifiers(c), card.license if card is not None else None, v.kind, v.sentence,
                         v.log10_p, v.to_dict())


@dataclass(frozen=True)
class Finding:
    kind: str  # undeclared-derivation | declared-unsupported | inconclusive | declared-confirmed | distillation |
    #            declared-unchecked | declared-relative | same-model | tokenizer-family | declaration-conflict
    text: str
    candidate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "candidate": self.candidate}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(str(d["kind"]), str(d["text"]), d.get("candidate"))


@dataclass(frozen=True)
class ChecklistItem:
    licence: str
    obligation: str
    status: str  # "appears met" | "not found" | "check by hand"
    url: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChecklistItem:
        return cls(str(d["licence"]), str(d["obligation"]), str(d["status"]), str(d.get("url", "")))


@dataclass(frozen=True)
class AuditResult:
    declaration: Declaration
    detections: tuple[Detection, ...]
    tokenizer: Mapping[str, Any] | None  # taoke.tokenizer-identification JSON, or None
    findings: tuple[Finding, ...]
    status: str
    summary: str
    checklist: tuple[ChecklistItem, ...]
    notes: tuple[str, ...] = ()
    search: Mapping[str, Any] | None = None  # the index search the detections came from (SearchResult.to_dict())
    distillation: Mapping[str, Any] | None = None  # taoke.distill JSON when teachers were given (informational)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model": self.declaration.location, "status": self.status,
                "exit_code": self.exit_code, "summary": self.summary,
                "declared": self.declaration.to_dict(), "detections": [d.to_dict() for d in self.detections],
                "tokenizer": None if self.tokenizer is None else dict(self.tokenizer),
                "findings": [f.to_dict() for f in self.findings],
                "licence_checklist": [c.to_dict() for c in self.checklist], "disclaimer": DISCLAIMER,
                "notes": list(self.notes), "search": None if self.search is None else dict(self.search),
                "distillation": None if self.distillation is None else dict(self.distillation)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditResult:
        """An audit read back from its ``taoke.audit`` JSON (what reports are built from)."""
        return cls(Declaration.from_dict(d["declared"]), tuple(Detection.from_dict(x) for x in d.get("detections") or ()),
                   d.get("tokenizer"), tuple(Finding.from_dict(f) for f in d.get("findings") or ()), str(d["status"]),
                   str(d.get("summary", "")), tuple(ChecklistItem.from_dict(c) for c in d.get("licence_checklist") or ()),
                   tuple(str(n) for n in d.get("notes") or ()), d.get("search"), d.get("distillation"))  # fmt: skip


def display_name(det: Detection) -> str:
    """``file-or-folder (declared name)``: the path a reader can find, and the name the model goes by."""
    base = Path(det.location.rstrip("/")).name or det.location
    first = det.ids[0] if det.ids else None
    return base if not first or norm_id(first) == norm_id(base) else f"{base} ({first})"


def _declares(decl: Declaration, det: Detection) -> str | None:
    """Where the model declares the candidate, or None."""
    for b, where in decl.bases:
        if ids_match([b], det.ids):
            return f"{b} ({where})"
    return None


def _mentions(decl: Declaration, ids: Sequence[str]) -> bool:
    return any(len(norm_id(i)) >= 5 and norm_id(i) in decl.text_ids for i in ids)


def assess(decl: Declaration, detections: Sequence[Detection], tokenizer: Mapping[str, Any] | None = None,
           notes: Sequence[str] = (), search: Mapping[str, Any] | None = None,
           explained: Mapping[str, tuple[str, str]] | None = None) -> AuditResult:
    """Compare declarations with detections (pure logic; no file is read here).

    ``search`` is the summary of an index search the detections came from (``SearchResult.to_dict()``): when it
    found no related model, the audit is inconclusive whatever else was tested. ``explained`` maps the location of
    a related, undeclared candidate to (a confirmed declared base, the verdict between the two) when that candidate
    is itself related to the declared base (:func:`relatives_of_declared`): a sibling sharing the declared
    ancestry, not an undeclared ingredient."""
    explained = explained or {}
    findings: list[Finding] = []
    ancestors: list[Detection] = []
    for det in detections:
        name = display_name(det)
        where = _declares(decl, det)
        if det.verdict in DERIVED_KINDS:
            same = VerdictKind(det.verdict).same_weights or det.compare.get("shared_part") in SAME_WEIGHTS
            if same and named_after(det.ids, decl.own_ids):
                findings.append(Finding("same-model", f"same weights as {name}, which carries this model's own name "
                                        f"(another packaging of the same model): {det.sentence}", det.location))
                continue
            ancestors.append(det)
            if where and not decl.scratch_claims:
                findings.append(Finding("declared-confirmed", f"declared base {where} is confirmed by the weights: "
                                        f"{det.sentence}", det.location))
            elif not where and not decl.scratch_claims and det.location in explained:
                base, sent = explained[det.location]
                ancestors.pop()  # a relative, not an ancestor: no licence checklist for it
                findings.append(Finding("declared-relative", f"{name} is related to the weights, and also to the "
                                        f"declared base {base} ({sent}): a relative through the declared ancestry: "
                                        f"{det.sentence}", det.location))
            elif where:
                findings.append(Finding("undeclared-derivation", f"the card claims independent training "
                                        f"(\"{decl.scratch_claims[0]}\") while declaring {where}, and the weights are "
                                        f"derived from it: {det.sentence}", det.location))
            else:
                rel = "the same weights as" if same else "derived from"
                claim = (f"; the card claims \"{decl.scratch_claims[0]}\"" if decl.scratch_claims else "")
                men = " (the README mentions it, but no base_model metadata declares it)" if _mentions(decl, det.ids) \
                    else ""
                findings.append(Finding("undeclared-derivation", f"the weights are {rel} {name}, which the model does "
                                        f"not declare{men}{claim}: {det.sentence}", det.location))
        elif where and det.verdict in INDEPENDENT_KINDS:
            findings.append(Finding("declared-unsupported", f"declared base {where} is not supported by the weights: "
                                    f"{det.sentence}", det.location))
        elif where:
            findings.append(Finding("inconclusive", f"declared base {where} could not be checked: {det.sentence}",
                                    det.location))
        elif det.verdict not in INDEPENDENT_KINDS and det.source != "index":
            # a candidate the user named could not be tested; one the index search shortlisted and could not test
            # is part of the search, whose outcome (found / not found) decides instead
            findings.append(Finding("inconclusive", f"{name} could not be tested: {det.sentence}", det.location))
    conclusive = [d for d in detections if d.verdict in DERIVED_KINDS or d.verdict in INDEPENDENT_KINDS]
    if search is not None and not search.get("found"):
        findings.append(Finding("inconclusive", str(search.get("sentence") or "no ancestor found in the index")))
    elif not conclusive and search is None:
        findings.append(Finding("inconclusive", "nothing was tested: " + (
            "no candidate ancestor was given (add --candidate MODEL, or --against INDEX to search for one)"
            if not detections else "no comparison reached a conclusion")))  # fmt: skip
    tested = [b for b, _w in decl.bases if any(ids_match([b], d.ids) for d in detections)]
    for b, w in decl.bases:
        if b not in tested:
            findings.append(Finding("declared-unchecked", f"declares {b} ({w}); no weights of it were given "
                                    "(add --candidate to check)"))
    if decl.scratch_claims and decl.bases and not any(f.kind == "undeclared-derivation" for f in findings):
        findings.append(Finding("declaration-conflict", f"the card claims \"{decl.scratch_claims[0]}\" but also "
                                f"declares a base model ({decl.bases[0][0]})"))
    if tokenizer is not None and tokenizer.get("family"):
        fam = str(tokenizer["family"])
        findings.append(Finding("tokenizer-family", f"tokenizer family: {fam} ({tokenizer.get('verdict')}); "
                                "sharing a tokenizer is common and is not weight derivation by itself"))
    kinds = {f.kind for f in findings}
    status = next((k for k in _SEVERITY[:-1] if k in kinds), "consistent")
    n_anc = len(ancestors)
    lead = {"undeclared-derivation": "undeclared derivation", "declared-unsupported": "declared but not "
            "supported by the weights", "inconclusive": "inconclusive"}
    if status in lead:
        summary = f"{lead[status]}: " + next(f.text for f in findings if f.kind == status)
    else:  # at least one conclusive test, and nothing it found contradicts the declarations
        names = ", ".join(display_name(d) for d in conclusive[:3]) + (", ..." if len(conclusive) > 3 else "")
        if n_anc:
            summary = f"consistent: {n_anc} detected ancestor(s), all declared"
        elif any(f.kind == "same-model" for f in findings):
            summary = f"consistent: the tested candidate(s) ({names}) are this model in another packaging"
        else:
            summary = (f"consistent: no derivation from the {len(conclusive)} tested candidate(s) ({names}); "
                       "models that were not tested are not covered")
        if any(f.kind == "declared-unchecked" for f in findings):
            summary += "; some declared bases were not checked (no weights given)"
    return AuditResult(decl, tuple(detections), tokenizer, tuple(findings), status, summary,
                       checklist(decl, ancestors), tuple(notes), None if search is None else dict(search))


def _check(decl: Declaration, det: Detection, check: str | None, lic: Licence) -> str:
    if check is None:
        return "check by hand"
    if check == "licence-file":
        return "appears met (a LICENSE/NOTICE file ships with the model)" if decl.has_licence_file else "not found"
    if check == "attribution":
        ok = _declares(decl, det) is not None or _mentions(decl, det.ids)
        return "appears met (the card names the ancestor)" if ok else "not found (the card does not name the ancestor)"
    if check.startswith("name-prefix:"):
        pre = check.split(":", 1)[1]
        names = [n for n in (decl.name, *decl.own_ids) if n]
        ok = any(norm_id(n).startswith(norm_id(pre)) for n in names)
        return "appears met" if ok else f"not found (the model's name does not begin with \"{pre.title()}\")"
    if check == "same-licence":
        mine = find_licence(decl.license)
        return "appears met (same licence declared)" if mine is not None and mine.key == lic.key else \
            f"not found (the model declares {decl.license or 'no licence'})"
    return "check by hand"


def checklist(decl: Declaration, ancestors: Sequence[Detection]) -> tuple[ChecklistItem, ...]:
    items: list[ChecklistItem] = []
    for det in ancestors:
        lic = find_licence(det.license)
        name = display_name(det)
        if lic is None:
            items.append(ChecklistItem(det.license or "unknown", f"{name}: the licence "
                                       f"{'is not declared' if not det.license else 'is not in taoke’s table'}; read it "
                                       "and check what it requires of derivatives", "check by hand", ""))
            continue
        for ob in lic.obligations:
            items.append(ChecklistItem(lic.name, f"{name}: {ob.text}", _check(decl, det, ob.check, lic), lic.url))
    return tuple(items)


def audit(
    model: str,
    *,
    candidates: Sequence[str] = (),
    detections: Sequence[Detection] = (),
    against: str | Path | None = None,
    tokenizer: bool = True,
    seed: int = defaults.SEED,
    units: int = defaults.UNITS,
    alpha: float = defaults.ALPHA,
    k: int = 5,
    fingerprint: Any = None,
    teachers: Sequence[str] = (),
    progress: Callable[[str, float], None] | None = None,
) -> AuditResult:
    """Audit ``model`` (a path or URL) against candidate ancestors (paths), ready ``detections`` and/or the
    fingerprint index ``against`` (searched for the model's ancestors; ``fingerprint`` is the model's fingerprint
    when one is at hand, else the model is fingerprinted here). ``teachers``: candidate teachers for the
    distillation test (:func:`taoke.distill.distill`; behavioural lineage, shown beside the verdict and never
    changing the status). ``progress(stage, fraction)`` is called as the work advances (the CLI draws it)."""
    import taoke

    def tick(stage: str, fraction: float = 0.0) -> None:
        if progress is not None:
            progress(stage, fraction)

    notes: list[str] = []
    search: dict[str, Any] | None = None
    if against is not None:  # a bad index is reported before any work on the model
        from taoke.index.store import open_store

        _check_index(against)
        open_store(against, readonly=True).close()
    with taoke.open(model) as m:
        decl = read_declaration(m)
        dets = list(detections)
        for i, c in enumerate(candidates):
            tick(f"comparing with candidate {i + 1}/{len(candidates)}: {Path(c).name or c}")
            dets.append(detect(m, c, seed=seed, units=units, alpha=alpha))
        if against is not None:
            tick("fingerprinting the model and searching the index" if fingerprint is None else "searching the index")
            found, search = search_index(against, m if fingerprint is None else fingerprint, k=k, seed=seed)
            dets += [d for d in found if d.location not in {x.location for x in dets}]
        tick("checking undeclared relatives against the declared bases")
        explained = relatives_of_declared(decl, dets, index=against, seed=seed, alpha=alpha)
        tok: dict[str, Any] | None = None
        if tokenizer:
            tick("identifying the tokenizer family")
            try:
                from taoke.tokenizers import identify

                v = m.tokenizer()
                tok = None if v is None else identify(v).to_dict()
            except Exception as e:  # noqa: BLE001 - the tokenizer family is informational
                notes.append(f"tokenizer not identified: {str(e).splitlines()[0][:160]}")
    res = assess(decl, dets, tok, notes, search, explained)
    if not teachers:
        return res
    tick(f"distillation test against {len(teachers)} teacher(s)")
    return with_distillation(res, model, teachers)


def with_distillation(res: AuditResult, model: str, teachers: Sequence[str]) -> AuditResult:
    """``res`` with the distillation evidence for ``teachers`` (a finding and the ``taoke.distill`` result);
    a model the test cannot run gets a note instead."""
    import dataclasses

    from taoke.distill import distill
    from taoke.errors import TaokeError

    try:
        d = distill(model, teachers)
    except TaokeError as e:
        return dataclasses.replace(res, notes=(*res.notes, f"distillation not tested: {e.one_line()}"))
    finding = Finding("distillation", d.sentence, d.attributed)
    return dataclasses.replace(res, findings=(*res.findings, finding), distillation=d.to_dict())


def relatives_of_declared(decl: Declaration, detections: Sequence[Detection], *, index: str | Path | None = None,
                          seed: int = defaults.SEED, alpha: float = defaults.ALPHA) -> dict[str, tuple[str, str]]:
    """For each related candidate the model does not declare, while some declared base is confirmed: is that
    candidate related to the declared base too? (an exact test per pair, each way round when the first finds nothing:
    on the index's fingerprints when both came from ``index``, else on the weights). Returns location → (declared
    base, verdict sentence) for those that are."""
    related = [d for d in detections if d.verdict in DERIVED_KINDS]
    confirmed = [d for d in related if _declares(decl, d)]
    others = [d for d in related if not _declares(decl, d) and not named_after(d.ids, decl.own_ids)]
    if not confirmed or not others or decl.scratch_claims:
        return {}
    import taoke

    store = None
    if index is not None:
        from taoke.index.store import open_store

        store = open_store(index, readonly=True)
    out: dict[str, tuple[str, str]] = {}
    try:
        for x in others:
            for d in confirmed:
                a: Any = d.location
                b: Any = x.location
                if store is not None:
                    from taoke.errors import IndexStoreError
                    from taoke.index.view import FingerprintView

                    try:
                        a = FingerprintView(store.fingerprint(store.model(d.location).id))
                        b = FingerprintView(store.fingerprint(store.model(x.location).id))
                    except IndexStoreError:
                        a, b = d.location, x.location
                v = taoke.compare(a, b, seed=seed, alpha=alpha)
                if not v.kind.related:  # the unit test matches B's layers in A: a shallower side is tested both ways
                    v = taoke.compare(b, a, seed=seed, alpha=alpha)
                if v.kind.related:
                    out[x.location] = (display_name(d), v.sentence)
                    break
    finally:
        if store is not None:
            store.close()
    return out


def _check_index(path: str | Path) -> None:
    """A model given where an index is wanted is a usage error that points to ``--candidate``."""
    from taoke.errors import UsageError
    from taoke.index.store import model_not_index

    what = model_not_index(path)
    if what is not None:
        raise UsageError(f"this is a {what}, not a fingerprint index", subject=str(path),
                         hint=f"to test it as a candidate ancestor use --candidate {path}; to search many models, "
                              "build an index with `taoke index add` and pass it to --against")  # fmt: skip


def search_index(index: str | Path, model: Any, *, k: int = 5, seed: int = defaults.SEED
                 ) -> tuple[list[Detection], dict[str, Any]]:  # fmt: skip
    """Search ``index`` for ancestors of ``model`` (a :class:`taoke.model.Model`, a path, or its
    :class:`~taoke.index.fingerprint.Fingerprint`): every model tested exactly becomes a :class:`Detection`
    (verdict from the fingerprints), with the search's summary (:meth:`SearchResult.to_dict`)."""
    from taoke.index.fingerprint import Fingerprint, make_fingerprint
    from taoke.index.search import search
    from taoke.index.store import open_store

    fp = model if isinstance(model, Fingerprint) else make_fingerprint(model)
    with open_store(index, readonly=True) as store:
        res = search(store, fp, k=k, seed=seed)
        dets = []
        for h in res.hits:
            card = store.header(h.model_id).get("card") or {}
            ids = tuple(dict.fromkeys(x for x in (card.get("name"), h.name, *path_ids(h.location))
                                      if isinstance(x, str) and x.strip()))  # fmt: skip
            dets.append(Detection(h.location, ids, card.get("license"), h.verdict, h.sentence, h.log10_p,
                                  dict(h.compare), "index"))  # fmt: skip
    return dets, res.to_dict() | {"index": str(index)}
