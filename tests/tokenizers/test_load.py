"""Loading every tokenizer format of the fetched data into the canonical byte-normalised form."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from taoke.errors import TaokeError, TokenizerError
from taoke.tokenizers import TokenType, load
from taoke.tokenizers._vocab import bytelevel_to_bytes, spm_to_bytes, wordpiece_to_bytes

T = "tokenizers"


def test_normalisers_worked_examples() -> None:
    assert bytelevel_to_bytes("Ġthe") == b" the"
    assert bytelevel_to_bytes("ä¸Ń") == "中".encode()
    assert spm_to_bytes("▁the") == b" the"
    assert spm_to_bytes("<0x0A>") == b"\n"
    assert wordpiece_to_bytes("the") == b" the"
    assert wordpiece_to_bytes("##ing") == b"ing"
    assert wordpiece_to_bytes("[CLS]") == b"[CLS]"


def test_bytelevel_fast_path_matches_the_table(data_dir: Path) -> None:
    """bytelevel_to_bytes decodes through str.translate; it must give what the GPT-2 table gives character by
    character, on a real 151k vocabulary and on text outside the table (raw control bytes, U+FFFF, a lone
    surrogate, CJK), which keeps its UTF-8 bytes."""
    from taoke.tokenizers._vocab import BYTE_DECODER, utf8

    def reference(token: str) -> bytes:
        return b"".join(bytes([BYTE_DECODER[c]]) if c in BYTE_DECODER else utf8(c) for c in token)

    vocab = json.loads((data_dir / T / "qwen2_5/tokenizer.json").read_text())["model"]["vocab"]
    odd = ["a\nb", "\x00\x7f\x80\xad", "\uffff", "x\udce8", "Ġ中", "", "ÿĀ"]
    for tok in [*vocab, *odd]:
        assert bytelevel_to_bytes(tok) == reference(tok), tok
    assert bytelevel_to_bytes("\x80") == "\x80".encode()  # not in the table: UTF-8 (2 bytes), not Latin-1


def test_hf_bytelevel_qwen2_5(data_dir: Path) -> None:
    v = load(data_dir / T / "qwen2_5/tokenizer.json")
    assert v.kind == "bpe-bytelevel" and v.source_format == "hf-json"
    assert v.n_regular == 151643 and v.size == 151665
    assert len(v.specials) == 22 and v.special_map["<|im_start|>"] == 151644
    assert v.tokens[0] == b"!" and v.regular[b" the"] == 279
    assert v.chat_template is not None and "im_start" in v.chat_template
    assert len(v.merges) == 151387 and v.merges[0] == (b" ", b" ")


def test_merges_string_and_list_forms_normalise_equal(data_dir: Path) -> None:
    """R1: qwen2_5 stores merges as "a b" strings, qwen3 as ["a","b"] lists: identical after normalisation."""
    a = load(data_dir / T / "qwen2_5/tokenizer.json")
    b = load(data_dir / T / "qwen3/tokenizer.json")
    raw_a = json.loads((data_dir / T / "qwen2_5/tokenizer.json").read_bytes())["model"]["merges"][0]
    raw_b = json.loads((data_dir / T / "qwen3/tokenizer.json").read_bytes())["model"]["merges"][0]
    assert isinstance(raw_a, str) and isinstance(raw_b, list)
    assert a.merges == b.merges and len(a.merges) == 151387


def test_hf_spm_style_lenml_llama2(data_dir: Path) -> None:
    v = load(data_dir / T / "llama2/tokenizer.json")
    assert v.kind == "spm-bpe"
    assert v.regular[b" the"] == 272  # Mistral's id; real Llama-2 has 278 (R6)
    assert v.tokens[3] == b"\x00" and v.token_types[3] == TokenType.BYTE
    assert [s.text for s in v.specials] == ["<unk>", "<s>", "</s>"]


def test_sentencepiece_mistral_v1_and_v2(data_dir: Path) -> None:
    v1 = load(data_dir / T / "mistral-common/tokenizer.model.v1")
    v2 = load(data_dir / T / "mistral-common/mistral_instruct_tokenizer_240216.model.v2")
    assert v1.source_format == "sentencepiece" and v1.kind == "spm-bpe" and v1.size == 32000
    assert v1.regular[b" the"] == 272 and v2.regular[b" the"] == 1040
    assert v2.size == 32768 and v2.special_map["[INST]"] == 3


def test_tiktoken_files(data_dir: Path) -> None:
    cl = load(data_dir / T / "tiktoken/cl100k_base.tiktoken")
    assert cl.kind == "tiktoken" and cl.size == 100256 and cl.n_regular == 100256 and not cl.specials
    assert cl.tokens[0] == b"!"
    ml = load(data_dir / T / "whisper-tiktoken/multilingual.tiktoken")  # writes the empty token as "="
    assert ml.size == 50257 and ml.tokens[50256] == b"" and ml.n_regular == 50256


def test_tekken_offsets_ranks_by_special_slots(data_dir: Path) -> None:
    v = load(data_dir / T / "mistral-common/tekken_240718.json")
    assert v.source_format == "tekken"
    assert v.size == 131072  # config.default_vocab_size
    assert len(v.specials) == 1000 and v.tokens[1000] == b"\x00"  # rank 0 is id 1000
    assert v.n_regular == 130072


def test_claude_json_bpe_ranks_string(data_dir: Path) -> None:
    v = load(data_dir / T / "anthropic-claude/claude.json")
    assert v.source_format == "claude-json"
    assert v.n_regular == 64995 and v.tokens[5] == b"!"
    assert v.special_map == {"<EOT>": 0, "<META>": 1, "<META_START>": 2, "<META_END>": 3, "<SOS>": 4}


def test_vocab_txt_and_tokenizer_json_of_minilm_agree(minilm_dir: Path) -> None:
    a = load(minilm_dir / "vocab.txt")
    b = load(minilm_dir / "tokenizer.json")
    assert a.kind == b.kind == "wordpiece"
    assert a.regular == b.regular and a.n_regular == 30517


def test_model_folder_and_weights_file(minilm_dir: Path) -> None:
    folder = load(minilm_dir)
    assert folder.kind == "wordpiece" and folder.n_regular == 30517
    assert folder.name == "all-minilm-l6-v2"


def test_gguf_embedded_vocabulary(smollm2_gguf: Path) -> None:
    v = load(smollm2_gguf)
    assert v.source_format == "gguf" and v.kind == "bpe-bytelevel"
    assert v.size == 49152 and len(v.merges) == 48900
    assert v.meta["gguf_pre"] == "smollm"
    assert v.chat_template is not None and "im_start" in v.chat_template


def test_checkpoint_object(smollm2_gguf: Path) -> None:
    from taoke.io import open_checkpoint

    with open_checkpoint(smollm2_gguf) as ck:
        v = load(ck)
    assert v.size == 49152


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"hello": 1}', b"\x00\x01\x02garbage" * 10, b"IQ== 0\n" * 10 + b"not-base64!! 1\n",
     b"some text\nlines\n"],
    ids=["empty", "bad-json", "unknown-json", "binary", "bad-tiktoken", "text-not-named-vocab"],
)
def test_bad_input_is_one_line_tokenizer_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "tok.bin"
    p.write_bytes(content)
    with pytest.raises(TaokeError) as ei:
        load(p)
    assert "\n" not in str(ei.value)


def test_truncated_tokenizer_json(tmp_path: Path, data_dir: Path) -> None:
    raw = (data_dir / T / "qwen2_5/tokenizer.json").read_bytes()
    p = tmp_path / "tokenizer.json"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(TokenizerError, match="malformed JSON"):
        load(p)


def test_truncated_gguf_header(tmp_path: Path, smollm2_gguf: Path) -> None:
    with open(smollm2_gguf, "rb") as f:
        head = f.read(300_000)  # cuts the token array
    p = tmp_path / "cut.gguf"
    p.write_bytes(head)
    with pytest.raises(TaokeError):
        load(p)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no such file"):
        load(tmp_path / "nope.json")
    with pytest.raises(TaokeError):
        load(tmp_path)


def test_folder_of_tokenizer_files_without_weights(tmp_path: Path, data_dir: Path) -> None:
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(data_dir / T / "qwen3" / f, tmp_path / f)
    v = load(tmp_path)
    assert v.n_regular == 151643 and "<think>" in v.special_map and v.chat_template


def test_gzip_is_not_mistaken_for_a_tokenizer(tmp_path: Path) -> None:
    p = tmp_path / "x.json.gz"
    p.write_bytes(gzip.compress(b'{"model": {}}'))
    with pytest.raises(TaokeError):
        load(p)
