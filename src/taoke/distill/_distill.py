"""``distill(student, teachers)``: evidence that a model was trained on another model's outputs.

Flow (one way): resolve each model (GGUF file, Llama folder, endpoint, or a ``zoo:`` name) → the teacher's
answers to the probe prompts (sampled once, cached) → the statistic for the student (likelihood gap when the
student's weights are given, style ratio of its sampled answers otherwise; :mod:`taoke.distill._stats`) → the
same statistic for the control students of the null → p-value → verdict, with the identity check beside it.

Wording: a significant result is *behavioural lineage* — "trained on T's outputs" — never weight derivation
(weights are compared by ``taoke compare``; a distilled student shares no weights with its teacher). A result
that is not significant says "no evidence … at this power", not "not distilled". When the student is not of the
null's kind (white-box: another architecture than the null students), the verdict is "inconclusive" and the
numbers are still shown: the null says nothing about how such a model behaves.

Attribution: each candidate teacher is tested against its own null at ``alpha / k`` (Bonferroni over the ``k``
candidates); the attributed teacher is the significant one with the largest standardised statistic. More than
one can be significant (a student of a mixture, or teachers that resemble each other).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taoke.distill._backends import (
    EndpointModel,
    LanguageModel,
    LlamaCppModel,
    Query,
    Sample,
    SamplingParams,
    TorchLlamaModel,
)
from taoke.distill._prompts import IDENTITY_PROBE, PromptSet, build_prompt_set, record_seed
from taoke.distill._stats import LIKELIHOOD, STAT_VERSION, STYLE, NullFit, likelihood_gap, style_llr
from taoke.errors import ReaderError, TaokeError, UsageError

FORMAT = "taoke.distill"
VERSION = 1
SAMPLES_FORMAT = "taoke.distill-corpus"
WORDING = "behavioural lineage (trained on the teacher's outputs), not weight derivation"
DEFAULT_PARAMS = SamplingParams(max_tokens=48, temperature=0.8, top_p=0.95, top_k=40)


# -- models ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """What the user named: ``kind`` is gguf | hf | endpoint; ``identity`` keys caches (weights sha256, or URL)."""

    spec: str
    kind: str
    location: str
    model: str | None = None  # endpoint model name
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {"spec": self.spec, "kind": self.kind, "location": self.location, "label": self.label}
        if self.model is not None:
            d["model"] = self.model
        return d


@dataclass(frozen=True)
class EndpointOptions:
    """How endpoints are queried (see :class:`taoke.blackbox.client.ChatClient`)."""

    api_key_env: str = "OPENAI_API_KEY"
    budget: int | None = 400
    timeout_s: float = 30.0
    deadline_s: float = 120.0
    concurrency: int = 4
    cache: Path | None = None
    replay: bool = False


def resolve(spec: str, *, default_model: str = "default", distill_root: Path | None = None,
            data_dir: Path | None = None) -> ModelRef:
    """``spec`` → :class:`ModelRef`. Accepts a GGUF file, a Llama folder, ``URL[#model]``, ``zoo:<teacher>``
    (``zoo:smollm2``, ``zoo:gemma3``) and ``zoo:<student>`` (a student of the distillation zoo)."""
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        return ModelRef(spec, "endpoint", url, model or default_model, label=model or default_model)
    if spec.startswith("zoo:"):
        from taoke import defaults
        from taoke.zoo.distill import TEACHERS, default_distill_dir

        name = spec[4:]
        data = Path(data_dir) if data_dir is not None else defaults.data_dir()
        if name in TEACHERS:
            return ModelRef(spec, "gguf", str(data / TEACHERS[name].path), label=TEACHERS[name].label)
        root = distill_root or default_distill_dir(data)
        folder = root / "students" / name
        if not (folder / "model.safetensors").is_file():
            raise UsageError(f"no teacher or built student named {name!r} in the distillation zoo",
                             subject=str(root), hint="teachers: zoo:smollm2, zoo:gemma3; build students with "
                                                     "`taoke distill-zoo`")
        return ModelRef(spec, "hf", str(folder), label=name)
    p = Path(spec).expanduser()
    if p.is_dir():
        return ModelRef(spec, "hf", str(p), label=p.name)
    if p.is_file():
        return ModelRef(spec, "gguf", str(p), label=p.stem)
    raise ReaderError("no such file, folder or URL", subject=spec,
                      hint="give a GGUF file, a Hugging Face Llama folder, URL[#model] or zoo:NAME")


def open_model(ref: ModelRef, opts: EndpointOptions | None = None) -> LanguageModel:
    if ref.kind == "gguf":
        return LlamaCppModel(Path(ref.location), name=ref.label)
    if ref.kind == "hf":
        return TorchLlamaModel(Path(ref.location), name=ref.label)
    from taoke.blackbox.budget import QueryBudget
    from taoke.blackbox.cache import ResponseCache
    from taoke.blackbox.client import ChatClient, ClientConfig, Endpoint

    o = opts or EndpointOptions()
    cfg = ClientConfig(timeout_s=o.timeout_s, deadline_s=o.deadline_s, max_concurrency=o.concurrency)
    client = ChatClient(Endpoint(ref.location, ref.model or "default", o.api_key_env), config=cfg,
                        budget=QueryBudget(o.budget), cache=ResponseCache(o.cache) if o.cache else None,
                        offline=o.replay)
    return EndpointModel(client, name=ref.label)


def identity_of(ref: ModelRef, root: Path | None = None) -> str:
    """A cache key for a model: sha256 of its weights file, or its endpoint URL and model name."""
    if ref.kind == "endpoint":
        return "endpoint:" + hashlib.sha256(f"{ref.location}#{ref.model}".encode()).hexdigest()
    from taoke.zoo.distill import cached_sha256

    p = Path(ref.location)
    w = p / "model.safetensors" if p.is_dir() else p
    return cached_sha256(w, _cache_root(root) / "sha")


def architecture(model: LanguageModel) -> dict[str, int] | None:
    """(hidden size, layers, vocabulary) of a white-box model; None for an endpoint."""
    if isinstance(model, TorchLlamaModel):
        c = model.cfg
        return {"hidden_size": c.hidden_size, "num_layers": c.num_layers, "vocab_size": c.vocab_size}
    if isinstance(model, LlamaCppModel):
        L = model._L
        return {"hidden_size": int(L.llama_model_n_embd(model._model)),
                "num_layers": int(L.llama_model_n_layer(model._model)),
                "vocab_size": int(model._n_vocab)}
    return None


def _zoo_teachers(root: Path | None) -> list[ModelRef]:
    """The distillation zoo's teachers whose weights are on this machine (the references of the covariate)."""
    from taoke import defaults
    from taoke.zoo.distill import TEACHERS

    data = defaults.data_dir()
    return [ModelRef(f"zoo:{name}", "gguf", str(data / t.path), label=t.label) for name, t in TEACHERS.items()
            if (data / t.path).is_file()]


class _Lazy:
    """A model opened on first use (most answers come from the cache and never need it)."""

    def __init__(self, ref: ModelRef, opts: EndpointOptions | None) -> None:
        self.ref, self.opts = ref, opts
        self.name = ref.label
        self._m: LanguageModel | None = None

    def _get(self) -> LanguageModel:
        if self._m is None:
            self._m = open_model(self.ref, self.opts)
        return self._m

    @property
    def chat(self) -> bool:
        return self._get().chat

    @property
    def can_score(self) -> bool:
        return self.ref.kind != "endpoint"

    def sample(self, queries: Sequence[Query], params: SamplingParams, seeds: Sequence[int],
               progress: Callable[[int], None] | None = None) -> list[Sample]:
        return self._get().sample(queries, params, seeds, progress)

    def score(self, queries: Sequence[Query], answers: Sequence[str]) -> list[np.ndarray]:
        return self._get().score(queries, answers)

    def close(self) -> None:
        if self._m is not None:
            self._m.close()


# -- cached answers -------------------------------------------------------------------------------------------


def _cache_root(root: Path | None) -> Path:
    if root is not None:
        return Path(root)
    from taoke.zoo.distill import default_distill_dir

    return default_distill_dir()


def _header(identity: str, prompts: PromptSet, params: SamplingParams) -> dict[str, Any]:
    return {"format": SAMPLES_FORMAT, "version": 1, "weights_sha256": identity, "prompts_sha256": prompts.sha256,
            "sampling": params.to_dict() | {"sampler": "numpy"}}


def _read_jsonl(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0]) if lines else {}
    recs: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        with contextlib.suppress(json.JSONDecodeError):
            d = json.loads(line)
            if isinstance(d, dict) and "key" in d:
                recs[str(d["key"])] = d
    return header, recs


