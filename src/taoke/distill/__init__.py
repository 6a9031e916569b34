"""Data distillation: evidence that a model was trained on another model's outputs ("GPT flavour").

Behavioural lineage, not weight derivation: a student trained on a teacher's answers shares no weights with it
(``taoke compare`` rightly says independent/unrelated), but it has learnt the teacher's distribution. taoke
measures that with the student's likelihood of fresh teacher answers (white-box) or the teacher-likeness of the
student's own answers (black-box), against a measured null of control students that did not see the teacher.
See :mod:`taoke.distill._distill` for the flow and :mod:`taoke.distill._stats` for the statistics.
"""

from taoke.distill._backends import (
    CHATML_TEMPLATE,
    EndpointModel,
    LanguageModel,
    LlamaCppModel,
    Query,
    Sample,
    SamplingParams,
    TorchLlamaModel,
)
from taoke.distill._distill import (
    WORDING,
    Control,
    DistillResult,
    EndpointOptions,
    IdentityCheck,
    ModelRef,
    Source,
    TeacherEvidence,
    answers,
    control_statistics,
    distill,
    identity_of,
    null_fit,
    open_model,
    probe_queries,
    resolve,
    student_statistic,
    zoo_controls,
)
from taoke.distill._prompts import (
    CHAT_INSTRUCTION,
    IDENTITY_PROBE,
    IDENTITY_TRAIN,
    Passage,
    PromptSet,
    build_prompt_set,
    record_seed,
)
from taoke.distill._stats import LIKELIHOOD, STYLE, NullFit, likelihood_gap, style_llr

__all__ = [
    "CHATML_TEMPLATE",
    "CHAT_INSTRUCTION",
    "IDENTITY_PROBE",
    "IDENTITY_TRAIN",
    "LIKELIHOOD",
    "STYLE",
    "WORDING",
    "Control",
    "DistillResult",
    "EndpointModel",
    "EndpointOptions",
    "IdentityCheck",
    "LanguageModel",
    "LlamaCppModel",
    "ModelRef",
    "Source",
    "NullFit",
    "Passage",
    "PromptSet",
    "Query",
    "Sample",
    "SamplingParams",
    "TeacherEvidence",
    "TorchLlamaModel",
    "answers",
    "build_prompt_set",
    "control_statistics",
    "distill",
    "identity_of",
    "likelihood_gap",
    "null_fit",
    "open_model",
    "probe_queries",
    "record_seed",
    "resolve",
    "student_statistic",
    "style_llr",
    "zoo_controls",
]