def _same_sampling(a: Any, b: dict[str, Any]) -> bool:
    return isinstance(a, dict) and all(a.get(k) == v for k, v in b.items())


def answers(model: LanguageModel, identity: str, queries: Sequence[Query], prompts: PromptSet, *,
            root: Path | None = None, params: SamplingParams = DEFAULT_PARAMS, seed_base: int = 0,
            progress: Callable[[str], None] | None = None) -> dict[str, Sample]:
    """``model``'s answers to ``queries``, sampled once and cached as JSON lines under ``root/samples``.

    A teacher corpus of the distillation zoo made from the same weights, prompt set and sampling counts as a
    cache too (its probe answers are the ones the zoo's statistic used)."""
    base = _cache_root(root)
    want = _header(identity, prompts, params)
    found: dict[str, Sample] = {}
    own = base / "samples" / f"{_short(identity)}-{_short(json.dumps(want['sampling'], sort_keys=True))[:8]}.jsonl"
    for f in sorted((base / "corpora").glob("*.jsonl")) + [own]:
        if not f.is_file():
            continue
        try:
            h, recs = _read_jsonl(f)
        except (OSError, json.JSONDecodeError):
            continue
        if h.get("weights_sha256") != identity or h.get("prompts_sha256") != prompts.sha256 \
                or not _same_sampling(h.get("sampling"), want["sampling"]):
            continue
        for q in queries:
            r = recs.get(q.key)
            if r is not None and q.key not in found:
                found[q.key] = Sample(q.key, str(r["text"]), int(r.get("n_tokens", 0)), str(r.get("finish", "")))
    todo = [q for q in queries if q.key not in found]
    if todo:
        if progress:
            progress(f"{model.name}: sampling {len(todo)} answers ({len(found)} cached)")
        seeds = [record_seed(seed_base, f"{_short(identity)}/{q.key}") for q in todo]
        new = model.sample(todo, params, seeds)
        out = own
        out.parent.mkdir(parents=True, exist_ok=True)
        fresh = not out.is_file()
        if not fresh:
            with contextlib.suppress(OSError, json.JSONDecodeError, IndexError):
                fresh = _read_jsonl(out)[0] != want
            if fresh:
                out.unlink()
        with out.open("a", encoding="utf-8") as fh:
            if fresh:
                fh.write(json.dumps(want) + "\n")
            for q, s in zip(todo, new, strict=True):
                fh.write(json.dumps({"key": q.key, "split": q.kind, "prompt": q.text, "text": s.text,
                                     "n_tokens": s.n_tokens, "finish": s.finish_reason}, ensure_ascii=False) + "\n")
                found[q.key] = s
    return {q.key: found[q.key] for q in queries}


def _short(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def probe_queries(prompts: PromptSet, n: int) -> list[Query]:
    return [Query(p.pid, "continue", p.prefix) for p in prompts.probe_subset(n)]


# -- statistics of one student --------------------------------------------------------------------------------


def student_statistic(stat: str, student: LanguageModel, student_id: str, teacher_answers: dict[str, Sample],
                      prompts: PromptSet, n: int, *, root: Path | None = None,
                      progress: Callable[[str], None] | None = None) -> tuple[float, int, int]:
    """(statistic, probes used, student tokens sampled — 0 for the likelihood gap)."""
    qs = probe_queries(prompts, n)
    humans = {p.pid: p.human for p in prompts.probe_subset(n)}
    if stat == LIKELIHOOD:
        t_lp = student.score(qs, [teacher_answers[q.key].text for q in qs])
        h_lp = student.score(qs, [humans[q.key] for q in qs])
        v, used = likelihood_gap(t_lp, h_lp)
        return v, used, 0
    s_ans = answers(student, student_id, qs, prompts, root=root, seed_base=1, progress=progress)
    v, used = style_llr([s_ans[q.key].text for q in qs], [teacher_answers[q.key].text for q in qs],
                        [humans[q.key] for q in qs])
    return v, used, sum(s.n_tokens for s in s_ans.values())


# -- the null -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A control student of the null: a model that did not see the teacher."""

    name: str
    ref: ModelRef
    teacher_sha256: str | None = None  # the zoo teacher it saw, if any


def zoo_controls(subset: str | None = None, *, root: Path | None = None) -> tuple[str, list[Control]]:
    """The null-role students of the distillation zoo (``subset`` None: full if built, else fast)."""
    from taoke.zoo.distill import DistillZoo, student_plan

    base = _cache_root(root)
    subsets = [subset] if subset else ["full", "fast"]
    last: TaokeError | None = None
    for sub in subsets:
        try:
            zoo = DistillZoo.load(base, sub)
        except TaokeError as e:
            last = e
            continue
        ctl = [Control(s.name, ModelRef(f"zoo:{s.name}", "hf", str(zoo.folder(s)), label=s.name), s.teacher_sha256)
               for s in zoo.by_role("null") if (zoo.folder(s) / "model.safetensors").is_file()]
        planned = {name for name, _k, _s, role in student_plan(sub) if role == "null"}
        if {c.name for c in ctl} == planned:
            return sub, ctl
        last = ReaderError(f"the {sub} distillation zoo is incomplete ({len(ctl)} of {len(planned)} null students)",
                           subject=str(base), hint=f"finish it with `taoke distill-zoo --subset {sub}`")
    raise last or ReaderError("the distillation zoo has no null students", subject=str(base),
                              hint="run `taoke distill-zoo --subset fast` (or full)")


@dataclass(frozen=True)
class Source:
    """A model whose answers the statistic is computed on: a candidate teacher or a reference model."""

    label: str
    identity: str
    answers: Mapping[str, Sample] = field(repr=False)


def control_statistics(stat: str, controls: Sequence[Control], sources: Sequence[Source], prompts: PromptSet,
                       n: int, *, root: Path | None = None, progress: Callable[[str], None] | None = None
                       ) -> dict[str, dict[str, float]]:
    """control name -> source identity -> statistic, cached in ``null-cache.json`` per control and source."""
    base = _cache_root(root)
    cache_path = base / "null-cache.json"
    cache: dict[str, float] = {}
    with contextlib.suppress(OSError, json.JSONDecodeError):
        cache = dict(json.loads(cache_path.read_text()))
    out: dict[str, dict[str, float]] = {}
    for c in controls:
        cid = identity_of(c.ref, root)
        keys = {src.identity: f"{stat}@{STAT_VERSION[stat]}|{prompts.sha256[:16]}|{n}|{_short(src.identity)}|"
                              f"{_short(cid)}"
                for src in sources}
        missing = [src for src in sources if keys[src.identity] not in cache]
        if missing:
            if progress:
                progress(f"null: {c.name}")
            m = open_model(c.ref)
            try:
                for src in missing:
                    cache[keys[src.identity]] = student_statistic(stat, m, cid, dict(src.answers), prompts, n,
                                                                  root=root)[0]
            finally:
                m.close()
            tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError, json.JSONDecodeError):  # keep what other processes added
                cache = dict(json.loads(cache_path.read_text())) | cache
            tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
            os.replace(tmp, cache_path)
        out[c.name] = {sid: float(cache[k]) for sid, k in keys.items()}
    return out


def null_fit(teacher: Source, references: Sequence[Source], controls: Sequence[Control],
             stats_of: Mapping[str, Mapping[str, float]], description: str) -> NullFit:
    """The null for ``teacher``: every control that did not see it, with its mean statistic over ``references``
    as the covariate (none when there are no references)."""
    names: list[str] = []
    vals: list[float] = []
    cov: list[float] = []
    for c in controls:
        if c.teacher_sha256 is not None and c.teacher_sha256 == teacher.identity:
            continue
        names.append(c.name)
        vals.append(stats_of[c.name][teacher.identity])
        if references:
            cov.append(float(np.mean([stats_of[c.name][r.identity] for r in references])))
    what = ("mean " + ", ".join(r.label for r in references) + " statistic (reference affinity)") if references \
        else ""
    return NullFit(description, tuple(names), tuple(vals), tuple(cov) if references else None, what)


# -- identity -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityCheck:
    """What the student says it is, beside what each teacher says — reported, never counted as proof."""

    student_claims: tuple[tuple[str, int], ...]
    teacher_claims: tuple[tuple[str, tuple[str, ...]], ...]
    confused_with: tuple[str, ...]  # teachers whose name the student claims
    answers: tuple[tuple[str, str], ...]
    queries: int

    def to_dict(self) -> dict[str, Any]:
        return {"student_claims": dict(self.student_claims),
                "teacher_claims": {t: list(c) for t, c in self.teacher_claims},
                "confused_with": list(self.confused_with),
                "answers": [{"question": q, "answer": a[:300]} for q, a in self.answers], "queries": self.queries,
                "note": "what a model says about itself is not evidence of its training data"}


def identity_check(student: LanguageModel, student_id: str,
                   teachers: Sequence[tuple[str, LanguageModel, str, str]], prompts: PromptSet, *,
                   root: Path | None = None) -> IdentityCheck:
    """Ask the student (and each teacher: label, model, file name, identity) :data:`IDENTITY_PROBE` greedily;
    answers are cached like probe answers."""
    from collections import Counter

    from taoke.blackbox.probes.identity import extract_claims

    qs = [Query(f"who{i}", "identity", q) for i, q in enumerate(IDENTITY_PROBE)]
    greedy = SamplingParams(max_tokens=40, temperature=0.0, top_p=1.0, top_k=0)
    s_ans = answers(student, student_id, qs, prompts, root=root, params=greedy)
    tally: Counter[str] = Counter()
    for a in s_ans.values():
        tally.update(extract_claims(a.text))
    t_claims: list[tuple[str, tuple[str, ...]]] = []
    for label, model, name, t_id in teachers:
        claims = set(extract_claims(label)) | set(extract_claims(name))
        with contextlib.suppress(TaokeError):
            for a in answers(model, t_id, qs, prompts, root=root, params=greedy).values():
                claims.update(extract_claims(a.text))
        t_claims.append((label, tuple(sorted(claims))))
    confused = tuple(label for label, c in t_claims if set(c) & set(tally))
    return IdentityCheck(tuple(tally.most_common()), tuple(t_claims), confused,
                         tuple((q.text, s_ans[q.key].text) for q in qs), queries=len(qs))


# -- result ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherEvidence:
    """The statistic of the student for one candidate teacher, its null and its p-value."""

    teacher: str
    ref: ModelRef
    statistic: str
    value: float
    probes: int
    null: NullFit
    z: float  # standardised excess over what the null expects
    p_value: float
    p_rank: float
    threshold: float  # alpha / number of candidates
    significant: bool
    references: tuple[str, ...] = ()  # labels of the reference models of the covariate
    covariate: float | None = None  # the student's reference affinity
    expected: float = float("nan")  # the statistic the null expects of this student

    def to_dict(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "model": self.ref.to_dict(), "statistic": self.statistic,
                "value": round(self.value, 5), "expected": round(self.expected, 5),
                "references": list(self.references),
                "reference_affinity": None if self.covariate is None else round(self.covariate, 5),
                "probes": self.probes, "z": round(self.z, 3), "p_value": self.p_value,
                "p_rank": round(self.p_rank, 5), "threshold": self.threshold, "significant": self.significant,
                "null": self.null.to_dict()}


@dataclass(frozen=True)
class DistillResult:
    """Everything ``taoke distill`` found, and the sentence it prints."""

    student: ModelRef
    mode: str  # white-box | black-box
    statistic: str
    evidence: tuple[TeacherEvidence, ...]
    attributed: str | None
    verdict: str  # "distilled" | "not-detected" | "inconclusive"
    sentence: str
    alpha: float
    null_matched: bool | None
    identity: IdentityCheck | None
    queries: int  # requests sent to the student (black-box), identity questions included
    tokens: int  # tokens the student generated
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "student": self.student.to_dict(), "mode": self.mode,
                "statistic": self.statistic, "verdict": self.verdict, "attributed": self.attributed,
                "sentence": self.sentence, "wording": WORDING, "alpha": self.alpha,
                "null_matched": self.null_matched, "teachers": [e.to_dict() for e in self.evidence],
                "identity": None if self.identity is None else self.identity.to_dict(),
                "queries": self.queries, "tokens": self.tokens, "seconds": round(self.seconds, 2),
                "notes": list(self.notes)}


def _fmt_p(p: float) -> str:
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def decide(evidence: Sequence[TeacherEvidence], null_matched: bool | None) -> tuple[str, str | None, str]:
    """(verdict, attributed teacher, sentence) from the per-teacher evidence."""
    sig = sorted((e for e in evidence if e.significant), key=lambda e: -e.z)
    if null_matched is False:
        return ("inconclusive", None, "inconclusive: the student is not of the kind of the null's control "
                "students, so their statistic says nothing about it (give --null models of the student's kind "
                "that did not see the teacher)")
    if sig:
        top = sig[0]
        others = "; also significant: " + ", ".join(e.teacher for e in sig[1:]) if len(sig) > 1 else ""
        return ("distilled", top.teacher,
                f"behavioural lineage: trained on {top.teacher}'s outputs (p = {_fmt_p(top.p_value)} against "
                f"{top.null.n} control students that did not see it){others} — not weight derivation")
    best = max(evidence, key=lambda e: e.z)
    return ("not-detected", None,
            f"no evidence of training on the candidates' outputs (smallest p = {_fmt_p(best.p_value)} for "
            f"{best.teacher}, threshold {best.threshold:.2g}); this is not a proof that it was not distilled")


def distill(
    student: str,
    teachers: Sequence[str],
    *,
    nulls: Sequence[str] = (),
    zoo_subset: str | None = None,
    probes: int | None = None,
    statistic: str = "auto",
    alpha: float = 0.01,
    identity: bool = True,
    root: Path | None = None,
    endpoint: EndpointOptions | None = None,
    default_model: str = "default",
    progress: Callable[[str], None] | None = None,
) -> DistillResult:
    """Test whether ``student`` was trained on the outputs of each of ``teachers`` (see the module docstring)."""
    if not teachers:
        raise UsageError("give at least one --teacher")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {alpha}")
    if statistic not in ("auto", "likelihood", "style"):
        raise UsageError(f"--statistic must be auto, likelihood or style, got {statistic!r}")
    log = progress or (lambda _s: None)
    t0 = time.perf_counter()
    prompts = build_prompt_set()
    s_ref = resolve(student, default_model=default_model, distill_root=root)
    t_refs = [resolve(t, default_model=default_model, distill_root=root) for t in teachers]
    if nulls:
        controls = [Control(r.label, r) for r in (resolve(x, distill_root=root) for x in nulls)]
        null_desc = f"{len(controls)} control models given with --null"
        sub = None
    else:
        sub, controls = zoo_controls(zoo_subset, root=root)
        null_desc = f"null-role students of the distillation zoo ({sub})"
    from taoke.zoo.distill import PLANS

    n = probes if probes is not None else (PLANS[sub].n_probe if sub else min(64, len(prompts.probe)))
    opened: list[LanguageModel] = []
    try:
        s_model = open_model(s_ref, endpoint)
        opened.append(s_model)
        stat = (LIKELIHOOD if s_model.can_score else STYLE) if statistic == "auto" else \
            (LIKELIHOOD if statistic == "likelihood" else STYLE)
        if stat == LIKELIHOOD and not s_model.can_score:
            raise UsageError("the likelihood statistic needs the student's weights",
                             hint="use --statistic style for an endpoint")
        notes: list[str] = []
        null_matched: bool | None = None
        arch = architecture(s_model)
        if not nulls:
            from taoke.zoo.distill import tiny_config

            zoo_arch = {k: tiny_config()[0][k] for k in ("hidden_size", "num_layers", "vocab_size")}
            if arch is None:
                notes.append("the student is an endpoint of unknown size; the null is made of small students "
                             f"({zoo_arch}) and may not describe it")
            else:
                null_matched = arch == zoo_arch
        s_id = identity_of(s_ref, root)
        qs = probe_queries(prompts, n)
        # the candidates, then the zoo's teachers as references (each model once, by identity)
        refs_in: list[tuple[ModelRef, bool]] = [(r, True) for r in t_refs] + [(r, False) for r in _zoo_teachers(root)]
        sources: list[Source] = []
        candidate: list[Source] = []
        teacher_models: list[tuple[str, LanguageModel, str, str]] = []
        for ref, is_candidate in refs_in:
            sid = identity_of(ref, root)
            known = next((x for x in sources if x.identity == sid), None)
            if known is None:
                log(f"{ref.label}: answers to {n} probe prompts")
                tm = _Lazy(ref, endpoint)
                opened.append(tm)
                known = Source(ref.label, sid, answers(tm, sid, qs, prompts, root=root, progress=log))
                sources.append(known)
                if is_candidate:
                    teacher_models.append((ref.label, tm, Path(ref.location).name, sid))
            if is_candidate:
                candidate.append(known)
        log(f"student {s_ref.label}: {stat}")
        mine: dict[str, float] = {}
        tokens = 0
        for src in sources:
            mine[src.identity], used, tok = student_statistic(stat, s_model, s_id, dict(src.answers), prompts, n,
                                                              root=root, progress=log)
            tokens = max(tokens, tok)
        stats_of = control_statistics(stat, controls, sources, prompts, n, root=root, progress=log)
        evidence: list[TeacherEvidence] = []
        thr = alpha / len(candidate)
        for ref, src in zip(t_refs, candidate, strict=True):
            others = [x for x in sources if x.identity != src.identity]
            fit = null_fit(src, others, controls, stats_of, null_desc + " that did not see the teacher")
            cov = float(np.mean([mine[x.identity] for x in others])) if others else None
            z, p, pr = fit.p_value(mine[src.identity], cov)
            evidence.append(TeacherEvidence(ref.label, ref, stat, mine[src.identity], used, fit, z, p, pr, thr,
                                            p < thr, tuple(x.label for x in others), cov, fit.expected(cov)))
        ident = None
        if identity:
            log("identity questions")
            ident = identity_check(s_model, s_id, teacher_models, prompts, root=root)
        verdict, top, sentence = decide(evidence, null_matched)
        queries = (n + (len(IDENTITY_PROBE) if identity else 0)) if s_ref.kind == "endpoint" else 0
        return DistillResult(s_ref, "black-box" if stat == STYLE else "white-box", stat, tuple(evidence), top,
                             verdict, sentence, alpha, null_matched, ident, queries, tokens,
                             time.perf_counter() - t0, tuple(notes))
    finally:
        for m in opened:
            with contextlib.suppress(Exception):
                m.close()
